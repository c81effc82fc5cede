"""Dependency environments snapshotted after prepare's install and restored by later tasks on the
same repository, so that they skip the install.

What is cached: `<workspace>/env` (the sandbox's /workspace/env, which holds the venv) and
`<workspace>/repo/node_modules`, whichever exist. An entry is a directory `<root>/<key>/` with
`env.tar`, an uncompressed GNU tar archive, and `manifest.json` (format version, key, the
archive's sha256 and size, the number of archived paths). Uncompressed because restoring speed
is the point: for a 280 MB, 16k-file venv GNU tar extracts in ~0.6 s, zstd-piped in ~1.5 s,
Python's tarfile in ~8 s; disk is cheaper than waiting. Copying the tree with hard links would
be faster still, but would let one task's commands modify the files the next task restores.

Safety. The cached files were written by a repository's install scripts: untrusted code.
- An entry is only restored into a task of the same repository (the key includes the repository
  identity), and only into that task's workspace, which the sandbox confines.
- Saving never follows a symlink: `env`, `repo` and `node_modules` are opened with O_NOFOLLOW
  and tar gets the opened directories (`/proc/self/fd/N`), never a path the workspace could
  redirect; tar archives symlinks as symlinks. Setuid/setgid bits are dropped and owners zeroed.
- Restoring extracts into a new empty directory inside the workspace and then renames the
  results into place through O_NOFOLLOW directory descriptors, replacing (never writing through)
  whatever the repository put at `env` or `repo/node_modules`. Absolute symlink targets are kept:
  a venv's `bin/python -> /usr/bin/python3` is one; inside the sandbox they resolve there.
- tar runs with a cleared environment (TAR_OPTIONS cannot inject options).

Integrity and concurrency. Restore streams the archive through sha256 into tar and compares
digest, size and path count with the manifest; an entry that is partial, corrupt or from another
format version is deleted and restore returns False (the caller installs and saves again).
Writes go to a temporary directory renamed into place, so two tasks saving the same key at once
both succeed and one entry survives; readers keep reading a deleted entry's open archive.
"""

from __future__ import annotations

import errno
import hashlib
import json
import logging
import os
import platform
import re
import secrets
import shutil
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager, suppress
from pathlib import Path
from typing import BinaryIO

from pydantic import ValidationError

from shared import testsuite
from shared.domain import Model
from shared.errors import ErrandError, InvalidInput

FORMAT_VERSION = 1
# Files whose contents decide what an install produces; read the ones that exist at the
# repository root and pass them to cache_key.
KEY_FILES = (
    *testsuite.REQUIREMENTS,
    *("constraints.txt", "pyproject.toml", "setup.cfg", "setup.py", "Pipfile", "Pipfile.lock"),
    *("poetry.lock", "pdm.lock", "uv.lock", ".python-version"),
    *("package.json", "package-lock.json", "npm-shrinkwrap.json", "yarn.lock", "pnpm-lock.yaml"),
    *(".npmrc", ".nvmrc"),
)
ARCHIVE = "env.tar"
MANIFEST = "manifest.json"
_KEY = re.compile(r"^[0-9a-f]{64}$")
_TOOL_ENV = {"PATH": "/usr/bin:/bin", "LC_ALL": "C"}
_SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_STALE_TMP_S = 3600.0  # a save that crashed leaves its temporary directory behind
_CHUNK = 1 << 20
log = logging.getLogger(__name__)


class EnvCacheError(ErrandError):
    code = "envcache_error"


class Manifest(Model):
    format: int
    key: str
    sha256: str
    size: int
    files: int
    paths: list[str]
    created: float


