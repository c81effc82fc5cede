"""Fault injection: executions killed at every failpoint, the server killed alone, everything
killed at once at random moments, every stage delivered twice. Each task must end completed
(or failed with a reason), with one commit, one push, one summary, nothing left mounted or
running. The figures are printed and written to tests/bench/faults.json."""

from __future__ import annotations

import json
import random
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from jobs.zygote import SPARE_NAME
from shared.demo import make_sample_repo, turns_path
from shared.failpoints import NAMES
from tests.support.errand_server import (
    ErrandServer,
    events,
    home_processes,
    mounts_under,
    wait_all,
)
from tests.support.gitrepo import git

pytestmark = pytest.mark.e2e

FIGURES = Path(__file__).resolve().parents[1] / "bench" / "faults.json"
# every failpoint of a stage can fire in one task, so a stage may die up to 4 times
FAULT_ENV = {
    "ERRAND_FAILPOINTS": ",".join(sorted(NAMES)),
    "ERRAND_STAGE_ATTEMPTS": "6",
}


def record(name: str, survived: int, total: int, **extra: Any) -> None:
    figures = json.loads(FIGURES.read_text()) if FIGURES.exists() else {}
    figures[name] = {"survived": survived, "trials": total, **extra}
    FIGURES.write_text(json.dumps(figures, indent=2) + "\n")
    print(f"fault injection {name}: {survived}/{total} survived {extra}")


# the default retry budget: a power cut is no fault of the stage it interrupts, and is booked as
# an interruption rather than an attempt
POWER_CUT_ENV: dict[str, str] = {}


def _serve(home: Path, env: dict[str, str]) -> Iterator[ErrandServer]:
    srv = ErrandServer(home, env)
    srv.start()
    yield srv
    srv.stop()
    for mount in reversed(mounts_under(srv.home)):
        subprocess.run(["umount", "-l", mount], check=False)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ErrandServer]:
    yield from _serve(tmp_path / "home", FAULT_ENV)


@pytest.fixture
def plain_server(tmp_path: Path) -> Iterator[ErrandServer]:
    yield from _serve(tmp_path / "home", POWER_CUT_ENV)


def create(server: ErrandServer, repo: Path) -> str:
    task = server.api(
        "POST",
        "/api/tasks",
        json={
            "repo": str(repo),
            "prompt": "Fix the failing test: add() returns the wrong result",
            "model": f"scripted:{turns_path()}",
            "auto_approve": True,
        },
    )
    return str(task["id"])


def check_end_state(server: ErrandServer, tasks: dict[str, Any], repos: dict[str, Path]) -> int:
    """Asserts what no fault may break; returns how many tasks completed."""
    completed = 0
    for task_id, task in tasks.items():
        if task["status"] != "completed":
            assert task["status"] == "failed" and task["error"]["message"], task
            continue
        completed += 1
        repo = repos[task_id]
        commits = git(repo, "rev-list", "--count", f"main..{task['branch']}").strip()
        assert commits == "1", f"{task_id}: {commits} commits on {task['branch']}"
        kinds = Counter(e["kind"] for e in events(server, task_id))
        for once in ("pr_created", "audio_ready", "task_completed", "diff_ready"):
            assert kinds[once] == 1, f"{task_id}: {kinds[once]} {once} events"
        assert task["tests"]["after"]["failed"] == 0
    return completed


def assert_nothing_left(server: ErrandServer) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and mounts_under(server.home / "workspaces"):
        time.sleep(0.5)
    assert mounts_under(server.home / "workspaces") == []
    workspaces = server.home / "workspaces"
    left = [p.name for p in workspaces.iterdir() if p.is_dir()] if workspaces.exists() else []
    assert left == [], f"workspaces left behind: {left}"
    assert server.proc is not None
    # the job pool (and the one spare it forks ahead) stays while the server does; nothing else
    # may (no job, no sandbox)
    deadline = time.monotonic() + 10
    others: dict[int, bytes] = {}
    while time.monotonic() < deadline:
        pools = _pools(server)
        spares = {p for p in home_processes(server.home) if _parent(p) in pools and _spare(p)}
        running = set(home_processes(server.home)) - {server.proc.pid, *pools, *spares}
        others = {pid: _cmdline(pid) for pid in running}
        if not others:
            break
        time.sleep(0.2)
    assert others == {}, f"processes left running: {others}"


