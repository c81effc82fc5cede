"""`errand up` as a subprocess on a private home, and the ways a machine kills it: for the
crash and fault-injection tests."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from shared.stack import read_server_file

ROOT = Path(__file__).resolve().parents[2]
TERMINAL = ("completed", "failed", "cancelled")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def errand_env(home: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ERRAND_")}
    env.update(
        {
            "ERRAND_HOME": str(home),
            "ERRAND_SPEECH": "espeak",
            "PYTHONPATH": str(ROOT),
            "ERRAND_MODEL_PRICE": "1.5,6",
        }
    )
    env.update(extra or {})
    return env


def up(port: int, env: dict[str, str], timeout_s: float = 60) -> subprocess.Popen[str]:
    """`errand up --port PORT`, once it answers /api/health; its output is kept in a pipe."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "shared.cli", "up", "--port", str(port)],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise AssertionError(f"errand up did not start:\n{proc.communicate()[0]}")


class ErrandServer:
    """One `errand up`; `start()` again after a kill restarts it on the same home and port."""

    def __init__(self, home: Path, env: dict[str, str] | None = None) -> None:
        self.home, self.port = home, free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = errand_env(home, env)
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = home.parent / "server.log"

    def start(self, timeout_s: float = 90) -> None:
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "shared.cli", "up", "--port", str(self.port)],
                env=self.env,
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"errand up exited:\n{self.log.read_text()[-3000:]}")
            try:
                healthy = httpx.get(self.url + "/api/health", timeout=1).status_code == 200
                if healthy and read_server_file(self.home) is not None:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"errand up did not start:\n{self.log.read_text()[-3000:]}")

    @property
    def auth(self) -> dict[str, str]:
        info = read_server_file(self.home)
        assert info is not None
        return {"authorization": f"Bearer {info.token}"}

    def api(self, method: str, path: str, **kwargs: Any) -> Any:
        resp = httpx.request(method, self.url + path, headers=self.auth, timeout=30, **kwargs)
        assert resp.status_code < 300, (resp.status_code, resp.text)
        return resp.json()

    def kill_server_only(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait()

    def kill_everything(self) -> None:
        """What a power cut or an OOM kill of the whole tree does: the server, its job pool,
        every stage execution and every sandboxed command die at once (frozen first, so none
        sees another go and reacts)."""
        assert self.proc is not None
        victims = [self.proc.pid, *descendants(self.proc.pid), *home_processes(self.home)]
        victims = sorted(set(victims))
        for pid in victims:
            _signal(pid, signal.SIGSTOP)
        for pid in victims:
            _signal(pid, signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def _signal(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


def _parent(pid: str) -> int:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return -1
    return int(stat.rsplit(")", 1)[1].split()[1])


def descendants(root: int) -> list[int]:
    parents = {int(p): _parent(p) for p in os.listdir("/proc") if p.isdigit()}
    found, frontier = [], {root}
    while frontier:
        children = {pid for pid, parent in parents.items() if parent in frontier}
        found.extend(children)
        frontier = children
    return found


def home_processes(home: Path) -> list[int]:
    """Processes started for this home: their environment names it (jobs, sandboxes and the
    pool inherit ERRAND_HOME; a new session does not hide them)."""
    needle = f"ERRAND_HOME={home}".encode()
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            environ = Path(f"/proc/{entry}/environ").read_bytes()
        except OSError:
            continue
        if needle in environ.split(b"\0"):
            found.append(int(entry))
    return found


def mounts_under(path: Path) -> list[str]:
    text = Path("/proc/self/mountinfo").read_text()
    return [line.split()[4] for line in text.splitlines() if line.split()[4].startswith(str(path))]


def wait_all(server: ErrandServer, ids: list[str], timeout_s: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    tasks: dict[str, Any] = {}
    while time.monotonic() < deadline:
        tasks = {t: server.api("GET", f"/api/tasks/{t}") for t in ids}
        if all(task["status"] in TERMINAL for task in tasks.values()):
            return tasks
        time.sleep(0.5)
    stuck = {t: task["status"] for t, task in tasks.items() if task["status"] not in TERMINAL}
    raise AssertionError(f"tasks did not finish in {timeout_s:.0f} s: {stuck}")


def events(server: ErrandServer, task_id: str) -> list[dict[str, Any]]:
    """The task's whole event log (the stream ends after its terminal status)."""
    text = httpx.get(
        f"{server.url}/api/tasks/{task_id}/events", headers=server.auth, timeout=30
    ).text
    out = []
    for block in text.split("\n\n"):
        kind = next((ln[7:] for ln in block.splitlines() if ln.startswith("event: ")), "")
        data = next((ln[6:] for ln in block.splitlines() if ln.startswith("data: ")), "")
        if kind and data:
            out.append({"kind": kind, "data": json.loads(data)})
    return out
