"""Jobs on Cloud Run Jobs (`google-cloud-run`, imported lazily): one execution of the sandbox
image's job per stage, started by `run_job` with per-execution overrides.

The overrides carry the stage request as the container's argument (the image's entrypoint is
`python -m jobs.entrypoint`), ERRAND_TASK_ID and ERRAND_STAGE in its environment, and the
timeout. Cloud Run cannot label a single execution (labels come from the job's template, and
the run overrides have no labels), so an execution is found by task through those variables
(shown on the execution's page) and through the labels of its structured logs, which carry
the task id and stage (see README, "Following a task in Google Cloud")."""

from __future__ import annotations

import threading
from typing import Any

from shared.adapters.gcp_clients import client_kwargs
from shared.adapters.local_jobs import JobStartError
from shared.domain import StageRequest
from shared.errors import ConfigError, ErrandError, NotFound
from shared.gcp_settings import GcpSettings


class CloudRunError(ErrandError):
    code = "cloud_run_error"
    http_status = 502


class CloudRunJobs:
    """Implements `shared.ports.Jobs`; `run` returns the execution's resource name. Also
    `cancel(execution)`. Thread-safe: clients are built once, under a lock. A failed or
    vanished execution is noticed by the stage's lease expiring, not here: in a function
    nothing waits for the execution to end."""

    def __init__(self, settings: GcpSettings) -> None:
        if not settings.project:
            raise ConfigError("ERRAND_JOBS=cloudrun needs the project: set ERRAND_GCP_PROJECT")
        self._s = settings
        self._lock = threading.Lock()
        self._clients: dict[str, Any] = {}

    @property
    def job_name(self) -> str:
        return f"{self._s.location_path}/jobs/{self._s.job}"

    def run(self, request: StageRequest) -> str:
        from google.api_core import exceptions

        overrides = {
            "container_overrides": [
                {
                    "args": [request.model_dump_json()],
                    "env": [
                        {"name": "ERRAND_TASK_ID", "value": request.task_id},
                        {"name": "ERRAND_STAGE", "value": request.stage.value},
                    ],
                }
            ],
            "task_count": 1,
            "timeout": {"seconds": self._s.job_timeout_s},
        }
        try:
            operation = self._client("jobs").run_job(
                request={"name": self.job_name, "overrides": overrides}
            )
        except exceptions.NotFound as exc:
            raise ConfigError(
                f"the Cloud Run job {self.job_name} does not exist: deploy it (terraform) or "
                "set ERRAND_RUN_JOB / ERRAND_GCP_LOCATION to the job's name and region"
            ) from exc
        except (exceptions.GoogleAPICallError, exceptions.RetryError, OSError) as exc:
            raise JobStartError(
                f"Cloud Run did not start {request.stage.value} of task {request.task_id}: {exc}"
            ) from exc
        name: str = operation.metadata.name
        if not name:
            raise CloudRunError(f"Cloud Run started {self.job_name} but named no execution")
        return name

    def gone(self, execution: str) -> bool:
        """True when Cloud Run reports the execution finished (succeeded, failed, cancelled)
        or no longer knows it; False while it runs or when Cloud Run cannot be asked."""
        from google.api_core import exceptions

        try:
            found = self._client("executions").get_execution(name=execution)
        except exceptions.NotFound:
            return True
        except (exceptions.GoogleAPICallError, exceptions.RetryError, OSError):
            return False  # the lease's expiry decides
        return bool(found.completion_time)

    def cancel(self, execution: str) -> None:
        """Stops a running execution (SIGTERM, then SIGKILL); an execution that already ended
        is left as it is."""
        from google.api_core import exceptions

        client = self._client("executions")
        try:
            client.cancel_execution(request={"name": execution})
        except exceptions.NotFound as exc:
            raise NotFound(f"no Cloud Run execution {execution}") from exc
        except exceptions.BadRequest as exc:  # FAILED_PRECONDITION when it already ended
            if not client.get_execution(name=execution).completion_time:
                raise CloudRunError(f"Cloud Run could not cancel {execution}: {exc}") from exc
        except (exceptions.GoogleAPICallError, exceptions.RetryError, OSError) as exc:
            raise CloudRunError(f"Cloud Run could not cancel {execution}: {exc}") from exc

    def _client(self, kind: str) -> Any:
        with self._lock:
            if kind not in self._clients:
                from google.cloud import run_v2

                make = run_v2.JobsClient if kind == "jobs" else run_v2.ExecutionsClient
                self._clients[kind] = make(**client_kwargs(self._s))
            return self._clients[kind]