def cache_key(
    repo: str, files: Mapping[str, str], install: Sequence[str], image_version: str
) -> str:
    """The entry name for an environment: sha256 over the cache format, the repository identity,
    the install inputs (`files`: contents of the KEY_FILES that exist, by path; exactly these are
    hashed), the install commands in order, and `image_version` (see runtime_version)."""
    document = {
        "format": FORMAT_VERSION,
        "repo": repo,
        "files": sorted(
            [name, hashlib.sha256(text.encode()).hexdigest()] for name, text in files.items()
        ),
        "install": list(install),
        "image": image_version,
    }
    canonical = json.dumps(document, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def runtime_version() -> str:
    """What the sandbox's interpreters are, as seen from this (trusted) side: the sandbox binds
    this Python's prefix and the host's /usr, so these are the versions installs run with."""
    node = shutil.which("node", path=_SYSTEM_PATH)
    node_version = "none"
    if node is not None:
        done = subprocess.run(
            [node, "--version"], capture_output=True, text=True, env=_TOOL_ENV, timeout=30
        )
        node_version = done.stdout.strip() or f"unknown (exit {done.returncode})"
    python = f"{platform.python_version()} at {sys.base_prefix}"
    return f"python {python}; node {node_version}; {platform.machine()}"


class EnvCache:
    """Entries under `root` (a trusted directory the sandbox never sees). Safe to share between
    threads and processes. Entries larger than `max_entry_bytes` are refused; after each save,
    the least recently restored entries are evicted until all fit in `max_total_bytes`."""

    def __init__(
        self, root: Path, *, max_entry_bytes: int = 4 << 30, max_total_bytes: int = 20 << 30
    ) -> None:
        self.root = root
        self.max_entry_bytes = max_entry_bytes
        self.max_total_bytes = max_total_bytes
        tar = shutil.which("tar", path=_SYSTEM_PATH)
        if tar is None:
            raise EnvCacheError("GNU tar is not installed; install it (`apt-get install tar`)")
        self._tar = tar

    def restore(self, key: str, workspace: Path) -> bool:
        """Puts the entry's `env` and `node_modules` into `workspace` (replacing what is there).
        False on a miss, and when the entry is unusable (then it is deleted) or could not be
        extracted; the caller then installs as if there were no cache. Raises EnvCacheError
        when `workspace` (or, for node_modules, `workspace/repo`) is not a real directory."""
        entry = self.root / _checked(key)
        try:
            manifest = Manifest.model_validate_json((entry / MANIFEST).read_bytes())
            archive = open(entry / ARCHIVE, "rb")  # noqa: SIM115 - closed below
        except FileNotFoundError:
            if entry.is_dir():
                self._discard(entry, "it is incomplete")
            return False
        except (OSError, ValidationError) as exc:
            self._discard(entry, f"its manifest is unreadable ({exc.__class__.__name__})")
            return False
        with archive:
            if manifest.format != FORMAT_VERSION or manifest.key != key:
                self._discard(
                    entry, f"it was written in format {manifest.format} or for another key"
                )
                return False
            if os.fstat(archive.fileno()).st_size != manifest.size:
                self._discard(entry, "its archive has the wrong size")
                return False
            with _open_dir(workspace) as ws:
                restored = self._extract_into(ws, archive, manifest, entry)
        if restored:
            with suppress(FileNotFoundError):
                os.utime(entry / MANIFEST)  # recency, for eviction
        return restored

    def save(self, key: str, workspace: Path) -> None:
        """Snapshots `workspace`'s env and repo/node_modules as the entry `key` (a no-op when an
        entry already exists). Raises EnvCacheError when they are not real directories or the
        archive would exceed max_entry_bytes; nothing is stored then."""
        final = self.root / _checked(key)
        if (final / MANIFEST).is_file():
            return
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=self.root))
        try:
            with _open_dir(workspace) as ws, _sources(ws) as sources:
                manifest = self._archive(key, sources, tmp)
            (tmp / MANIFEST).write_text(manifest.model_dump_json())
            try:
                os.rename(tmp, final)
            except OSError as exc:  # another task saved the same key first: keep theirs
                if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST):
                    raise
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        self.prune(keep=key)

    def prune(self, keep: str = "") -> list[str]:
        """Evicts least recently used entries beyond max_total_bytes (never `keep`) and leftovers
        of crashed saves; returns the evicted keys."""
        entries: list[tuple[float, int, Path]] = []
        for path in self.root.iterdir() if self.root.is_dir() else ():
            try:
                if _KEY.match(path.name):
                    used = (path / MANIFEST).stat().st_mtime
                    entries.append((used, (path / ARCHIVE).stat().st_size, path))
                elif time.time() - path.stat().st_mtime > _STALE_TMP_S:
                    shutil.rmtree(path, ignore_errors=True)
            except FileNotFoundError:
                continue  # a partial entry (restore deletes it) or one just evicted
        total = sum(size for _, size, _ in entries)
        evicted = []
        for _, size, path in sorted(entries):
            if total <= self.max_total_bytes:
                break
            if path.name != keep:
                self._discard(path, "the cache is over its size limit", warn=False)
                total -= size
                evicted.append(path.name)
        return evicted

    def _archive(self, key: str, sources: list[tuple[int, str]], tmp: Path) -> Manifest:
        args = ["-c", "-f", "-", "--format=posix", "--numeric-owner", "--owner=0", "--group=0"]
        args.append("--mode=ug-s")
        for fd, name in sources:
            args += ["-C", f"/proc/self/fd/{fd}", name]
        if not sources:
            args += ["-T", "/dev/null"]  # an install that left nothing to cache: still a hit
        digest, size = hashlib.sha256(), 0
        with _Tar(self._tar, args, [fd for fd, _ in sources], stdout=subprocess.PIPE) as tar:
            assert tar.proc.stdout is not None
            with (tmp / ARCHIVE).open("wb") as out:
                while chunk := tar.proc.stdout.read(_CHUNK):
                    size += len(chunk)
                    if size > self.max_entry_bytes:
                        tar.proc.kill()
                        raise EnvCacheError(
                            f"the dependency environment is larger than the cache's limit of "
                            f"{self.max_entry_bytes >> 20} MB, so it was not cached; the next "
                            "task installs again (raise the limit to cache it)"
                        )
                    digest.update(chunk)
                    out.write(chunk)
        if tar.proc.returncode != 0:
            raise EnvCacheError(f"could not archive the dependency environment: {tar.errors}")
        paths = [name for _, name in sources]
        return Manifest(
            format=FORMAT_VERSION, key=key, sha256=digest.hexdigest(), size=size,
            files=tar.count, paths=paths, created=time.time(),
        )  # fmt: skip

    def _extract_into(self, ws: int, archive: BinaryIO, manifest: Manifest, entry: Path) -> bool:
        name = f".envcache-{secrets.token_hex(6)}"
        os.mkdir(name, 0o700, dir_fd=ws)
        try:
            with _open_dir(name, ws) as tmp:
                args = ["-x", "-f", "-", "--no-same-owner", "-C", f"/proc/self/fd/{tmp}"]
                with _Tar(self._tar, args, [tmp], stdin=subprocess.PIPE) as tar:
                    digest = _feed(archive, tar.proc)
                if digest != manifest.sha256:
                    self._discard(entry, "its archive does not match its checksum")
                    return False
                if tar.proc.returncode != 0:
                    log.warning("could not restore the dependency environment: %s", tar.errors)
                    return False
                if tar.count != manifest.files or not set(manifest.paths) >= set(os.listdir(tmp)):
                    self._discard(entry, f"it holds {tar.count} paths, not {manifest.files}")
                    return False
                for source in manifest.paths:
                    if source == "env":
                        _replace(tmp, "env", ws)
                    else:
                        with _open_dir("repo", ws) as repo:
                            _replace(tmp, source, repo)
            return True
        finally:
            shutil.rmtree(name, dir_fd=ws, ignore_errors=True)

    def _discard(self, entry: Path, why: str, warn: bool = True) -> None:
        if warn:
            log.warning("discarding dependency cache entry %s: %s", entry.name, why)
        trash = self.root / f".trash-{secrets.token_hex(6)}"
        try:
            os.rename(entry, trash)  # atomic: no reader ever sees half a deletion
        except FileNotFoundError:
            return
        shutil.rmtree(trash, ignore_errors=True)


