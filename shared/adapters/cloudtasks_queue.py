"""The Queue on Cloud Tasks (`google-cloud-tasks`, imported lazily): each stage request is an
HTTP task to the dispatch function, authenticated with an OIDC token Cloud Tasks mints as the
invoker service account (dispatch verifies it: shared/oidc.py). Retries and backoff are the
queue's configuration (terraform), not code.

Dedupe: the task's name comes from the request's delivery name, so a second enqueue of the
same intent is refused by the service (ALREADY_EXISTS) and reported as False. Cloud Tasks keeps
a name reserved for about an hour after its task ran or was deleted; a re-enqueue later than
that is delivered again, which every stage tolerates (stale requests are no-ops). Names start
with a short hash of themselves because Cloud Tasks spreads load by name and sequential
prefixes (the same task id) concentrate it.

Against gcloud-tasks-emulator (CLOUD_TASKS_EMULATOR_HOST, gRPC without TLS) the emulator
cannot mint OIDC tokens, so the task carries `emulator_authorization` as its Authorization
header instead: the local server's own token, never set outside the emulator."""

from __future__ import annotations

import hashlib
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

from shared.domain import StageRequest
from shared.errors import ConfigError, ErrandError
from shared.gcp_settings import GcpSettings


class QueueError(ErrandError):
    code = "queue_error"
    http_status = 503


def task_id_for(request: StageRequest) -> str:
    """Deterministic, within Cloud Tasks' task-id alphabet ([A-Za-z0-9_-], 500 chars)."""
    name = request.delivery_name()
    return f"{hashlib.sha256(name.encode()).hexdigest()[:8]}-{name}"


class CloudTasksQueue:
    """Implements `shared.ports.Queue`. Thread-safe: one client, built on first use."""

    def __init__(self, settings: GcpSettings, emulator_authorization: str = "") -> None:
        missing = [
            name
            for name, value in (
                ("ERRAND_GCP_PROJECT", settings.project),
                ("ERRAND_DISPATCH_URL", settings.dispatch_url),
            )
            if not value
        ]
        if not settings.tasks_emulator_host and not settings.invoker:
            missing.append("ERRAND_TASKS_INVOKER")
        if missing:
            raise ConfigError(f"ERRAND_QUEUE=cloudtasks needs {', '.join(missing)}")
        if emulator_authorization and not settings.tasks_emulator_host:
            raise ConfigError("a bearer token on tasks is only for the Cloud Tasks emulator")
        self._s = settings
        self._authorization = emulator_authorization
        self._lock = threading.Lock()
        self._client: Any = None

    @property
    def queue_path(self) -> str:
        return f"{self._s.location_path}/queues/{self._s.queue}"

    def enqueue(self, request: StageRequest, delay_s: float = 0.0) -> bool:
        from google.api_core import exceptions

        http: dict[str, Any] = {
            "http_method": "POST",
            "url": self._s.dispatch_url,
            "headers": {"Content-Type": "application/json"},
            "body": request.model_dump_json().encode(),
        }
        if self._authorization:
            http["headers"]["Authorization"] = f"Bearer {self._authorization}"
        else:
            http["oidc_token"] = {
                "service_account_email": self._s.invoker,
                "audience": self._s.dispatch_url,
            }
        task: dict[str, Any] = {
            "name": f"{self.queue_path}/tasks/{task_id_for(request)}",
            "http_request": http,
        }
        if delay_s > 0:
            task["schedule_time"] = datetime.now(UTC) + timedelta(seconds=delay_s)
        try:
            self._tasks().create_task(request={"parent": self.queue_path, "task": task})
        except exceptions.AlreadyExists:
            return False
        except (exceptions.NotFound, exceptions.FailedPrecondition) as exc:
            raise ConfigError(
                f"the Cloud Tasks queue {self.queue_path} does not exist or is disabled "
                f"({exc.message}): create it (terraform), resume it, or set ERRAND_TASKS_QUEUE "
                "/ ERRAND_GCP_LOCATION"
            ) from exc
        except (exceptions.GoogleAPICallError, exceptions.RetryError, OSError) as exc:
            raise QueueError(
                f"Cloud Tasks did not take {request.delivery_name()}: {exc}; retry"
            ) from exc
        return True

    def _tasks(self) -> Any:
        with self._lock:
            if self._client is None:
                from google.cloud import tasks_v2

                if self._s.tasks_emulator_host:
                    import grpc
                    from google.cloud.tasks_v2.services.cloud_tasks.transports import (
                        CloudTasksGrpcTransport,
                    )

                    channel = grpc.insecure_channel(self._s.tasks_emulator_host)
                    transport = CloudTasksGrpcTransport(channel=channel)
                    self._client = tasks_v2.CloudTasksClient(transport=transport)
                else:
                    self._client = tasks_v2.CloudTasksClient()
            return self._client
