"""Cloud Run Admin API v2, the part the Jobs adapter uses: `jobs/*:run` with overrides (a
long-running operation whose metadata is the Execution), `executions/*` get and `:cancel`,
and `operations/*` get.

The jobs are given at start-up, each a name and the command its container runs; Errand's
(`errand-job`) is the job entrypoint, run here as a local process: `python -m jobs.entrypoint
<args>` with the jobs' environment (given at start-up) plus the overrides' env. A timeout or a
cancel stops the process (SIGTERM, then SIGKILL after 10 s, as Cloud Run does)."""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import signal
import subprocess
import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from shared.gcp_standin import fresh_disk
from shared.gcp_standin.errors import ApiError, invalid, not_found

_EXECUTION = "type.googleapis.com/google.cloud.run.v2.Execution"
_GRACE_S = 10.0
_DURATION = re.compile(r"^(\d+)(\.\d+)?s$")


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


@dataclass
class _Execution:
    name: str
    job: str
    operation: str
    created: str
    process: subprocess.Popen[bytes] | None = None
    finished: str = ""
    outcome: str = ""  # succeeded | failed | cancelled
    disk: Path | None = None  # its own ERRAND_HOME, with fresh disks
    message: str = ""
    env: dict[str, str] = field(default_factory=dict)

    def resource(self) -> dict[str, object]:
        running = 1 if not self.outcome else 0
        body: dict[str, object] = {
            "name": self.name,
            "uid": self.name.rsplit("/", 1)[1],
            "job": self.job.rsplit("/", 1)[1],
            "createTime": self.created,
            "startTime": self.created,
            "taskCount": 1,
            "parallelism": 1,
            "runningCount": running,
            "succeededCount": int(self.outcome == "succeeded"),
            "failedCount": int(self.outcome == "failed"),
            "cancelledCount": int(self.outcome == "cancelled"),
            "reconciling": running == 1,
            "conditions": [self._condition()],
        }
        if self.finished:
            body["completionTime"] = self.finished
        return body

    def _condition(self) -> dict[str, object]:
        state = {"": "CONDITION_PENDING", "succeeded": "CONDITION_SUCCEEDED"}
        return {
            "type": "Completed",
            "state": state.get(self.outcome, "CONDITION_FAILED"),
            "message": self.message,
            "lastTransitionTime": self.finished or self.created,
        }


class RunJobs:
    def __init__(
        self, jobs: dict[str, list[str]], env: dict[str, str], logs: Path, fresh_disk: bool = False
    ) -> None:
        self._fresh_disk = fresh_disk
        self._jobs = jobs
        self._env = env
        self._logs = logs
        self._executions: dict[str, _Execution] = {}
        self._operations: dict[str, _Execution] = {}
        self._lock = threading.Lock()

    def run(self, name: str, body: dict[str, object]) -> dict[str, object]:
        job = name.rsplit("/", 1)[1]
        if job not in self._jobs:
            raise not_found(f"Resource '{job}' of kind 'JOB' does not exist.")
        args, env, timeout_s = _overrides(body.get("overrides") or {})
        location = name.rsplit("/jobs/", 1)[0]
        execution = _Execution(
            name=f"{name}/executions/{job}-{secrets.token_hex(3)}",
            job=name,
            operation=f"{location}/operations/{uuid.uuid4()}",
            created=_now(),
            env=env,
        )
        if self._fresh_disk:
            execution.disk = fresh_disk.make(self._env.get("ERRAND_HOME", ""))
            env = {**env, "ERRAND_HOME": str(execution.disk)}
        log = self._logs / f"{execution.name.rsplit('/', 1)[1]}.log"
        self._logs.mkdir(parents=True, exist_ok=True)
        fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        with os.fdopen(fd, "ab") as out:
            execution.process = subprocess.Popen(
                [*self._jobs[job], *args],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env={**self._env, **env},
                start_new_session=True,
            )
        with self._lock:
            self._executions[execution.name] = execution
            self._operations[execution.operation] = execution
        threading.Thread(target=self._watch, args=(execution, timeout_s), daemon=True).start()
        return self._operation(execution)

    def get_execution(self, name: str) -> dict[str, object]:
        return self._find(name).resource()

    def cancel(self, name: str) -> dict[str, object]:
        execution = self._find(name)
        if execution.outcome:
            # FAILED_PRECONDITION travels as HTTP 400 (google.rpc.Code's mapping)
            raise ApiError(400, f"Execution {name} has already finished.", "FAILED_PRECONDITION")
        execution.message = "The execution was cancelled."
        _stop(execution.process)
        return self._operation(execution)

    def get_operation(self, name: str) -> dict[str, object]:
        with self._lock:
            execution = self._operations.get(name)
        if execution is None:
            raise not_found(f"Operation {name} not found.")
        return self._operation(execution)

    def stop_all(self) -> None:
        with self._lock:
            running = [e for e in self._executions.values() if not e.outcome]
        for execution in running:
            _stop(execution.process)

    def _find(self, name: str) -> _Execution:
        with self._lock:
            execution = self._executions.get(name)
        if execution is None:
            raise not_found(
                f"Resource '{name.rsplit('/', 1)[1]}' of kind 'EXECUTION' does not exist."
            )
        return execution

    def _operation(self, execution: _Execution) -> dict[str, object]:
        resource = execution.resource()
        operation: dict[str, object] = {
            "name": execution.operation,
            "metadata": {"@type": _EXECUTION, **resource},
            "done": bool(execution.outcome),
        }
        if execution.outcome == "succeeded":
            operation["response"] = {"@type": _EXECUTION, **resource}
        elif execution.outcome:
            operation["error"] = {
                "code": 1 if execution.outcome == "cancelled" else 2,
                "message": execution.message,
            }
        return operation

    def _watch(self, execution: _Execution, timeout_s: float) -> None:
        process = execution.process
        assert process is not None
        try:
            code = process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            execution.message = f"Task was stopped: it exceeded its timeout of {timeout_s:g}s."
            _stop(process)
            code = process.wait()
        if execution.disk is not None:
            fresh_disk.clear(execution.disk)
        with self._lock:
            execution.finished = _now()
            if code == 0:
                execution.outcome = "succeeded"
                execution.message = "Execution completed successfully."
            elif execution.message.startswith("The execution was cancelled"):
                execution.outcome = "cancelled"
            else:
                execution.outcome = "failed"
                execution.message = execution.message or f"Task failed with exit code {code}."


def _overrides(overrides: object) -> tuple[list[str], dict[str, str], float]:
    if not isinstance(overrides, dict):
        raise invalid("overrides must be an object")
    count = overrides.get("taskCount", 1)
    if count not in (0, 1):
        raise invalid("this stand-in runs one task per execution: taskCount must be 1")
    containers = overrides.get("containerOverrides") or [{}]
    if not isinstance(containers, list) or len(containers) != 1:
        raise invalid("containerOverrides: the job has one container; give one override")
    container = containers[0]
    args = [str(a) for a in container.get("args") or []]
    env: dict[str, str] = {}
    for item in container.get("env") or []:
        if not isinstance(item, dict) or "name" not in item:
            raise invalid("containerOverrides.env items need a name and a value")
        env[str(item["name"])] = str(item.get("value", ""))
    timeout = str(overrides.get("timeout", "600s"))
    match = _DURATION.match(timeout)
    if not match:
        raise invalid(f"overrides.timeout {timeout!r} is not a duration like '3600s'")
    return args, env, float(match.group(1) + (match.group(2) or ""))


def _stop(process: subprocess.Popen[bytes] | None) -> None:
    if process is None or process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=_GRACE_S)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