def _checked(key: str) -> str:
    if not _KEY.match(key):
        raise InvalidInput(f"invalid environment cache key {key!r}: use cache_key() to make one")
    return key


@contextmanager
def _open_dir(path: Path | str, dir_fd: int | None = None) -> Iterator[int]:
    try:
        fd = os.open(path, _DIR_FLAGS, dir_fd=dir_fd)
    except OSError as exc:
        raise EnvCacheError(
            f"{path} is not a directory (or is a symlink): the dependency environment cannot be "
            f"cached from or restored into it ({exc.strerror})"
        ) from exc
    try:
        yield fd
    finally:
        os.close(fd)


@contextmanager
def _sources(ws: int) -> Iterator[list[tuple[int, str]]]:
    """(parent directory fd, name) for each of env and repo/node_modules that exists."""
    with ExitStack() as stack:
        sources = []
        for parent, name in (("", "env"), ("repo", "node_modules")):
            if parent and not _lstat_dir(parent, ws):
                continue
            parent_fd = stack.enter_context(_open_dir(parent, ws)) if parent else ws
            if _lstat_dir(name, parent_fd):
                sources.append((parent_fd, name))
        yield sources


def _lstat_dir(name: str, dir_fd: int) -> bool:
    """Whether dir_fd/name exists, refusing anything but a real directory there."""
    try:
        mode = os.lstat(name, dir_fd=dir_fd).st_mode
    except FileNotFoundError:
        return False
    if not stat.S_ISDIR(mode):
        raise EnvCacheError(f"workspace {name} is not a real directory; it was not cached")
    return True


