"""`errand up` as users run it: a real uvicorn server on a free port, the CLI talking to it,
live streams."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from shared.demo import make_sample_repo, turns_path
from shared.stack import read_server_file
from tests.e2e.conftest import ERRAND, ROOT, errand_env
from tests.support.errand_server import up

pytestmark = pytest.mark.e2e


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    def __init__(self, home: Path, port: int, proc: subprocess.Popen[str]) -> None:
        self.home, self.port, self.proc = home, port, proc
        self.url = f"http://127.0.0.1:{port}"

    def cli(
        self, *args: str, timeout: float = 180, cwd: Path = ROOT
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*ERRAND, *args],
            env=errand_env(self.home),
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=cwd,
        )

    @property
    def auth(self) -> dict[str, str]:
        info = read_server_file(self.home)
        assert info is not None
        return {"authorization": f"Bearer {info.token}"}

    def threads(self) -> int:
        status = Path(f"/proc/{self.proc.pid}/status").read_text()
        return int(
            next(line.split()[1] for line in status.splitlines() if line.startswith("Threads:"))
        )


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    home, port = tmp_path / "home", free_port()
    proc = up(port, errand_env(home))
    srv = Server(home, port, proc)
    yield srv
    proc.terminate()
    proc.wait(timeout=20)
    # stopping the server stops its job pool and forgets the server file
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and pool_processes(home):
        time.sleep(0.2)
    assert not pool_processes(home), "the job pool outlived the server"
    assert not (home / "server.json").exists()


def pool_processes(home: Path) -> list[str]:
    found = []
    for entry in os.listdir("/proc"):
        try:
            cmd = Path(f"/proc/{entry}/cmdline").read_bytes()
        except OSError:
            continue
        if b"jobs.zygote" in cmd and str(home).encode() in cmd:
            found.append(entry)
    return found


def test_cli_uses_the_server_and_watch_shows_stages_live(server: Server, tmp_path: Path) -> None:
    repo = make_sample_repo(tmp_path / "calc")
    created = server.cli(
        "task",
        "create",
        "--repo",
        str(repo),
        "--prompt",
        "Fix add",
        "--model",
        f"scripted:{turns_path()}",
        "--auto-approve",
        "--json",
    )
    assert created.returncode == 0, created.stderr
    task_id = created.stdout.split('"id": "')[1].split('"')[0]
    watch = server.cli("task", "watch", task_id)
    out = watch.stdout
    assert watch.returncode == 0, watch.stderr
    stages = [
        "preparing",
        "planning",
        "executing",
        "verifying",
        "publishing",
        "summarizing",
        "completed",
    ]
    positions = [out.index(f"== {s}") for s in stages]
    assert positions == sorted(positions), out
    assert "-> bash" in out and "spoken summary ready" in out
    shown = httpx.get(f"{server.url}/api/tasks/{task_id}", headers=server.auth).json()
    assert shown["status"] == "completed"
    # the audio player gets a short-lived signed URL: no token, and only for this blob
    url = shown["audio"]["url"]
    assert "token" not in url and "sig=" in url
    audio = httpx.get(url)
    assert audio.status_code == 200 and audio.headers["content-type"] == "audio/mpeg"
    assert len(audio.content) > 10_000
    forged = url[:-4] + ("0000" if not url.endswith("0000") else "1111")
    assert httpx.get(forged).status_code in (401, 404)
    other = url.replace("summary.mp3", "summary.txt")
    assert httpx.get(other).status_code in (401, 404)
    assert httpx.get(other, headers=server.auth).status_code == 200  # its owner may


def test_hundreds_of_streams_without_a_thread_each(server: Server) -> None:
    # a git server that accepts and never answers keeps the task in prepare while streams open
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    repo = f"http://127.0.0.1:{silent.getsockname()[1]}/repo.git"
    task = httpx.post(
        f"{server.url}/api/tasks",
        json={"repo": repo, "prompt": "x", "model": "openai/x"},
        headers=server.auth,
    ).json()
    streams = 300
    baseline_threads = server.threads()

    async def one(client: httpx.AsyncClient, seen: list[int], opened: asyncio.Event) -> str:
        async with client.stream("GET", f"/api/tasks/{task['id']}/events") as resp:
            assert resp.status_code == 200
            seen.append(1)
            if len(seen) == streams:
                opened.set()
            body = ""
            async for chunk in resp.aiter_text():
                body += chunk
            return body

    async def run() -> tuple[list[str], int]:
        limits = httpx.Limits(max_connections=streams + 10)
        async with httpx.AsyncClient(
            base_url=server.url, limits=limits, timeout=120, headers=server.auth
        ) as client:
            seen: list[int] = []
            opened = asyncio.Event()
            tasks = [asyncio.create_task(one(client, seen, opened)) for _ in range(streams)]
            await asyncio.wait_for(opened.wait(), 60)
            await asyncio.sleep(0.5)
            peak = server.threads()
            assert not any(t.done() for t in tasks)  # all 300 are open at once
            await client.post(f"/api/tasks/{task['id']}/cancel", json={})
            return await asyncio.wait_for(asyncio.gather(*tasks), 60), peak

    try:
        bodies, peak = asyncio.run(run())
    finally:
        silent.close()
    assert all('"cancelled"' in body for body in bodies)  # every stream saw the end and closed
    assert peak - baseline_threads < 40, (baseline_threads, peak)
    assert os.path.exists(f"/proc/{server.proc.pid}")


def test_foreign_web_pages_cannot_drive_the_local_server(server: Server) -> None:
    body = '{"repo": "/tmp/x", "prompt": "evil", "model": "openai/x"}'
    # a cross-site form post (text/plain), a page with another origin, a rebinding Host
    form = httpx.post(
        f"{server.url}/api/tasks", content=body, headers={"content-type": "text/plain"}
    )
    other = httpx.post(
        f"{server.url}/api/tasks",
        content=body,
        headers={"content-type": "application/json", "origin": "http://evil.example"},
    )
    rebound = httpx.get(f"{server.url}/api/tasks", headers={"host": f"evil.example:{server.port}"})
    assert [r.status_code for r in (form, other, rebound)] == [401, 403, 403]
    # even with the token (which a foreign page cannot have), a form post is not JSON
    tokened = httpx.post(
        f"{server.url}/api/tasks",
        content=body,
        headers={"content-type": "text/plain", **server.auth},
    )
    assert tokened.status_code == 415
    assert "application/json" in tokened.json()["error"]["message"]
    assert httpx.get(f"{server.url}/api/tasks", headers=server.auth).json()["tasks"] == []
    anonymous = httpx.get(f"{server.url}/api/tasks")
    forged = httpx.get(f"{server.url}/api/tasks", headers={"authorization": "Bearer guess"})
    assert anonymous.status_code == forged.status_code == 401
    assert anonymous.headers["www-authenticate"] == "Bearer"
    assert "token" in anonymous.json()["error"]["message"]
    info = server.home / "server.json"
    assert info.stat().st_mode & 0o777 == 0o600
    same = httpx.get(f"{server.url}/api/health", headers={"origin": server.url})
    assert same.status_code == 200


def test_relative_paths_are_the_users_and_a_taken_port_is_explained(
    server: Server, tmp_path: Path
) -> None:
    make_sample_repo(tmp_path / "calc")
    model = f"scripted:{turns_path()}"
    created = server.cli(
        "task", "create", "--repo", "calc", "--prompt", "Fix add", "--model", model, "--json",
        cwd=tmp_path,
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    task = json.loads(created.stdout)
    assert task["repo"] == str(tmp_path / "calc")  # not the server's directory
    # the body of plan/approve is optional: a bare POST with the token is fine
    bare = httpx.post(f"{server.url}/api/tasks/{task['id']}/plan/approve", headers=server.auth)
    assert bare.status_code == 409 and bare.json()["error"]["code"] == "invalid_transition"
    cancelled = server.cli("task", "cancel", task["id"])
    assert cancelled.returncode == 0, cancelled.stderr  # done as asked
    second = server.cli("up", "--port", str(server.port), timeout=60)
    assert second.returncode == 2, second.stderr
    assert f"port {server.port} is in use" in second.stderr and "--port" in second.stderr
    assert "Errno" not in second.stderr
    log = ""
    server.proc.terminate()
    log = server.proc.communicate(timeout=30)[0]
    assert f"{task['id']} preparing" in log or f"{task['id']} cancelled" in log, log[-2000:]
    assert "HTTP Request" not in log
