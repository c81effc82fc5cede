"""The environment cache on real directories and real GNU tar: keys, round trips, damaged
entries, symlinks planted by untrusted installs, size limits, concurrent saves, eviction."""

from __future__ import annotations

import hashlib
import os
import stat
import sys
import threading
from pathlib import Path

import pytest

from shared.envcache import (
    ARCHIVE,
    FORMAT_VERSION,
    MANIFEST,
    EnvCache,
    EnvCacheError,
    Manifest,
    cache_key,
)
from shared.errors import InvalidInput

FILES = {"requirements.txt": "requests==2.32.3\n", "pyproject.toml": "[project]\nname='x'\n"}
INSTALL = ["python3 -m venv /workspace/env/venv", "pip install -r requirements.txt"]
IMAGE = "python 3.11.7; node v20.20.2; x86_64"
KEY = cache_key("acme/shop", FILES, INSTALL, IMAGE)
OTHER_KEY = cache_key("acme/other", FILES, INSTALL, IMAGE)


def make_workspace(root: Path, secret_file: Path | None = None) -> Path:
    """A workspace as an install leaves it: a venv-like tree with an absolute interpreter link,
    relative links, an executable, a setuid file, a hard link, and node_modules."""
    ws = root
    venv = ws / "env" / "venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "lib" / "site-packages" / "tiny").mkdir(parents=True)
    (venv / "lib" / "site-packages" / "tiny" / "__init__.py").write_text("VALUE = 42\n")
    os.symlink(sys.executable, venv / "bin" / "python")
    os.symlink("python", venv / "bin" / "python3")
    tool = venv / "bin" / "tool"
    tool.write_text("#!/bin/sh\necho tool\n")
    tool.chmod(0o755)
    suid = venv / "bin" / "suid"
    suid.write_text("x")
    suid.chmod(0o4755)
    os.link(venv / "lib" / "site-packages" / "tiny" / "__init__.py", venv / "hardlinked.py")
    (venv / "pyvenv.cfg").write_text("home = /usr/bin\n")
    if secret_file is not None:
        os.symlink(secret_file, venv / "leak")
    modules = ws / "repo" / "node_modules"
    (modules / "dep").mkdir(parents=True)
    (modules / "dep" / "index.js").write_text("module.exports = 1;\n")
    (modules / ".bin").mkdir()
    os.symlink("../dep/index.js", modules / ".bin" / "dep")
    return ws


def fresh_workspace(root: Path) -> Path:
    """What restore finds: a freshly cloned repository and nothing else."""
    (root / "repo").mkdir(parents=True)
    (root / "repo" / "README.md").write_text("hello\n")
    return root


def snapshot(root: Path) -> dict[str, tuple[str, int, str]]:
    """Every path under root: (kind, permission bits, content or link target)."""
    found = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            st = path.lstat()
            rel = str(path.relative_to(root))
            if stat.S_ISLNK(st.st_mode):
                found[rel] = ("link", 0, os.readlink(path))
            elif stat.S_ISDIR(st.st_mode):
                found[rel] = ("dir", stat.S_IMODE(st.st_mode), "")
            else:
                found[rel] = ("file", stat.S_IMODE(st.st_mode), path.read_text())
    return found


@pytest.fixture
def cache(tmp_path: Path) -> EnvCache:
    return EnvCache(tmp_path / "cache")


def test_key_is_stable_and_changes_with_every_input() -> None:
    reordered = dict(reversed(list(FILES.items())))
    assert cache_key("acme/shop", reordered, INSTALL, IMAGE) == KEY
    assert len(KEY) == 64 and int(KEY, 16) >= 0
    changed = {
        cache_key("acme/shop", {**FILES, "requirements.txt": "requests==2.32.4\n"}, INSTALL, IMAGE),
        cache_key("acme/shop", {**FILES, "package-lock.json": "{}"}, INSTALL, IMAGE),
        cache_key("acme/shop", FILES, [*INSTALL, "npm ci"], IMAGE),
        cache_key("acme/shop", FILES, list(reversed(INSTALL)), IMAGE),
        cache_key("acme/shop", FILES, INSTALL, IMAGE.replace("v20.20.2", "v22.1.0")),
        OTHER_KEY,
    }
    assert KEY not in changed and len(changed) == 6


