"""The embedded Blobs: one file per key under a root directory, served by the local server at
`{base_url}/blobs/{key}`."""

from __future__ import annotations

import errno
import os
import secrets
from pathlib import Path
from urllib.parse import quote

from shared.errors import InvalidInput, NotFound

MAX_KEY_CHARS = 1024
MAX_SEGMENT_BYTES = 255  # a file name on every filesystem we run on


def check_key(key: str) -> str:
    """Returns `key` when it is a safe relative key like 'tasks/<id>/audio.mp3', else raises
    InvalidInput. Shared by every Blobs implementation so they accept the same keys."""
    problem = ""
    if not key:
        problem = "it is empty"
    elif len(key) > MAX_KEY_CHARS:
        problem = f"it is longer than {MAX_KEY_CHARS} characters"
    elif any(ord(ch) < 32 or ch == "\x7f" for ch in key):
        problem = "it contains a NUL or another control character"
    elif "\\" in key:
        problem = "it contains a backslash"
    elif key.startswith("/"):
        problem = "it is an absolute path"
    elif any(part in ("", ".", "..") for part in key.split("/")):
        problem = "it has an empty, '.' or '..' path segment"
    elif any(len(part.encode("utf-8", "replace")) > MAX_SEGMENT_BYTES for part in key.split("/")):
        problem = f"a path segment is longer than {MAX_SEGMENT_BYTES} bytes"
    if problem:
        raise InvalidInput(
            f"invalid blob key {key!r}: {problem}; use a relative key such as "
            "'tasks/<id>/audio.mp3'"
        )
    return key


class FsBlobs:
    """Implements `shared.ports.Blobs`. Writes are atomic (temporary file + rename), so a
    reader sees the old or the new content, never a partial file. The content type is not
    stored: the server derives it from the key's extension."""

    def __init__(self, root: Path, base_url: str) -> None:
        self._root = root
        self._base_url = base_url.rstrip("/")

    def put(self, key: str, data: bytes, content_type: str = "application/octet-stream") -> None:
        path = self._path(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except (FileExistsError, NotADirectoryError) as exc:
            raise InvalidInput(
                f"cannot store blob {key!r}: part of its path is already a blob; use another key"
            ) from exc
        tmp = path.parent / f".{path.name}.{secrets.token_hex(6)}.tmp"
        try:
            with open(tmp, "xb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, path)
        except IsADirectoryError as exc:
            raise InvalidInput(
                f"cannot store blob {key!r}: other blobs live under that key as a folder; "
                "use another key"
            ) from exc
        finally:
            tmp.unlink(missing_ok=True)

    def get(self, key: str) -> bytes:
        path = self._path(key)
        try:
            return path.read_bytes()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError) as exc:
            raise NotFound(f"no blob {key!r} under {self._root}") from exc
        except OSError as exc:
            if exc.errno != errno.ENAMETOOLONG:
                raise
            raise NotFound(f"no blob {key!r}: its path is too long for the filesystem") from exc

    def url(self, key: str) -> str:
        return f"{self._base_url}/blobs/{quote(check_key(key), safe='/')}"

    def local_path(self, key: str) -> str:
        return str(self._path(key))

    def _path(self, key: str) -> Path:
        return self._root / check_key(key)
