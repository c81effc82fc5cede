"""App secrets from Secret Manager (`google-cloud-secret-manager`, imported lazily): the
secret `{prefix}{name}` (e.g. errand-github-webhook-secret), latest version. Values are cached
for `ttl_s`, so a rotated secret is picked up within that time without a redeploy."""

from __future__ import annotations

import re
import threading
import time
from typing import Any

from shared.adapters.gcp_clients import client_kwargs
from shared.errors import ConfigError, ErrandError, InvalidInput, NotFound
from shared.gcp_settings import GcpSettings

_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,200}$")


class SecretManagerError(ErrandError):
    code = "secret_manager_error"
    http_status = 502


class SecretManagerAppSecrets:
    """Implements `shared.ports.AppSecrets`. Thread-safe."""

    def __init__(self, settings: GcpSettings, ttl_s: float = 300.0) -> None:
        if not settings.project:
            raise ConfigError("Secret Manager needs the project: set ERRAND_GCP_PROJECT")
        self._s = settings
        self._ttl = ttl_s
        self._lock = threading.Lock()
        self._client: Any = None
        self._cache: dict[str, tuple[float, str]] = {}

    def get(self, name: str) -> str:
        if not _NAME.match(name):
            raise InvalidInput(f"invalid app secret name {name!r}: use lowercase, digits, '-'")
        with self._lock:
            cached = self._cache.get(name)
        if cached is not None and time.monotonic() - cached[0] < self._ttl:
            return cached[1]
        value = self._access(name)
        with self._lock:
            self._cache[name] = (time.monotonic(), value)
        return value

    def _access(self, name: str) -> str:
        import google_crc32c
        from google.api_core import exceptions

        path = f"projects/{self._s.project}/secrets/{self._s.secret_prefix}{name}/versions/latest"
        try:
            reply = self._secret_manager().access_secret_version(request={"name": path})
        except exceptions.NotFound as exc:
            raise NotFound(
                f"no value for the app secret {name!r} ({path}): create it with `gcloud "
                f"secrets create {self._s.secret_prefix}{name} --data-file=-`"
            ) from exc
        except (exceptions.GoogleAPICallError, exceptions.RetryError, OSError) as exc:
            raise SecretManagerError(f"Secret Manager could not read {path}: {exc}") from exc
        data: bytes = reply.payload.data
        if reply.payload.data_crc32c != google_crc32c.value(data):
            raise SecretManagerError(f"the value of {path} was corrupted in transit: retry")
        try:
            return data.decode()
        except UnicodeDecodeError as exc:
            raise SecretManagerError(f"{path} is not UTF-8 text; store it as text") from exc

    def _secret_manager(self) -> Any:
        with self._lock:
            if self._client is None:
                from google.cloud import secretmanager

                self._client = secretmanager.SecretManagerServiceClient(**client_kwargs(self._s))
            return self._client
