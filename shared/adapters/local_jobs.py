"""Local Jobs adapters: one stage = one child process running the job entrypoint.

`WarmPool` forks executions from a zygote that has already imported everything (see
jobs/zygote.py); `ProcessJobs` starts a fresh interpreter per stage. Both are real executions
that can crash independently of the server."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from shared import paths
from shared.domain import Stage, StageRequest
from shared.errors import ErrandError


class JobStartError(ErrandError):
    code = "job_start_failed"
    http_status = 503


def new_execution_id(request: StageRequest) -> str:
    return f"{request.task_id}-{request.stage.value}-{request.round}-{secrets.token_hex(3)}"


def _boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


def _start_time(pid: int) -> str:
    """The process's start time in clock ticks since boot ('' when it does not exist): with
    the boot id it names one process, whatever pid reuse happens later."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    return stat.rsplit(")", 1)[1].split()[19]


def record_process(home: Path, execution_id: str, pid: int) -> None:
    """Notes which process runs an execution, so that a later server can tell it is gone."""
    record = f"{pid} {_start_time(pid)} {_boot_id()}"
    paths.execution_record(home, execution_id).write_text(record)


def process_gone(home: Path, execution_id: str) -> bool:
    """True when the execution's process surely no longer runs on this machine."""
    try:
        pid, started, boot = paths.execution_record(home, execution_id).read_text().split()
    except (OSError, ValueError):
        return False  # not ours, or not yet recorded: the lease's expiry decides
    if boot != _boot_id():
        return True
    return _start_time(int(pid)) != started


POOL_RECORD = "zygote"
LOCAL_JOBS = ("pool", "process")  # the runners that count their executions


class Running:
    """The executions this adapter started that still run: what a machine's capacity is
    counted in (see NewWorkGate)."""

    def __init__(self, home: Path) -> None:
        self._home = home
        self._ids: set[str] = set()
        self._lock = threading.Lock()

    def add(self, execution_id: str) -> None:
        with self._lock:
            self._ids.add(execution_id)

    def count(self) -> int:
        with self._lock:
            self._ids = {e for e in self._ids if not process_gone(self._home, e)}
            return len(self._ids)


class NewWorkGate:
    """Holds the deliveries that start a task's work (prepare) while the machine already runs
    `limit` executions, so that 50 tasks submitted at once wait in `queued` instead of
    thrashing two cores with 50 sandboxes; stages of tasks already under way always go, so
    admitted tasks finish first. `starting` counts prepares delivered but not yet started."""

    def __init__(self, running: Callable[[], int], limit: int) -> None:
        self._running = running
        self._limit = limit

    def governs(self, body: bytes) -> bool:
        try:
            return StageRequest.model_validate_json(body).stage == Stage.PREPARE
        except ValueError:
            return False  # dispatch refuses it, with the reason

    def has_room(self, starting: int) -> bool:
        return self._running() + starting < self._limit


def _stop_stale_pool(home: Path) -> None:
    """A pool left by a server that died before the pool noticed (it polls for that) is
    stopped, so a restart never runs two pools on one home."""
    record = paths.execution_record(home, POOL_RECORD)
    if process_gone(home, POOL_RECORD) or not record.exists():
        return
    pid = int(record.read_text().split()[0])
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


class WarmPool:
    """Supervises the zygote process. Contract: run() returns once the execution has started."""

    def __init__(self, home: Path, env: dict[str, str], start_timeout_s: float = 60.0) -> None:
        self._home = home
        self._env = env
        self._timeout = start_timeout_s
        self._socket = paths.jobs_dir(home) / "zygote.sock"
        self._proc: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()
        self.running = Running(home)

    def start(self) -> None:
        with self._lock:
            if self._proc is not None and self._proc.poll() is None:
                return
            paths.jobs_dir(self._home).mkdir(parents=True, exist_ok=True)
            _stop_stale_pool(self._home)
            log = open(paths.jobs_dir(self._home) / "zygote.log", "ab")  # noqa: SIM115
            self._proc = subprocess.Popen(
                [sys.executable, "-m", "jobs.zygote", str(self._socket)],
                stdout=subprocess.PIPE,
                stderr=log,
                env=self._env,
            )
            log.close()
            record_process(self._home, POOL_RECORD, self._proc.pid)
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
        record_process(self._home, execution_id, int(reply["pid"]))
        self.running.add(execution_id)
        return execution_id

    def gone(self, execution: str) -> bool:
        return process_gone(self._home, execution)


class ProcessJobs:
    """A fresh `python -m jobs.entrypoint` per stage (no warm pool)."""

    def __init__(
        self, home: Path, env: dict[str, str], on_crash: Callable[[StageRequest, str, str], None]
    ) -> None:
        self._home = home
        self._env = env
        self._on_crash = on_crash
        self.running = Running(home)

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
        record_process(self._home, execution_id, proc.pid)
        self.running.add(execution_id)
        threading.Thread(
            target=self._watch, args=(proc, request, str(log_path)), daemon=True
        ).start()
        return execution_id

    def gone(self, execution: str) -> bool:
        return process_gone(self._home, execution)

    def _watch(self, proc: subprocess.Popen[bytes], request: StageRequest, log_path: str) -> None:
        code = proc.wait()
        if code != 0:
            how = f"was killed by signal {-code}" if code < 0 else f"exited with code {code}"
            self._on_crash(request, how, log_path)
