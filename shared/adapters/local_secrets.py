"""The embedded Secrets: envelope encryption with AES-256-GCM; a fresh data key per secret,
wrapped by a key-encryption key (KEK) kept in a local 0600 file.

Blob layout (version 2):
    b"ERS" | version (1) | KEK id (8) | wrap nonce (12) | wrapped data key (32 + 16 tag)
    | data nonce (12) | ciphertext + tag (16)
The context (e.g. user and provider) is associated data of both encryptions, so a blob
decrypts only under the context it was written for; the header is associated data of the
wrap. Rotation re-wraps data keys under a new KEK without touching the data ciphertext.

Key files: `master.key` is the current KEK; `rotate()` moves it to `retired/<id>.key` so that
secrets not yet re-wrapped still open, and `retire()` deletes those once everything is
re-wrapped. Processes notice a rotation made by another process on their next use."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import secrets
import stat
import threading
from collections.abc import Iterator
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from shared.errors import ConfigError, InvalidInput

_MAGIC = b"ERS"
_VERSION = 2
_KID = 8
_NONCE = 12
_KEY = 32
_TAG = 16
_WRAPPED = _KEY + _TAG
_HEADER = len(_MAGIC) + 1 + _KID
_MIN_LEN = _HEADER + _NONCE + _WRAPPED + _NONCE + _TAG


def key_id(kek: bytes) -> bytes:
    return hashlib.sha256(b"errand-kek-id" + kek).digest()[:_KID]


class LocalSecrets:
    """Implements `shared.ports.Secrets`. The key file is created on first use (mode 0600, in
    a 0700 directory) and refused when group or others can access it. Losing the key file
    makes every stored secret unreadable: back it up. Thread- and process-safe."""

    def __init__(self, key_file: Path) -> None:
        self._key_file = key_file
        self._lock = threading.Lock()
        self._current: tuple[bytes, bytes] | None = None  # (id, key)
        self._stamp: tuple[int, int] = (0, 0)  # the key file's inode and mtime when read
        self._known: dict[bytes, bytes] = {}  # id -> key, current and retired

    def encrypt(self, plaintext: bytes, context: str) -> bytes:
        kid, kek = self._current_key()
        data_key = AESGCM.generate_key(bit_length=256)
        data_nonce = secrets.token_bytes(_NONCE)
        sealed = AESGCM(data_key).encrypt(data_nonce, plaintext, _data_aad(context))
        return self._wrap(kid, kek, data_key, context) + data_nonce + sealed

    def decrypt(self, ciphertext: bytes, context: str) -> bytes:
        data_key, rest = self._unwrap(ciphertext, context)
        data_nonce, sealed = rest[:_NONCE], rest[_NONCE:]
        try:
            return AESGCM(data_key).decrypt(data_nonce, sealed, _data_aad(context))
        except InvalidTag as exc:
            raise self._undecryptable(context) from exc

    def rewrap(self, ciphertext: bytes, context: str) -> bytes:
        kid, kek = self._current_key()
        if ciphertext[len(_MAGIC) + 1 : _HEADER] == kid:
            return ciphertext
        data_key, rest = self._unwrap(ciphertext, context)
        return self._wrap(kid, kek, data_key, context) + rest

    def rotate(self) -> None:
        with self._file_lock():
            old = self._read(self._key_file)
            retired = self._retired_dir()
            retired.mkdir(mode=0o700, exist_ok=True)
            write_key_file(retired / f"{key_id(old).hex()}.key", old)
            write_key_file(self._key_file, AESGCM.generate_key(bit_length=256), replace=True)
        with self._lock:
            self._current = None

    def retire(self) -> int:
        count = 0
        with self._file_lock():
            for path in sorted(self._retired_dir().glob("*.key")):
                path.unlink()
                count += 1
        with self._lock:
            self._known = {}
            self._current = None
        return count

    # ------------------------------------------------------------------------ internals

    def _wrap(self, kid: bytes, kek: bytes, data_key: bytes, context: str) -> bytes:
        header = _MAGIC + bytes([_VERSION]) + kid
        nonce = secrets.token_bytes(_NONCE)
        wrapped = AESGCM(kek).encrypt(nonce, data_key, header + context.encode())
        return header + nonce + wrapped

    def _unwrap(self, ciphertext: bytes, context: str) -> tuple[bytes, bytes]:
        """(data key, data nonce + sealed data)."""
        if len(ciphertext) < _MIN_LEN or not ciphertext.startswith(_MAGIC):
            raise InvalidInput("this is not a secret written by Errand (wrong size or header)")
        if ciphertext[len(_MAGIC)] != _VERSION:
            raise InvalidInput(
                f"this secret has format version {ciphertext[len(_MAGIC)]}, this Errand reads "
                f"version {_VERSION}; upgrade Errand or store the secret again"
            )
        header, at = ciphertext[:_HEADER], _HEADER
        kek = self._key_for(header[len(_MAGIC) + 1 :])
        nonce, at = ciphertext[at : at + _NONCE], at + _NONCE
        wrapped, at = ciphertext[at : at + _WRAPPED], at + _WRAPPED
        if kek is None:
            raise self._undecryptable(context)
        try:
            return AESGCM(kek).decrypt(nonce, wrapped, header + context.encode()), ciphertext[at:]
        except InvalidTag as exc:
            raise self._undecryptable(context) from exc

    def _undecryptable(self, context: str) -> InvalidInput:
        return InvalidInput(
            "could not decrypt the secret: it was altered, belongs to another owner "
            f"(context {context!r}), or was written under another master key than "
            f"{self._key_file} (or one retired since); store the secret again"
        )

    def _current_key(self) -> tuple[bytes, bytes]:
        with self._lock:
            try:
                st = os.stat(self._key_file)
                stamp = (st.st_ino, st.st_mtime_ns)
            except FileNotFoundError:
                stamp = (0, 0)
            if self._current is None or stamp != self._stamp:  # another process rotated
                key = self._load_or_create()
                st = os.stat(self._key_file)
                self._stamp = (st.st_ino, st.st_mtime_ns)
                self._current = (key_id(key), key)
                self._known[key_id(key)] = key
            return self._current

    def _key_for(self, kid: bytes) -> bytes | None:
        current_id, current = self._current_key()
        if kid == current_id:
            return current
        with self._lock:
            if kid not in self._known:
                path = self._retired_dir() / f"{kid.hex()}.key"
                if not path.exists():
                    return None
                self._known[kid] = self._read(path)
            return self._known[kid]

    def _retired_dir(self) -> Path:
        return self._key_file.parent / "retired"

    @contextlib.contextmanager
    def _file_lock(self) -> Iterator[None]:
        self._current_key()  # the key file and its directory exist
        fd = os.open(self._key_file.parent / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def _load_or_create(self) -> bytes:
        try:
            return self._read(self._key_file)
        except FileNotFoundError:
            pass
        parent = self._key_file.parent
        if not parent.exists():
            parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            parent.chmod(0o700)
        # write_key_file links a whole file into place: link fails if the key exists, so two
        # processes starting together agree on one key, and nobody sees a half-written file
        write_key_file(self._key_file, AESGCM.generate_key(bit_length=256))
        return self._read(self._key_file)

    @staticmethod
    def _read(path: Path) -> bytes:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
        with os.fdopen(fd, "rb") as source:
            mode = stat.S_IMODE(os.fstat(source.fileno()).st_mode)
            if mode & 0o077:
                raise ConfigError(
                    f"refusing to use the key file {path}: group or others can access it "
                    f"(mode {mode:04o}); run `chmod 600 {path}`, and consider the credentials "
                    "it protects exposed"
                )
            key = source.read()
        if len(key) != _KEY:
            raise ConfigError(
                f"the key file {path} holds {len(key)} bytes instead of {_KEY}: it is damaged "
                "or not an Errand key; restore it from a backup (secrets written under the "
                "lost key cannot be recovered)"
            )
        return key


def _data_aad(context: str) -> bytes:
    return b"ERS-data|" + context.encode()


def write_key_file(path: Path, key: bytes, replace: bool = False) -> None:
    """Writes a 0600 key file whole, then links (or renames) it into place."""
    tmp = path.parent / f".{path.name}.{secrets.token_hex(6)}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(key)
            out.flush()
            os.fsync(out.fileno())
        if replace:
            os.replace(tmp, path)
        else:
            with contextlib.suppress(FileExistsError):
                os.link(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