def test_round_trip_restores_the_tree_and_drops_setuid(tmp_path: Path, cache: EnvCache) -> None:
    source = make_workspace(tmp_path / "one")
    cache.save(KEY, source)
    target = fresh_workspace(tmp_path / "two")

    assert cache.restore(KEY, target) is True

    before, after = snapshot(source / "env"), snapshot(target / "env")
    assert after.pop("venv/bin/suid") == ("file", 0o755, "x")  # setuid bit dropped
    before.pop("venv/bin/suid")
    assert after == before
    assert snapshot(target / "repo" / "node_modules") == snapshot(source / "repo" / "node_modules")
    assert os.readlink(target / "env/venv/bin/python") == sys.executable
    restored = target / "env" / "venv"
    assert (restored / "hardlinked.py").stat().st_ino == (
        restored / "lib/site-packages/tiny/__init__.py"
    ).stat().st_ino
    assert (target / "repo" / "README.md").read_text() == "hello\n"  # the clone is untouched
    assert sorted(os.listdir(target)) == ["env", "repo"]  # no extraction leftovers


def test_manifest_records_checksum_size_and_count(tmp_path: Path, cache: EnvCache) -> None:
    ws = make_workspace(tmp_path / "one")
    cache.save(KEY, ws)
    manifest = Manifest.model_validate_json((cache.root / KEY / MANIFEST).read_bytes())
    archive = (cache.root / KEY / ARCHIVE).read_bytes()
    paths = 2 + len(snapshot(ws / "env")) + len(snapshot(ws / "repo" / "node_modules"))
    assert manifest.format == FORMAT_VERSION and manifest.key == KEY
    assert manifest.sha256 == hashlib.sha256(archive).hexdigest()
    assert (manifest.size, manifest.files) == (len(archive), paths)
    assert manifest.paths == ["env", "node_modules"]


def test_a_miss_changes_nothing(tmp_path: Path, cache: EnvCache) -> None:
    cache.save(KEY, make_workspace(tmp_path / "one"))
    target = fresh_workspace(tmp_path / "two")
    assert cache.restore(OTHER_KEY, target) is False
    assert sorted(os.listdir(target)) == ["repo"]


def _flip_a_byte(entry: Path) -> None:
    with (entry / ARCHIVE).open("r+b") as archive:
        archive.seek(700)
        byte = archive.read(1)
        archive.seek(700)
        archive.write(bytes([byte[0] ^ 0xFF]))


def _damage(entry: Path, how: str) -> None:
    if how == "flipped byte":
        _flip_a_byte(entry)
    elif how == "truncated":
        os.truncate(entry / ARCHIVE, 5000)
    elif how == "no manifest":
        (entry / MANIFEST).unlink()
    elif how == "no archive":
        (entry / ARCHIVE).unlink()
    elif how == "garbage manifest":
        (entry / MANIFEST).write_text("{not json")
    elif how == "older format":
        text = (entry / MANIFEST).read_text()
        (entry / MANIFEST).write_text(text.replace(f'"format":{FORMAT_VERSION}', '"format":0'))


@pytest.mark.parametrize(
    "how",
    ["flipped byte", "truncated", "no manifest", "no archive", "garbage manifest", "older format"],
)
def test_a_damaged_entry_is_refused_deleted_and_rebuilt(
    tmp_path: Path, cache: EnvCache, how: str
) -> None:
    source = make_workspace(tmp_path / "one")
    cache.save(KEY, source)
    _damage(cache.root / KEY, how)
    target = fresh_workspace(tmp_path / "two")

    assert cache.restore(KEY, target) is False

    assert not (cache.root / KEY).exists()
    assert sorted(os.listdir(target)) == ["repo"]  # nothing half-restored, no leftovers
    cache.save(KEY, source)  # the caller installs again and saves
    assert cache.restore(KEY, target) is True
    assert (target / "env/venv/lib/site-packages/tiny/__init__.py").read_text() == "VALUE = 42\n"


def test_restore_replaces_planted_symlinks_instead_of_writing_through_them(
    tmp_path: Path, cache: EnvCache
) -> None:
    cache.save(KEY, make_workspace(tmp_path / "one"))
    outside_env, outside_modules = tmp_path / "host-env", tmp_path / "host-modules"
    outside_env.mkdir()
    outside_modules.mkdir()
    (outside_env / "keep").write_text("host file")
    target = fresh_workspace(tmp_path / "two")
    os.symlink(outside_env, target / "env")  # as a repository or an install could plant them
    os.symlink(outside_modules, target / "repo" / "node_modules")

    assert cache.restore(KEY, target) is True

    assert os.listdir(outside_env) == ["keep"] and os.listdir(outside_modules) == []
    assert not (target / "env").is_symlink() and (target / "env" / "venv").is_dir()
    assert not (target / "repo" / "node_modules").is_symlink()