def test_every_failpoint_kills_an_execution_and_every_task_still_completes_once(
    server: ErrandServer, tmp_path: Path
) -> None:
    repos = {}
    for i in range(3):
        repo = make_sample_repo(tmp_path / f"calc{i}")
        repos[create(server, repo)] = repo
    tasks = wait_all(server, list(repos), timeout_s=900)
    fired = list((server.home / "failpoints").iterdir())
    completed = check_end_state(server, tasks, repos)
    for task_id in repos:  # the execution killed after step 1 went on from its checkpoint
        logs = [e["data"]["data"].get("message", "") for e in events(server, task_id)]
        assert logs.count("resuming from the checkpoint after step 1") == 1, task_id
    assert completed == len(repos), {t: v.get("error") for t, v in tasks.items()}
    assert len(fired) == len(NAMES) * len(repos), sorted(p.name for p in fired)
    assert_nothing_left(server)
    record("failpoints", len(fired), len(fired), tasks=len(repos), failpoints=len(NAMES))


def test_killing_everything_at_random_moments_loses_no_task(
    plain_server: ErrandServer, tmp_path: Path
) -> None:
    """A power cut: the server, its pool, every execution and sandbox die at once; the next
    `errand up` resumes every task, at once (not when the leases run out)."""
    server = plain_server
    rng = random.Random(7)
    repos = {}
    for i in range(3):
        repo = make_sample_repo(tmp_path / f"calc{i}")
        repos[create(server, repo)] = repo
    kills = 0
    for _ in range(6):
        time.sleep(rng.uniform(1.0, 5.0))
        statuses = {server.api("GET", f"/api/tasks/{t}")["status"] for t in repos}
        if statuses <= {"completed", "failed"}:
            break
        server.kill_everything()
        kills += 1
        server.start()
    tasks = wait_all(server, list(repos), timeout_s=900)
    completed = check_end_state(server, tasks, repos)
    assert completed == len(repos), {t: v.get("error") for t, v in tasks.items()}
    assert_nothing_left(server)
    assert kills >= 3
    record("power_cuts", kills, kills, tasks=len(repos))


def test_a_server_killed_alone_takes_its_pool_and_its_jobs_finish(
    plain_server: ErrandServer, tmp_path: Path
) -> None:
    server = plain_server
    repos = {}
    for i in range(2):
        repo = make_sample_repo(tmp_path / f"calc{i}")
        repos[create(server, repo)] = repo
    time.sleep(3)
    server.kill_server_only()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and _pools(server):
        time.sleep(0.1)
    assert _pools(server) == [], "the job pool outlived its server"
    server.start()
    assert len(_pools(server)) == 1
    tasks = wait_all(server, list(repos), timeout_s=600)
    assert check_end_state(server, tasks, repos) == len(repos)
    assert_nothing_left(server)
    record("server_kills", 1, 1, tasks=len(repos))


def _pools(server: ErrandServer) -> list[int]:
    """Job pool processes: executions are forks of the pool with its command line, so the pool
    is the one whose parent is not a pool."""
    found = set(home_processes(server.home))
    zygotes = {pid for pid in found if b"jobs.zygote" in _cmdline(pid)}
    return sorted(pid for pid in zygotes if _parent(pid) not in zygotes)


def _spare(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/comm").read_bytes().strip() == SPARE_NAME
    except OSError:
        return False


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def _parent(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError):
        return -1
