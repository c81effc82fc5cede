"""Contract suite for the Blobs port, run against FsBlobs and MemoryBlobs."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from shared.adapters.fs_blobs import FsBlobs
from shared.errors import InvalidInput, NotFound
from shared.fakes import MemoryBlobs
from shared.ports import Blobs

BASE = "http://127.0.0.1:8080"
BAD_KEYS = [
    "",
    "../escape",
    "tasks/../../etc/passwd",
    "tasks/..",
    "/etc/passwd",
    "tasks\\t_1\\audio.mp3",
    "tasks/t_1/\x00audio.mp3",
    "tasks//audio.mp3",
    "tasks/./audio.mp3",
    "tasks/",
    "tasks/t_1/a\nb",
    "x" * 1025,
]


def _conforms(a: FsBlobs, b: MemoryBlobs) -> list[Blobs]:
    return [a, b]  # mypy checks that both implement the port


@pytest.fixture(params=["fs", "memory"])
def blobs(request: pytest.FixtureRequest, tmp_path: Path) -> Blobs:
    if request.param == "fs":
        return FsBlobs(tmp_path / "blobs", BASE + "/")
    return MemoryBlobs(BASE)


def test_put_get_and_overwrite(blobs: Blobs) -> None:
    blobs.put("tasks/t_1/audio.mp3", b"ID3\x00\xff", "audio/mpeg")
    assert blobs.get("tasks/t_1/audio.mp3") == b"ID3\x00\xff"
    blobs.put("tasks/t_1/audio.mp3", b"second")
    assert blobs.get("tasks/t_1/audio.mp3") == b"second"
    blobs.put("tasks/t_1/empty.txt", b"")
    assert blobs.get("tasks/t_1/empty.txt") == b""


def test_missing_blob_is_not_found(blobs: Blobs) -> None:
    with pytest.raises(NotFound):
        blobs.get("tasks/t_1/missing.log")
    blobs.put("tasks/t_1/diff.patch", b"+x")
    with pytest.raises(NotFound):
        blobs.get("tasks/t_1")  # a prefix of keys is not a blob


@pytest.mark.parametrize("key", BAD_KEYS)
def test_unsafe_keys_are_rejected(blobs: Blobs, key: str) -> None:
    with pytest.raises(InvalidInput, match="invalid blob key"):
        blobs.put(key, b"x")
    with pytest.raises(InvalidInput):
        blobs.get(key)
    with pytest.raises(InvalidInput):
        blobs.url(key)
    with pytest.raises(InvalidInput):
        blobs.local_path(key)


def test_url_and_local_path(blobs: Blobs) -> None:
    blobs.put("tasks/t_1/audio.mp3", b"mp3")
    assert blobs.url("tasks/t_1/audio.mp3") == f"{BASE}/blobs/tasks/t_1/audio.mp3"
    assert blobs.url("tasks/t_1/my log.txt") == f"{BASE}/blobs/tasks/t_1/my%20log.txt"
    where = blobs.local_path("tasks/t_1/audio.mp3")
    assert where == "" or Path(where).read_bytes() == b"mp3"


def test_large_blob(blobs: Blobs) -> None:
    data = bytes(range(256)) * 40_000  # 10 MB
    blobs.put("tasks/t_1/workspace.tar", data)
    assert blobs.get("tasks/t_1/workspace.tar") == data


# ---------------------------------------------------------------------------- FsBlobs only


def test_fs_writes_are_atomic_and_leave_no_temporaries(tmp_path: Path) -> None:
    blobs = FsBlobs(tmp_path / "blobs", BASE)
    old, new = b"a" * 2_000_000, b"b" * 2_000_000
    blobs.put("tasks/t_1/log.txt", old)
    seen: set[bytes] = set()
    done = threading.Event()

    def read() -> None:
        while not done.is_set():
            data = blobs.get("tasks/t_1/log.txt")
            seen.add(data[:1] + data[-1:] + bytes([len(data) == 2_000_000]))

    reader = threading.Thread(target=read)
    reader.start()
    for i in range(20):
        blobs.put("tasks/t_1/log.txt", new if i % 2 else old)
    done.set()
    reader.join()
    assert seen <= {b"aa\x01", b"bb\x01"}  # never a torn or partial file
    assert [p.name for p in (tmp_path / "blobs" / "tasks" / "t_1").iterdir()] == ["log.txt"]
    assert blobs.local_path("tasks/t_1/log.txt") == str(tmp_path / "blobs/tasks/t_1/log.txt")


def test_fs_key_under_an_existing_blob_is_refused(tmp_path: Path) -> None:
    blobs = FsBlobs(tmp_path / "blobs", BASE)
    blobs.put("tasks/t_1", b"file")
    with pytest.raises(InvalidInput, match="another key"):
        blobs.put("tasks/t_1/audio.mp3", b"x")
    blobs.put("tasks/t_2/audio.mp3", b"x")
    with pytest.raises(InvalidInput, match="another key"):
        blobs.put("tasks/t_2", b"x")
