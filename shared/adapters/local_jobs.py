"""Local Jobs adapters: one stage = one child process running the job entrypoint.

`WarmPool` forks executions from a zygote that has already imported everything (see
jobs/zygote.py); `ProcessJobs` starts a fresh interpreter per stage. Both are real executions
that can crash independently of the server."""

from __future__ import annotations

import json
import secrets
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from shared import paths
from shared.domain import StageRequest
from shared.errors import ErrandError


class JobStartError(ErrandError):
    code = "job_start_failed"
    http_status = 503


def new_execution_id(request: StageRequest) -> str:
    return f"{request.task_id}-{request.stage.value}-{request.round}-{secrets.token_hex(3)}"


class WarmPool:
    """Supervises the zygote process. Contract: run() returns once the execution has started."""

    def __init__(self, home: Path, env: dict[str, str], start_timeout_s: float = 60.0) -> None:
        self._home = home
        self._env = env
        self._timeout = start_timeout_s
        self._socket = paths.jobs_dir(home) / "zygote.sock"
        self._proc: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()

    def start(self) -> None:
        with self._lock:
            if self._proc is not None and self._proc.poll() is None:
                return
            paths.jobs_dir(self._home).mkdir(parents=True, exist_ok=True)
            log = open(paths.jobs_dir(self._home) / "zygote.log", "ab")  # noqa: SIM115
            self._proc = subprocess.Popen(
                [sys.executable, "-m", "jobs.zygote", str(self._socket)],
                stdout=subprocess.PIPE,
                stderr=log,
                env=self._env,
            )
            log.close()
            assert self._proc.stdout is not None
            deadline = time.monotonic() + self._timeout
            line = self._proc.stdout.readline()
            if line.strip() != b"ready" or time.monotonic() > deadline:
                self._proc.kill()
                raise JobStartError(
                    f"the job pool did not start; see {paths.jobs_dir(self._home) / 'zygote.log'}"
                )

    def stop(self) -> None:
        with self._lock:
            if self._proc is not None and self._proc.poll() is None:
                self._proc.terminate()
                try:
                    self._proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    self._proc.kill()
            self._proc = None

    def run(self, request: StageRequest) -> str:
        if self._proc is None or self._proc.poll() is not None:
            self.start()  # supervised restart after the zygote died
        execution_id = new_execution_id(request)
        msg = json.dumps({"request": request.model_dump(mode="json"), "execution_id": execution_id})
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
                s.settimeout(10)
                s.connect(str(self._socket))
                s.sendall(msg.encode() + b"\n")
                reply = json.loads(s.makefile("rb").readline() or b"{}")
        except (OSError, ValueError) as exc:
            raise JobStartError(f"could not reach the job pool: {exc}") from exc
        if "pid" not in reply:
            raise JobStartError(f"the job pool refused the job: {reply.get('error', reply)}")
        return execution_id


class ProcessJobs:
    """A fresh `python -m jobs.entrypoint` per stage (no warm pool)."""

    def __init__(
        self, home: Path, env: dict[str, str], on_crash: Callable[[StageRequest, str, str], None]
    ) -> None:
        self._home = home
        self._env = env
        self._on_crash = on_crash

    def run(self, request: StageRequest) -> str:
        execution_id = new_execution_id(request)
        log_path = paths.job_log(self._home, execution_id)
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(log_path, "ab") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "jobs.entrypoint", request.model_dump_json()],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=self._env,
                start_new_session=True,
            )
        threading.Thread(
            target=self._watch, args=(proc, request, str(log_path)), daemon=True
        ).start()
        return execution_id

    def _watch(self, proc: subprocess.Popen[bytes], request: StageRequest, log_path: str) -> None:
        code = proc.wait()
        if code != 0:
            how = f"was killed by signal {-code}" if code < 0 else f"exited with code {code}"
            self._on_crash(request, how, log_path)
