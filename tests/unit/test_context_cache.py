"""The context cache: facts of a pristine checkout stored by repository and commit, reused by
the next task, recomputed only for files whose content changed."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from jobs.agent.context_builder import Snapshot, build_context
from jobs.agent.context_cache import ContextCache, load
from jobs.agent.repomap import decode_symbols
from shared.errors import InvalidInput

REPO = "example/shop"
C1, C2 = "1" * 40, "2" * 40


def words(text: str) -> int:
    return len(text.split())


def make_repo(root: Path) -> Path:
    repo = root / "repo"
    (repo / "shop").mkdir(parents=True)
    (repo / "shop" / "payment.py").write_text("def charge(cents):\n    return cents\n")
    (repo / "shop" / "refund.py").write_text(
        "from shop.payment import charge\n\ndef refund(cents):\n    return charge(-cents)\n"
    )
    (repo / "README.md").write_text("# Shop\n")
    return repo


def test_a_second_task_on_the_same_commit_computes_nothing(tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    cache = ContextCache(tmp_path / "cache")
    cold = cache.refresh(REPO, C1, repo)
    assert cold.computed == 3
    warm = cache.refresh(REPO, C1, repo)
    assert warm.computed == 0 and warm.texts == cold.texts
    stored = cache.get(REPO, C1)
    assert stored is not None and stored.commit == C1
    assert set(stored.files) == {"README.md", "shop/payment.py", "shop/refund.py"}
    assert load(repo, C1, stored).computed == 0
    refund = load(repo, C1, stored).facts[stored.files["shop/refund.py"]]
    assert [s.name for s in decode_symbols(refund.symbols)] == ["refund"]
    assert refund.imports == ("shop.payment", "shop.payment.charge")


def test_a_new_commit_recomputes_only_the_files_that_changed(tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    cache = ContextCache(tmp_path / "cache")
    cache.refresh(REPO, C1, repo)
    (repo / "shop" / "payment.py").write_text("def charge(cents, currency):\n    return cents\n")
    (repo / "shop" / "tax.py").write_text("def vat(cents):\n    return cents // 5\n")
    assert cache.get(REPO, C2) is not None  # the newest commit seen stands in for an unknown one
    second = cache.refresh(REPO, C2, repo)
    assert second.computed == 2
    snapshot = Snapshot.load(repo, C2, cache.get(REPO, C2))
    assert snapshot.index.rank("vat")[0][0] == "shop/tax.py"
    # another repository never shares entries, even at the same commit
    assert cache.get("example/other", C1) is None


def test_a_moved_file_keeps_its_facts_and_is_indexed_under_its_new_path(tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    cache = ContextCache(tmp_path / "cache")
    cache.refresh(REPO, C1, repo)
    (repo / "billing").mkdir()
    os.rename(repo / "shop" / "refund.py", repo / "billing" / "refund.py")
    moved = cache.refresh(REPO, C2, repo)
    assert moved.computed == 0  # the same bytes: their facts are known by content
    snapshot = Snapshot.load(repo, C2, cache.get(REPO, C2))
    assert snapshot.index.rank("refund cents")[0][0] == "billing/refund.py"
    assert snapshot.index.definers("refund") == ["billing/refund.py"]


def test_files_changed_after_the_refresh_are_read_afresh_and_not_written(tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    cache = ContextCache(tmp_path / "cache")
    cache.refresh(REPO, C1, repo)
    stored = tmp_path / "cache"
    before = {p: p.read_bytes() for p in stored.rglob("*.json")}
    (repo / "shop" / "payment.py").write_text("def settle_invoice():\n    pass\n")
    snapshot = Snapshot.load(repo, C1, cache.get(REPO, C1))
    assert snapshot.index.rank("settle_invoice")[0][0] == "shop/payment.py"
    assert {p: p.read_bytes() for p in stored.rglob("*.json")} == before


def test_context_built_from_the_cache_matches_a_cold_build(tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    cache = ContextCache(tmp_path / "cache")
    cache.refresh(REPO, C1, repo)
    cold = build_context(repo, C1, "refund a charge", None, 400, words)
    warm = build_context(repo, C1, "refund a charge", cache.get(REPO, C1), 400, words)
    assert warm == cold and "### shop/refund.py (whole file)" in warm


def test_a_broken_entry_reads_as_missing_and_old_commits_are_pruned(tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    cache = ContextCache(tmp_path / "cache")
    cache.refresh(REPO, C1, repo)
    (entry,) = (tmp_path / "cache").rglob("*.json")
    entry.write_text("{not json")
    assert cache.get(REPO, C1) is None
    assert cache.refresh(REPO, C1, repo).computed == 3
    for n in range(6):
        commit = f"{n:x}" * 40
        cache.refresh(REPO, commit, repo)
        os.utime(cache._file(REPO, commit), (n + 10.0, n + 10.0))
    assert len(list((tmp_path / "cache").rglob("*.json"))) <= 5


def test_a_commit_that_is_not_an_object_id_is_refused(tmp_path: Path) -> None:
    cache = ContextCache(tmp_path / "cache")
    with pytest.raises(InvalidInput, match="hexadecimal"):
        cache.get(REPO, "../../etc")
