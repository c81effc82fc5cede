"""The embedded Secrets: envelope encryption with AES-256-GCM under a master key kept in a
local file.

Blob layout (version 1):
    b"ERS" | version (1 byte) | wrap nonce (12) | wrapped data key (32 + 16 tag)
    | data nonce (12) | ciphertext + tag (16)
The context (e.g. the owner id) and the header are associated data of both encryptions, so a
blob decrypts only under the context it was written for."""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
import threading
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from shared.errors import ConfigError, InvalidInput

_MAGIC = b"ERS"
_VERSION = 1
_HEADER = _MAGIC + bytes([_VERSION])
_NONCE = 12
_KEY = 32
_TAG = 16
_WRAPPED = _KEY + _TAG
_MIN_LEN = len(_HEADER) + _NONCE + _WRAPPED + _NONCE + _TAG


class LocalSecrets:
    """Implements `shared.ports.Secrets`. The key file is created on first use (mode 0600, in
    a 0700 directory) and refused when group or others can access it. Losing the key file
    makes every stored secret unreadable: back it up. Thread- and process-safe."""

    def __init__(self, key_file: Path) -> None:
        self._key_file = key_file
        self._lock = threading.Lock()
        self._master: AESGCM | None = None

    def encrypt(self, plaintext: bytes, context: str) -> bytes:
        aad = _HEADER + context.encode()
        data_key = AESGCM.generate_key(bit_length=256)
        wrap_nonce, data_nonce = secrets.token_bytes(_NONCE), secrets.token_bytes(_NONCE)
        wrapped = self._master_key().encrypt(wrap_nonce, data_key, aad)
        sealed = AESGCM(data_key).encrypt(data_nonce, plaintext, aad)
        return _HEADER + wrap_nonce + wrapped + data_nonce + sealed

    def decrypt(self, ciphertext: bytes, context: str) -> bytes:
        if len(ciphertext) < _MIN_LEN or not ciphertext.startswith(_MAGIC):
            raise InvalidInput("this is not a secret written by Errand (wrong size or header)")
        if ciphertext[len(_MAGIC)] != _VERSION:
            raise InvalidInput(
                f"this secret has format version {ciphertext[len(_MAGIC)]}, this Errand reads "
                f"version {_VERSION}; upgrade Errand or store the secret again"
            )
        aad = _HEADER + context.encode()
        at = len(_HEADER)
        wrap_nonce, at = ciphertext[at : at + _NONCE], at + _NONCE
        wrapped, at = ciphertext[at : at + _WRAPPED], at + _WRAPPED
        data_nonce, sealed = ciphertext[at : at + _NONCE], ciphertext[at + _NONCE :]
        try:
            data_key = self._master_key().decrypt(wrap_nonce, wrapped, aad)
            return AESGCM(data_key).decrypt(data_nonce, sealed, aad)
        except InvalidTag as exc:
            raise InvalidInput(
                "could not decrypt the secret: it was altered, belongs to another owner "
                f"(context {context!r}), or was written under another master key than "
                f"{self._key_file}; store the secret again"
            ) from exc

    def _master_key(self) -> AESGCM:
        with self._lock:
            if self._master is None:
                self._master = AESGCM(self._load_or_create())
            return self._master

    def _load_or_create(self) -> bytes:
        try:
            return self._read()
        except FileNotFoundError:
            pass
        parent = self._key_file.parent
        if not parent.exists():
            parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            parent.chmod(0o700)
        # Write a temporary file and link it into place: link fails if the key exists, so two
        # processes starting together agree on one key, and nobody sees a half-written file.
        tmp = parent / f".{self._key_file.name}.{secrets.token_hex(6)}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(AESGCM.generate_key(bit_length=256))
                out.flush()
                os.fsync(out.fileno())
            with contextlib.suppress(FileExistsError):  # another process won: use its key
                os.link(tmp, self._key_file)
        finally:
            tmp.unlink(missing_ok=True)
        return self._read()

    def _read(self) -> bytes:
        path = self._key_file
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