class _Tar:
    """GNU tar with a cleared environment, given directories as inherited descriptors. Its list
    of archived paths (`-v`) goes to an index file and is counted; errors are kept for messages.
    The process has exited when the `with` block ends."""

    def __init__(
        self,
        tar: str,
        args: list[str],
        fds: Sequence[int],
        stdin: int | None = None,
        stdout: int | None = None,
    ) -> None:
        self._index = tempfile.TemporaryFile()  # noqa: SIM115 - closed in __exit__
        self._errors = tempfile.TemporaryFile()  # noqa: SIM115 - closed in __exit__
        index = f"--index-file=/proc/self/fd/{self._index.fileno()}"
        self.proc = subprocess.Popen(
            [tar, "-v", index, *args],
            stderr=self._errors,
            pass_fds=[*fds, self._index.fileno()],
            env=_TOOL_ENV,
            stdin=subprocess.DEVNULL if stdin is None else stdin,
            stdout=subprocess.DEVNULL if stdout is None else stdout,
        )
        self.count, self.errors = 0, ""

    def __enter__(self) -> _Tar:
        return self

    def __exit__(self, *exc: object) -> None:
        for stream in (self.proc.stdin, self.proc.stdout):
            if stream is not None:
                with suppress(BrokenPipeError):
                    stream.close()
        self.proc.wait()
        with self._index, self._errors:
            self._index.seek(0)
            self.count = self._index.read().count(b"\n")
            self._errors.seek(0)
            self.errors = self._errors.read()[-1000:].decode(errors="replace").strip()


def _feed(archive: BinaryIO, proc: subprocess.Popen[bytes]) -> str:
    """Streams the whole archive into tar's stdin; returns its sha256 (read to the end even when
    tar stops early, so that a damaged archive is told apart from a failing extraction). The
    caller closes stdin."""
    assert proc.stdin is not None
    digest, alive = hashlib.sha256(), True
    while chunk := archive.read(_CHUNK):
        digest.update(chunk)
        if alive:
            try:
                proc.stdin.write(chunk)
            except BrokenPipeError:
                alive = False
    return digest.hexdigest()


def _replace(src_dir: int, name: str, dst_dir: int) -> None:
    """Moves src_dir/name to dst_dir/name, first removing (never following) what is there."""
    try:
        mode = os.lstat(name, dir_fd=dst_dir).st_mode
    except FileNotFoundError:
        pass
    else:
        if stat.S_ISDIR(mode):
            shutil.rmtree(name, dir_fd=dst_dir)
        else:
            os.unlink(name, dir_fd=dst_dir)
    os.rename(name, name, src_dir_fd=src_dir, dst_dir_fd=dst_dir)
