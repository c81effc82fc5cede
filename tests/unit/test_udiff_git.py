"""Patch application held against real `git apply` on a corpus of real and hostile diffs (see
patch_corpus): without fuzz, the same decision and the same bytes as git on every case; with
fuzz (model-written patches), git's bytes whenever git applies, and git's refusal whenever the
patch is wrong at a file's edges."""

from __future__ import annotations

import random
from dataclasses import dataclass

import pytest

from jobs.agent import git_apply
from jobs.agent.udiff import PatchError, apply_patch
from tests.unit.patch_corpus import Case, Tree, hostile_cases, real_diff_cases
from tests.unit.patch_corpus import git_apply as real_git_apply

# Git applies literal and delta binary patches; the agent's file tools handle text only.
KNOWN_DIFFERENT = {"blob.bin --binary on its base"}
# Wrong at the file's start or end, or about files that are not there: fuzz must refuse them too.
FUZZ_REFUSES = {
    "trailing context past the end",
    "leading context before the start",
    "new-file hunk over an existing file",
    "/dev/null over an existing file",
    "/dev/null over an empty file",
    "deletion that leaves lines",
    "patch of a missing file",
    "deletion of a missing file",
    "rename onto an existing file",
    "binary without data",
}


@dataclass(frozen=True)
class Judged:
    case: Case
    git: Tree | None  # git apply's tree, None: refused
    git_zero: Tree | None  # git apply --unidiff-zero's, for patches whose hunks have no context


def ours(case: Case, fuzz: bool) -> Tree | None:
    try:
        files = {path: data.decode() for path, data in case.tree.items()}
        changes = apply_patch(files, case.patch.decode(), fuzz=fuzz)
    except PatchError:
        return None
    tree = dict(case.tree)
    for path, content in changes.items():
        if content is None:
            tree.pop(path, None)
        else:
            tree[path] = content.encode()
    return tree


def bare(case: Case) -> bool:
    try:
        hunks = [h for p in git_apply.parse(case.patch.decode()) for h in p.hunks]
    except PatchError:
        return False
    return bool(hunks) and all(h.bare for h in hunks)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> list[Judged]:
    root = tmp_path_factory.mktemp("corpus")
    cases = real_diff_cases(random.Random(20261202), root / "made", files=20) + hostile_cases()
    judged = []
    for n, case in enumerate(cases):
        zero = real_git_apply(case, root / f"z{n}", "--unidiff-zero") if bare(case) else None
        judged.append(Judged(case, real_git_apply(case, root / f"c{n}"), zero))
    return judged


def test_corpus_covers_what_it_claims(corpus: list[Judged]) -> None:
    names = " | ".join(j.case.name for j in corpus)
    for kind in ("-U0", "-U3", "on shifted", "on edited", "on spaced", "on cut", "on done"):
        assert kind in names
    applied = sum(j.git is not None for j in corpus)
    assert 0.25 < applied / len(corpus) < 0.75  # both decisions, in numbers
    assert any(b"\r\n" in j.case.patch and j.git is not None for j in corpus)
    assert any(b"rename from" in j.case.patch for j in corpus)
    assert any(b"deleted file mode" in j.case.patch for j in corpus)
    assert any(b"No newline at end of file" in j.case.patch for j in corpus)


def test_without_fuzz_every_decision_and_every_byte_is_gits(
    corpus: list[Judged], capsys: pytest.CaptureFixture[str]
) -> None:
    disagree = [j.case.name for j in corpus if ours(j.case, fuzz=False) != j.git]
    with capsys.disabled():
        print(
            f"\nudiff without fuzz vs git apply: {len(corpus) - len(disagree)}/{len(corpus)} agree"
        )
    assert set(disagree) == KNOWN_DIFFERENT


def test_with_fuzz_what_git_applies_gives_gits_bytes(
    corpus: list[Judged], capsys: pytest.CaptureFixture[str]
) -> None:
    accepted = refused = kept = 0
    wrong = []
    for j in corpus:
        if j.case.name in KNOWN_DIFFERENT:
            continue
        reference = j.git_zero if bare(j.case) else j.git
        result = ours(j.case, fuzz=True)
        if j.case.name in FUZZ_REFUSES:
            assert j.git is None  # git refuses them (--unidiff-zero may not)
            refused += 1
            kept += result is None
            if result is not None:
                wrong.append(j.case.name)
        elif reference is not None:
            accepted += 1
            if result != reference:
                wrong.append(j.case.name)
        else:
            refused += 1
            kept += result is None
    with capsys.disabled():
        print(
            f"\nudiff with fuzz: git's bytes on {accepted - len(wrong)}/{accepted} patches git "
            f"applies; refuses {kept}/{refused} that git refuses (the rest: whitespace, "
            "offset, count or mid-file context drift)"
        )
    assert wrong == []
