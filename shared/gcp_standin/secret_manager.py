"""Secret Manager (v1): create a secret, add versions, access a version (a number or
`latest`), get a secret. Secrets and versions live in memory."""

from __future__ import annotations

import base64
import re
import threading
from datetime import UTC, datetime

from shared.gcp_standin.errors import ApiError, invalid, not_found
from shared.gcp_standin.kms import crc32c

SECRET_ID = re.compile(r"^[A-Za-z0-9_-]{1,255}$")


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


class SecretManager:
    def __init__(self) -> None:
        self._secrets: dict[str, dict[str, object]] = {}
        self._versions: dict[str, list[bytes]] = {}
        self._lock = threading.Lock()

    def create(self, project: str, secret_id: str, body: dict[str, object]) -> dict[str, object]:
        if not SECRET_ID.match(secret_id):
            raise invalid(f"secretId {secret_id!r}: use letters, digits, '-' and '_' only")
        name = f"{project}/secrets/{secret_id}"
        with self._lock:
            if name in self._secrets:
                raise ApiError(409, f"Secret [{name}] already exists.")
            secret: dict[str, object] = {
                "name": name,
                "replication": body.get("replication") or {"automatic": {}},
                "createTime": _now(),
                "labels": body.get("labels") or {},
            }
            self._secrets[name] = secret
            self._versions[name] = []
        return secret

    def get(self, name: str) -> dict[str, object]:
        with self._lock:
            if name not in self._secrets:
                raise not_found(f"Secret [{name}] not found or has no versions.")
            return self._secrets[name]

    def add_version(self, name: str, body: dict[str, object]) -> dict[str, object]:
        payload = body.get("payload")
        if not isinstance(payload, dict) or not isinstance(payload.get("data", ""), str):
            raise invalid("payload.data must be a base64 string")
        data = base64.b64decode(payload.get("data", ""))
        sent = payload.get("dataCrc32c")
        if sent is not None and str(sent) != crc32c(data):
            raise invalid("payload.dataCrc32c did not match payload.data")
        with self._lock:
            if name not in self._secrets:
                raise not_found(f"Secret [{name}] not found.")
            self._versions[name].append(data)
            number = len(self._versions[name])
        return {"name": f"{name}/versions/{number}", "createTime": _now(), "state": "ENABLED"}

    def access(self, name: str, version: str) -> dict[str, object]:
        with self._lock:
            versions = self._versions.get(name)
            if not versions:
                raise not_found(f"Secret [{name}] not found or has no versions.")
            number = len(versions) if version == "latest" else int(version or 0)
            if not 1 <= number <= len(versions):
                raise not_found(f"Secret Version [{name}/versions/{version}] not found.")
            data = versions[number - 1]
        return {
            "name": f"{name}/versions/{number}",
            "payload": {"data": base64.b64encode(data).decode(), "dataCrc32c": crc32c(data)},
        }
