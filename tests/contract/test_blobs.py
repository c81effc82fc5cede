"""Contract suite for the Blobs port, run against FsBlobs, MemoryBlobs and GcsBlobs (on
gcp-storage-emulator, V4 URLs signed with a locally generated service-account key)."""

from __future__ import annotations

import threading
import urllib.request
from pathlib import Path
from urllib.parse import quote, urlsplit

import pytest

from shared.adapters.fs_blobs import FsBlobs
from shared.adapters.gcs_blobs import GcsBlobs
from shared.errors import ConfigError, InvalidInput, NotFound
from shared.fakes import MemoryBlobs
from shared.gcp_settings import GcpSettings
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


def _conforms(a: FsBlobs, b: MemoryBlobs, c: GcsBlobs) -> list[Blobs]:
    return [a, b, c]  # mypy checks that they implement the port


@pytest.fixture(params=["fs", "memory", "gcs"])
def blobs(request: pytest.FixtureRequest, tmp_path: Path) -> Blobs:
    if request.param == "fs":
        return FsBlobs(tmp_path / "blobs", BASE + "/")
    if request.param == "gcs":
        settings: GcpSettings = request.getfixturevalue("gcs_settings")
        # one bucket for the session: each test gets its own prefix-free keys by overwriting
        return GcsBlobs(settings)
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
    for key in ("tasks/t_1/audio.mp3", "tasks/t_1/my log.txt"):
        assert urlsplit(blobs.url(key)).path.endswith("/" + quote(key, safe="/"))
    where = blobs.local_path("tasks/t_1/audio.mp3")
    assert where == "" or Path(where).read_bytes() == b"mp3"


def test_server_urls_name_the_key(tmp_path: Path) -> None:
    for blobs in (FsBlobs(tmp_path, BASE + "/"), MemoryBlobs(BASE)):
        assert blobs.url("tasks/t_1/audio.mp3") == f"{BASE}/blobs/tasks/t_1/audio.mp3"
        assert blobs.url("tasks/t_1/my log.txt") == f"{BASE}/blobs/tasks/t_1/my%20log.txt"


def test_large_blob(blobs: Blobs) -> None:
    data = bytes(range(256)) * 40_000  # 10 MB
    blobs.put("tasks/t_1/workspace.tar", data)
    assert blobs.get("tasks/t_1/workspace.tar") == data


# ---------------------------------------------------------------------------- GcsBlobs only


def test_gcs_signed_url_downloads_without_credentials(gcs_settings: GcpSettings) -> None:
    blobs = GcsBlobs(gcs_settings)
    blobs.put("tasks/t_9/summary.mp3", b"ID3 audio bytes", "audio/mpeg")
    url = blobs.url("tasks/t_9/summary.mp3")
    query = urlsplit(url).query
    assert "X-Goog-Algorithm=GOOG4-RSA-SHA256" in query
    assert "X-Goog-Credential=errand-local%40" in query
    with urllib.request.urlopen(url, timeout=10) as response:  # no credentials: the URL is all
        assert response.read() == b"ID3 audio bytes"
        assert response.headers["Content-Type"] == "audio/mpeg"
    assert blobs.local_path("tasks/t_9/summary.mp3") == ""


def test_gcs_without_a_bucket_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="ERRAND_GCS_BUCKET"):
        GcsBlobs(GcpSettings())


def test_gcs_unreadable_signing_key_is_a_config_error(
    gcs_settings: GcpSettings, tmp_path: Path
) -> None:
    broken = tmp_path / "key.json"
    broken.write_text("{}")
    blobs = GcsBlobs(gcs_settings.model_copy(update={"signing_key_file": broken}))
    with pytest.raises(ConfigError, match="ERRAND_GCP_SIGNING_KEY_FILE"):
        blobs.url("tasks/t_1/a.txt")


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
