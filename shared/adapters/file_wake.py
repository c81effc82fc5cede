"""Wakes a thread when a file in a directory is written, through Linux inotify (ctypes, no
dependency).

The SQLite change feed polls `PRAGMA data_version` to learn of events that other processes (the
jobs) commit. Polling alone sets a floor on the delay from a store write to a watcher (half the
interval on average) and costs CPU while idle; a commit writes the database's WAL file, so a
wake on that write lets the poller look at once and poll seldom. Where inotify is missing or
out of instances/watches, `FileWake.open` returns None and the feed keeps its interval."""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import logging
import os
import select
import struct
import time
from pathlib import Path

log = logging.getLogger(__name__)

IN_MODIFY = 0x002
IN_CLOSE_WRITE = 0x008
IN_MOVED_TO = 0x080
IN_CREATE = 0x100
_HEADER = struct.Struct("iIII")  # struct inotify_event: wd, mask, cookie, len (then the name)


class FileWake:
    """Owned by one thread: `wait` returns True as soon as one of `names` in the watched
    directory was written since the previous call (coalesced), False after `timeout_s`."""

    def __init__(self, fd: int, names: frozenset[str]) -> None:
        self._fd = fd
        self._names = {n.encode() for n in names}
        # poll, not select: a server holding 1,000 streams has descriptors past select's 1,024
        self._poller = select.poll()
        self._poller.register(fd, select.POLLIN)

    @classmethod
    def open(cls, directory: Path, names: frozenset[str]) -> FileWake | None:
        libc = _libc()
        if libc is None:
            return None
        fd = libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        if fd < 0:
            _unavailable(directory, ctypes.get_errno())
            return None
        mask = IN_MODIFY | IN_CLOSE_WRITE | IN_CREATE | IN_MOVED_TO
        if libc.inotify_add_watch(fd, os.fsencode(directory), mask) < 0:
            _unavailable(directory, ctypes.get_errno())
            os.close(fd)
            return None
        return cls(fd, names)

    def wait(self, timeout_s: float) -> bool:
        if self._fd < 0:
            raise ValueError("this FileWake is closed")
        deadline = time.monotonic() + max(timeout_s, 0.0)
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not self._poller.poll(left * 1000):
                return False
            if self._drain():  # else another file in the directory: wait on
                return True

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def _drain(self) -> bool:
        hit = False
        while True:
            try:
                data = os.read(self._fd, 64 * 1024)
            except BlockingIOError:
                return hit
            offset = 0
            while offset + _HEADER.size <= len(data):
                _, _, _, size = _HEADER.unpack_from(data, offset)
                start = offset + _HEADER.size
                name = data[start : start + size].rstrip(b"\0")
                hit = hit or name in self._names
                offset = start + size


def _libc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    libc = ctypes.CDLL(name, use_errno=True)
    if not hasattr(libc, "inotify_init1"):  # not Linux
        return None
    return libc


def _unavailable(directory: Path, code: int) -> None:
    # not silent: without the wake, events from other processes reach watchers up to one
    # poll interval later
    log.warning(
        "no inotify wake for %s (%s): the change feed polls on its interval only; raise "
        "fs.inotify.max_user_instances / max_user_watches if this machine is short of them",
        directory,
        errno.errorcode.get(code, str(code)),
    )
