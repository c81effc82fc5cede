"""A real `errand up` on a free loopback port with a private ERRAND_HOME, for tests and
benchmarks that talk to it from another process (raw sockets, httpx, schemathesis)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import httpx

from shared.stack import read_server_file

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LiveServer:
    def __init__(self, home: Path, port: int, proc: subprocess.Popen[bytes]) -> None:
        self.home, self.port, self.proc = home, port, proc
        self.url = f"http://127.0.0.1:{port}"
        self.host = f"127.0.0.1:{port}"

    @property
    def token(self) -> str:
        info = read_server_file(self.home)
        assert info is not None, "server.json is missing"
        return info.token

    @property
    def auth(self) -> dict[str, str]:
        return {"authorization": f"Bearer {self.token}"}

    def connect(self, timeout: float = 10.0) -> socket.socket:
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=timeout)
        sock.settimeout(timeout)
        return sock


def server_env(home: Path, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ERRAND_")}
    env.update(
        {
            "ERRAND_HOME": str(home),
            "ERRAND_SPEECH": "piper",
            "ERRAND_MODEL_PRICE": "1.5,6",
            "PYTHONPATH": str(ROOT),
        }
    )
    env.update(extra or {})
    return env


@contextmanager
def live_server(home: Path, env: Mapping[str, str] | None = None) -> Iterator[LiveServer]:
    port = free_port()
    log = open(home.parent / f"server-{port}.log", "wb")  # noqa: SIM115 (closed below)
    proc = subprocess.Popen(
        [sys.executable, "-m", "shared.cli", "up", "--port", str(port)],
        env=server_env(home, env),
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    srv = LiveServer(home, port, proc)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(srv.url + "/api/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"server did not start: {log.name}")
            time.sleep(0.2)
        yield srv
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def log_text(srv: LiveServer) -> str:
    return (srv.home.parent / f"server-{srv.port}.log").read_text(errors="replace")