def test_restore_replaces_a_stale_tree(tmp_path: Path, cache: EnvCache) -> None:
    cache.save(KEY, make_workspace(tmp_path / "one"))
    target = fresh_workspace(tmp_path / "two")
    (target / "env" / "stale").mkdir(parents=True)
    (target / "repo" / "node_modules" / "old").mkdir(parents=True)

    assert cache.restore(KEY, target) is True
    assert sorted(os.listdir(target / "env")) == ["venv"]
    assert sorted(os.listdir(target / "repo" / "node_modules")) == [".bin", "dep"]


def test_save_archives_symlinks_as_links_never_their_targets(
    tmp_path: Path, cache: EnvCache
) -> None:
    secret = tmp_path / "controller-secret"
    secret.write_text("CANARY-7f3a9c")
    cache.save(KEY, make_workspace(tmp_path / "one", secret_file=secret))
    assert b"CANARY-7f3a9c" not in (cache.root / KEY / ARCHIVE).read_bytes()
    target = fresh_workspace(tmp_path / "two")
    assert cache.restore(KEY, target) is True
    assert os.readlink(target / "env/venv/leak") == str(secret)


@pytest.mark.parametrize("planted", ["env", "repo", "repo/node_modules"])
def test_save_refuses_a_symlinked_directory(tmp_path: Path, cache: EnvCache, planted: str) -> None:
    outside = tmp_path / "outside"
    (outside / "node_modules" / "stolen").mkdir(parents=True)
    ws = tmp_path / "ws"
    (ws / "repo").mkdir(parents=True)
    if planted == "repo":
        (ws / "repo").rmdir()
    os.symlink(outside, ws / planted)

    with pytest.raises(EnvCacheError, match="is not a real directory"):
        cache.save(KEY, ws)
    assert os.listdir(cache.root) == []


def test_an_install_that_left_nothing_is_still_cached(tmp_path: Path, cache: EnvCache) -> None:
    cache.save(KEY, fresh_workspace(tmp_path / "one"))
    target = fresh_workspace(tmp_path / "two")
    assert cache.restore(KEY, target) is True
    assert sorted(os.listdir(target)) == ["repo"]


def test_size_limit_refuses_with_a_clear_error(tmp_path: Path) -> None:
    small = EnvCache(tmp_path / "cache", max_entry_bytes=64 * 1024)
    ws = make_workspace(tmp_path / "one")
    (ws / "env" / "venv" / "big.bin").write_bytes(os.urandom(256 * 1024))

    with pytest.raises(EnvCacheError, match=r"larger than the cache's limit of 0 MB.*not cached"):
        small.save(KEY, ws)
    assert os.listdir(small.root) == []  # no entry, no temporary directory


def test_concurrent_saves_of_one_key_leave_one_good_entry(tmp_path: Path, cache: EnvCache) -> None:
    source = make_workspace(tmp_path / "one")
    errors: list[BaseException] = []

    def save() -> None:
        try:
            cache.save(KEY, source)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=save) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert os.listdir(cache.root) == [KEY]
    target = fresh_workspace(tmp_path / "two")
    assert cache.restore(KEY, target) is True


def test_prune_evicts_the_least_recently_restored(tmp_path: Path) -> None:
    source = make_workspace(tmp_path / "one")
    keys = [cache_key(f"acme/{n}", FILES, INSTALL, IMAGE) for n in range(3)]
    probe = EnvCache(tmp_path / "probe")
    probe.save(keys[0], source)
    entry_size = (probe.root / keys[0] / ARCHIVE).stat().st_size
    cache = EnvCache(tmp_path / "cache", max_total_bytes=2 * entry_size)
    cache.save(keys[0], source)
    cache.save(keys[1], source)
    os.utime(cache.root / keys[0] / MANIFEST, (1, 1))
    os.utime(cache.root / keys[1] / MANIFEST, (2, 2))
    assert cache.restore(keys[0], fresh_workspace(tmp_path / "two")) is True  # now the newest

    cache.save(keys[2], source)

    assert sorted(os.listdir(cache.root)) == sorted([keys[0], keys[2]])


def test_keys_that_are_not_cache_keys_are_refused(tmp_path: Path, cache: EnvCache) -> None:
    for bad in ("../../etc", "", KEY.upper(), KEY + "0"):
        with pytest.raises(InvalidInput, match="use cache_key"):
            cache.restore(bad, tmp_path)
