"""Blobs in Cloud Storage (`google-cloud-storage`, imported lazily).

URLs are V4 signed GET URLs, so the browser fetches audio and logs straight from the bucket:
signed with a service-account key when one is configured (and against the emulator), else
through the IAM signBlob API as the runtime's service account (Cloud Run, Cloud Functions)."""

from __future__ import annotations

import threading
from datetime import timedelta
from pathlib import Path
from typing import Any

from shared.adapters.fs_blobs import check_key
from shared.errors import ConfigError, NotFound
from shared.gcp_settings import GcpSettings


class GcsBlobs:
    """Implements `shared.ports.Blobs`. Uploads are single requests (the client switches to
    resumable uploads above 8 MiB), and an object appears whole or not at all. Thread-safe:
    the client is built once, under a lock."""

    def __init__(self, settings: GcpSettings) -> None:
        if not settings.bucket:
            raise ConfigError("ERRAND_BLOBS=gcs needs a bucket: set ERRAND_GCS_BUCKET")
        self._s = settings
        self._lock = threading.Lock()
        self._bucket: Any = None
        self._signer: Any = None

    def put(self, key: str, data: bytes, content_type: str = "application/octet-stream") -> None:
        self._blob(key).upload_from_string(data, content_type=content_type)

    def get(self, key: str) -> bytes:
        from google.api_core.exceptions import NotFound as GcsNotFound

        try:
            data: bytes = self._blob(key).download_as_bytes()
        except GcsNotFound as exc:
            raise NotFound(f"no blob {key!r} in gs://{self._s.bucket}") from exc
        return data

    def url(self, key: str) -> str:
        blob = self._blob(key)
        options: dict[str, Any] = {}
        if self._s.storage_emulator_host:
            options["api_access_endpoint"] = self._s.storage_emulator_host
        signer = self._signing_credentials()
        if signer is not None:
            options["credentials"] = signer
        else:  # no key on Cloud Run: sign through IAM as the runtime's service account
            options.update(self._iam_signing())
        url: str = blob.generate_signed_url(
            version="v4", expiration=timedelta(seconds=self._s.url_ttl_s), method="GET", **options
        )
        return url

    def local_path(self, key: str) -> str:
        check_key(key)
        return ""

    def _blob(self, key: str) -> Any:
        return self._client_bucket().blob(check_key(key))

    def _client_bucket(self) -> Any:
        with self._lock:
            if self._bucket is None:
                import google.cloud.storage as storage  # type: ignore[import-untyped]

                s = self._s
                if s.storage_emulator_host:
                    from google.auth.credentials import AnonymousCredentials

                    client = storage.Client(
                        project=s.project or "errand-local",
                        credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
                        client_options={"api_endpoint": s.storage_emulator_host},
                    )
                else:
                    client = storage.Client(project=s.project or None)
                self._bucket = client.bucket(s.bucket)
            return self._bucket

    def _signing_credentials(self) -> Any:
        path = self._s.signing_key_file
        if path is None:
            return None
        with self._lock:
            if self._signer is None:
                from google.oauth2 import service_account

                try:
                    load = service_account.Credentials.from_service_account_file
                    self._signer = load(  # type: ignore[no-untyped-call]
                        str(Path(path))
                    )
                except (OSError, ValueError) as exc:
                    raise ConfigError(
                        f"cannot read the URL-signing key ERRAND_GCP_SIGNING_KEY_FILE={path}: "
                        f"{exc}; point it at a service-account JSON key, or unset it to sign "
                        "through IAM as the runtime's service account"
                    ) from exc
            return self._signer

    def _iam_signing(self) -> dict[str, str]:
        import google.auth
        from google.auth.transport.requests import Request

        credentials, _ = google.auth.default()
        credentials.refresh(Request())  # type: ignore[no-untyped-call]
        email = self._s.service_account or getattr(credentials, "service_account_email", "")
        if not email or email == "default":
            raise ConfigError(
                "cannot sign blob URLs: no ERRAND_GCP_SIGNING_KEY_FILE and no service account; "
                "set ERRAND_GCP_SERVICE_ACCOUNT to the runtime's service account email"
            )
        return {"service_account_email": email, "access_token": str(credentials.token)}
