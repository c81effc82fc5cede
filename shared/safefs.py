"""Reading files of an untrusted tree from the trusted side without following symlinks out of it.

Each path component is opened relative to its parent with O_NOFOLLOW, so a symlink anywhere on
the way (`AGENTS.md -> /root/.errand/keys/master.key`, or a linked directory) is refused instead
of followed."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Container, Iterator
from pathlib import Path

from shared.errors import InvalidInput


def _open_under(root: Path, relpath: str) -> int:
    parts = [p for p in relpath.replace("\\", "/").split("/") if p not in ("", ".")]
    if not parts or ".." in parts:
        raise InvalidInput(f"unsafe path {relpath!r}: must be relative and stay inside the tree")
    flags_dir = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
    fd = os.open(root, flags_dir)
    try:
        for part in parts[:-1]:
            nfd = os.open(part, flags_dir, dir_fd=fd)
            os.close(fd)
            fd = nfd
        # O_NONBLOCK: a FIFO planted by untrusted code must not hang the reader (fstat then
        # rejects anything that is not a regular file)
        leaf = os.open(
            parts[-1], os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK, dir_fd=fd
        )
    finally:
        os.close(fd)
    return leaf


def read_bytes(root: Path, relpath: str, max_bytes: int = 1_000_000) -> bytes | None:
    """The file's bytes, or None when it is missing, not a regular file, or reached through a
    symlink. Files larger than max_bytes raise InvalidInput."""
    try:
        fd = _open_under(root, relpath)
    except (FileNotFoundError, NotADirectoryError, OSError):
        return None
    try:
        return _read_fd(fd, relpath, max_bytes)
    finally:
        os.close(fd)


def _read_fd(fd: int, relpath: str, max_bytes: int) -> bytes | None:
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        return None
    if st.st_size > max_bytes:
        raise InvalidInput(
            f"{relpath} is {st.st_size} bytes, more than the {max_bytes} Errand reads; "
            "make it smaller"
        )
    chunks = []
    while chunk := os.read(fd, 65536):
        chunks.append(chunk)
    return b"".join(chunks)


def files_under(
    root: Path, skip_dirs: Container[str], wanted: Callable[[str], bool], max_bytes: int
) -> Iterator[tuple[str, bytes | None]]:
    """(relative path, bytes) of each file under `root` whose name is `wanted`, directories and
    names sorted; bytes are None for what is not a regular file, is a symlink or is larger than
    max_bytes. Directories are entered without following symlinks (os.fwalk checks each one it
    opens) and files are opened relative to them with O_NOFOLLOW: what `read_bytes` guarantees,
    with one open per file rather than one per path component (a large tree reads in half the
    time)."""
    for dirpath, dirnames, filenames, dir_fd in os.fwalk(root, follow_symlinks=False):
        dirnames[:] = sorted(d for d in dirnames if d not in skip_dirs)
        rel = os.path.relpath(dirpath, root)
        for name in sorted(filenames):
            if not wanted(name):
                continue
            path = name if rel == "." else f"{rel}/{name}"
            yield path, _read_at(dir_fd, name, path, max_bytes)


def _read_at(dir_fd: int, name: str, relpath: str, max_bytes: int) -> bytes | None:
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK  # see _open_under
    try:
        fd = os.open(name, flags, dir_fd=dir_fd)
    except OSError:
        return None
    try:
        return _read_fd(fd, relpath, max_bytes)
    except InvalidInput:
        return None
    finally:
        os.close(fd)


def read_text(root: Path, relpath: str, max_bytes: int = 1_000_000) -> str | None:
    data = read_bytes(root, relpath, max_bytes)
    return None if data is None else data.decode("utf-8", errors="replace")


def kind(root: Path, relpath: str) -> str | None:
    """'file', 'dir' or 'other' for an entry reached without following symlinks; None when
    it does not exist, escapes the tree or is reached through a symlink."""
    try:
        fd = _open_under_path(root, relpath)
    except (OSError, InvalidInput):
        return None
    try:
        mode = os.fstat(fd).st_mode
    finally:
        os.close(fd)
    if stat.S_ISLNK(mode):  # O_PATH|O_NOFOLLOW opens the link itself
        return None
    return "file" if stat.S_ISREG(mode) else "dir" if stat.S_ISDIR(mode) else "other"


def _open_under_path(root: Path, relpath: str) -> int:
    """Like _open_under but the last component may be a directory (opened with O_PATH)."""
    parts = [p for p in relpath.replace("\\", "/").split("/") if p not in ("", ".")]
    if not parts or ".." in parts:
        raise InvalidInput(f"unsafe path {relpath!r}")
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        for part in parts[:-1]:
            nfd = os.open(
                part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=fd
            )
            os.close(fd)
            fd = nfd
        return os.open(parts[-1], os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=fd)
    finally:
        os.close(fd)
