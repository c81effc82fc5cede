"""Secrets with the key-encryption key in Cloud KMS (`google-cloud-kms`, imported lazily).

Envelope encryption: each secret gets a fresh AES-256-GCM data key, used here; only the data
key travels to KMS, which wraps it under the CryptoKey (the KEK never leaves KMS). Blob layout
(version 1):
    b"ERK" | version (1 byte) | wrapped length (2 bytes, big-endian) | wrapped data key
    | data nonce (12) | ciphertext + tag (16)
The header plus the context are associated data of both the wrap (KMS's AAD) and the data
encryption, so a blob decrypts only under the context it was written for. Requests carry
CRC32C checksums and the replies' are verified, as KMS documents for end-to-end integrity."""

from __future__ import annotations

import secrets
import threading
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from shared.adapters.gcp_clients import client_kwargs
from shared.errors import ConfigError, ErrandError, InvalidInput
from shared.gcp_settings import GcpSettings

_MAGIC = b"ERK"
_VERSION = 1
_HEADER = _MAGIC + bytes([_VERSION])
_NONCE = 12
_TAG = 16
_LEN = 2


class KmsError(ErrandError):
    code = "kms_error"
    http_status = 502


class KmsSecrets:
    """Implements `shared.ports.Secrets`. Thread-safe: one client, built on first use."""

    def __init__(self, settings: GcpSettings) -> None:
        if not settings.kms_key:
            raise ConfigError(
                "ERRAND_SECRETS=kms needs the key: set ERRAND_KMS_KEY to "
                "projects/P/locations/L/keyRings/R/cryptoKeys/K"
            )
        self._s = settings
        self._lock = threading.Lock()
        self._client: Any = None

    def encrypt(self, plaintext: bytes, context: str) -> bytes:
        aad = _HEADER + context.encode()
        data_key = AESGCM.generate_key(bit_length=256)
        wrapped = self._wrap(data_key, aad)
        nonce = secrets.token_bytes(_NONCE)
        sealed = AESGCM(data_key).encrypt(nonce, plaintext, aad)
        return _HEADER + len(wrapped).to_bytes(_LEN, "big") + wrapped + nonce + sealed

    def decrypt(self, ciphertext: bytes, context: str) -> bytes:
        if len(ciphertext) < len(_HEADER) + _LEN or not ciphertext.startswith(_MAGIC):
            raise InvalidInput("this is not a secret written by Errand with KMS (wrong header)")
        if ciphertext[len(_MAGIC)] != _VERSION:
            raise InvalidInput(
                f"this secret has format version {ciphertext[len(_MAGIC)]}, this Errand reads "
                f"version {_VERSION}; upgrade Errand or store the secret again"
            )
        at = len(_HEADER)
        size = int.from_bytes(ciphertext[at : at + _LEN], "big")
        at += _LEN
        if len(ciphertext) < at + size + _NONCE + _TAG:
            raise InvalidInput("this secret is truncated; store it again")
        wrapped, at = ciphertext[at : at + size], at + size
        nonce, sealed = ciphertext[at : at + _NONCE], ciphertext[at + _NONCE :]
        aad = _HEADER + context.encode()
        data_key = self._unwrap(wrapped, aad, context)
        try:
            return AESGCM(data_key).decrypt(nonce, sealed, aad)
        except (InvalidTag, ValueError) as exc:
            raise _undecryptable(context) from exc

    def rotate(self) -> None:
        """Cloud KMS rotates the key-encryption key itself (the key's rotation period, or
        `gcloud kms keys versions create --primary`): every wrap uses the primary version and
        older versions keep unwrapping, so there is nothing for Errand to do here."""

    def rewrap(self, ciphertext: bytes, context: str) -> bytes:
        """The same secret with its data key wrapped by the key's current primary version."""
        return self.encrypt(self.decrypt(ciphertext, context), context)

    def retire(self) -> int:
        """Old key versions are disabled or destroyed in Cloud KMS, by its IAM-guarded API,
        never by Errand: it retires none (0)."""
        return 0

    def _wrap(self, data_key: bytes, aad: bytes) -> bytes:
        import google_crc32c
        from google.api_core import exceptions

        try:
            reply = self._kms().encrypt(
                request={
                    "name": self._s.kms_key,
                    "plaintext": data_key,
                    "additional_authenticated_data": aad,
                    "plaintext_crc32c": google_crc32c.value(data_key),
                    "additional_authenticated_data_crc32c": google_crc32c.value(aad),
                }
            )
        except (exceptions.GoogleAPICallError, exceptions.RetryError, OSError) as exc:
            raise KmsError(
                f"Cloud KMS could not wrap a data key with {self._s.kms_key}: {exc}"
            ) from exc
        if not (
            reply.verified_plaintext_crc32c and reply.verified_additional_authenticated_data_crc32c
        ):
            raise KmsError("Cloud KMS did not verify the request's checksums: retry")
        wrapped: bytes = reply.ciphertext
        if reply.ciphertext_crc32c != google_crc32c.value(wrapped):
            raise KmsError("the wrapped key from Cloud KMS was corrupted in transit: retry")
        return wrapped

    def _unwrap(self, wrapped: bytes, aad: bytes, context: str) -> bytes:
        import google_crc32c
        from google.api_core import exceptions

        try:
            reply = self._kms().decrypt(
                request={
                    "name": self._s.kms_key,
                    "ciphertext": wrapped,
                    "additional_authenticated_data": aad,
                    "ciphertext_crc32c": google_crc32c.value(wrapped),
                    "additional_authenticated_data_crc32c": google_crc32c.value(aad),
                }
            )
        except exceptions.BadRequest as exc:  # KMS answers 400 to a wrong AAD or ciphertext
            raise _undecryptable(context) from exc
        except (exceptions.GoogleAPICallError, exceptions.RetryError, OSError) as exc:
            raise KmsError(
                f"Cloud KMS could not unwrap a data key with {self._s.kms_key}: {exc}"
            ) from exc
        data_key: bytes = reply.plaintext
        if reply.plaintext_crc32c != google_crc32c.value(data_key):
            raise KmsError("the data key from Cloud KMS was corrupted in transit: retry")
        return data_key

    def _kms(self) -> Any:
        with self._lock:
            if self._client is None:
                from google.cloud import kms

                self._client = kms.KeyManagementServiceClient(**client_kwargs(self._s))
            return self._client


def _undecryptable(context: str) -> InvalidInput:
    return InvalidInput(
        "could not decrypt the secret: it was altered, belongs to another owner "
        f"(context {context!r}), or was written under another KMS key; store the secret again"
    )
