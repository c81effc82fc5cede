"""Cloud KMS symmetric encrypt/decrypt (v1): `POST /v1/{cryptoKey}:encrypt` and `:decrypt`.

A key is created on first use of its name (terraform creates it in the cloud). Ciphertexts are
opaque to callers, as in KMS: here `version (4 bytes) | nonce (12) | AES-256-GCM ciphertext`,
with the additional authenticated data bound in. CRC32C integrity fields are checked when sent
and returned as the API documents."""

from __future__ import annotations

import base64
import re
import secrets
import threading

import google_crc32c
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from shared.gcp_standin.errors import ApiError, invalid

KEY_NAME = re.compile(r"^projects/[^/]+/locations/[^/]+/keyRings/[^/]+/cryptoKeys/[^/]+$")
_MAX_PLAINTEXT = 64 * 1024  # the documented limit of :encrypt


def crc32c(data: bytes) -> str:
    """int64 fields travel as decimal strings in proto3 JSON."""
    return str(google_crc32c.value(data))


def _b64(body: dict[str, object], field: str) -> bytes:
    raw = body.get(field, "")
    if not isinstance(raw, str):
        raise invalid(f"{field} must be a base64 string")
    try:
        return base64.b64decode(raw, validate=True)
    except ValueError:
        raise invalid(f"{field} is not valid base64") from None


def _check_crc(body: dict[str, object], field: str, data: bytes) -> bool:
    sent = body.get(field)
    if sent is None:
        return False
    if str(sent) != crc32c(data):
        raise invalid(f"{field} did not match the data: it was corrupted in transit")
    return True


class Kms:
    def __init__(self) -> None:
        self._keys: dict[str, bytes] = {}
        self._lock = threading.Lock()

    def _key(self, name: str) -> AESGCM:
        if not KEY_NAME.match(name):
            raise invalid(f"{name!r} is not a CryptoKey name")
        with self._lock:
            key = self._keys.setdefault(name, AESGCM.generate_key(bit_length=256))
        return AESGCM(key)

    def encrypt(self, name: str, body: dict[str, object]) -> dict[str, object]:
        plaintext, aad = _b64(body, "plaintext"), _b64(body, "additionalAuthenticatedData")
        if len(plaintext) > _MAX_PLAINTEXT:
            raise invalid(f"plaintext is larger than {_MAX_PLAINTEXT} bytes")
        verified_p = _check_crc(body, "plaintextCrc32c", plaintext)
        verified_a = _check_crc(body, "additionalAuthenticatedDataCrc32c", aad)
        nonce = secrets.token_bytes(12)
        ciphertext = b"\x00\x00\x00\x01" + nonce + self._key(name).encrypt(nonce, plaintext, aad)
        return {
            "name": f"{name}/cryptoKeyVersions/1",
            "ciphertext": base64.b64encode(ciphertext).decode(),
            "ciphertextCrc32c": crc32c(ciphertext),
            "verifiedPlaintextCrc32c": verified_p,
            "verifiedAdditionalAuthenticatedDataCrc32c": verified_a,
            "protectionLevel": "SOFTWARE",
        }

    def decrypt(self, name: str, body: dict[str, object]) -> dict[str, object]:
        ciphertext, aad = _b64(body, "ciphertext"), _b64(body, "additionalAuthenticatedData")
        _check_crc(body, "ciphertextCrc32c", ciphertext)
        _check_crc(body, "additionalAuthenticatedDataCrc32c", aad)
        key = self._key(name)
        try:
            if len(ciphertext) < 4 + 12 + 16 or ciphertext[:4] != b"\x00\x00\x00\x01":
                raise InvalidTag
            plaintext = key.decrypt(ciphertext[4:16], ciphertext[16:], aad)
        except InvalidTag:
            raise ApiError(400, "Decryption failed: the ciphertext is invalid.") from None
        return {
            "plaintext": base64.b64encode(plaintext).decode(),
            "plaintextCrc32c": crc32c(plaintext),
            "usedPrimary": True,
            "protectionLevel": "SOFTWARE",
        }
