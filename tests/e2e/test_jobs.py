"""The job shim: a stage execution that dies must not leave its task stuck."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from jobs.zygote import SPARE_NAME
from shared import paths
from shared.adapters.local_jobs import WarmPool
from shared.client import LocalClient
from shared.domain import Stage, StageRequest
from shared.services import CreateTask
from shared.settings import Settings
from shared.stack import Stack
from tests.e2e.conftest import release_workspaces
from tests.support.gitrepo import make_repo

pytestmark = pytest.mark.e2e


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    s = Stack(Settings(home=tmp_path / "home"))
    s.start()
    yield s
    s.stop()
    release_workspaces(s.settings.home)


def processes(match: Callable[[str, bytes], bool]) -> list[int]:
    """Pids whose /proc/<pid>/stat and cmdline satisfy `match`."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
                cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
            except OSError:
                continue
            if match(stat, cmdline):
                found.append(int(entry))
    return found


def children_of(pid: int) -> list[int]:
    return processes(lambda stat, _: int(stat.rsplit(")", 1)[1].split()[1]) == pid)


def session_leaders(pids: list[int]) -> list[int]:
    leaders = []
    for pid in pids:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[3]) == pid:
            leaders.append(pid)
    return leaders


def _sleepers() -> list[int]:
    return processes(lambda _, cmd: cmd.split(b"\0")[:2] == [b"sleep", b"120"])


def test_a_stage_whose_executions_keep_dying_fails_after_its_attempts(
    tmp_path: Path, stack: Stack
) -> None:
    """Each killed execution is delivered again (a new process); once the stage has been
    started ERRAND_STAGE_ATTEMPTS times the task fails, saying how the last one died."""
    repo = make_repo(tmp_path / "slow", {"AGENTS.md": "Test command: `sleep 60`\n", "a.txt": "a\n"})
    client = LocalClient(stack)
    task = client.create(CreateTask(repo=str(repo), prompt="anything", model="openai/gpt-4o-mini"))
    pool = stack.deps.jobs
    zygote = pool._proc  # type: ignore[attr-defined]
    assert zygote is not None
    killed: set[int] = set()
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and client.get(task["id"])["status"] in (
        "queued",
        "preparing",
    ):
        # stage executions lead their own session; the pool's crash reporters do not
        for pid in set(session_leaders(children_of(zygote.pid))) - killed:
            os.kill(pid, signal.SIGKILL)
            killed.add(pid)
        time.sleep(0.05)
    final = client.get(task["id"])
    attempts = stack.settings.stage_attempts
    assert final["status"] == "failed", final
    assert final["error"]["code"] == "stage_retries_exhausted"
    assert f"started {attempts} times" in final["error"]["message"]
    assert "killed by signal SIGKILL" in final["error"]["message"]
    assert len(killed) >= attempts


def test_cancel_stops_a_running_stage_and_its_sandbox_at_once(tmp_path: Path, stack: Stack) -> None:
    repo = make_repo(
        tmp_path / "slow", {"AGENTS.md": "Test command: `sleep 120`\n", "a.txt": "a\n"}
    )
    client = LocalClient(stack)
    task = client.create(CreateTask(repo=str(repo), prompt="anything", model="openai/gpt-4o-mini"))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not _sleepers():
        time.sleep(0.1)
    assert _sleepers(), "the test command never started"
    started = time.monotonic()
    client.cancel(task["id"])
    while time.monotonic() - started < 15 and _sleepers():
        time.sleep(0.1)
    assert not _sleepers(), "the sandboxed command outlived the cancelled task"
    assert time.monotonic() - started < 5
    assert client.get(task["id"])["status"] == "cancelled"


def test_cancelling_a_task_parked_at_a_gate_releases_its_workspace(
    tmp_path: Path, stack: Stack
) -> None:
    from shared.demo import make_sample_repo, turns_path

    client = LocalClient(stack)
    repo = make_sample_repo(tmp_path / "calc")
    task = client.create(
        CreateTask(repo=str(repo), prompt="Fix add", model=f"scripted:{turns_path()}")
    )
    for event in client.events(task["id"]):
        if event.kind.value == "status" and event.data.get("status") == "plan_review":
            break
    workspace = paths.workspace(stack.settings.home, task["id"])
    assert workspace.is_dir()
    client.cancel(task["id"])
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and workspace.exists():
        time.sleep(0.1)
    assert not workspace.exists() and not os.path.ismount(workspace)


def test_a_stage_that_can_never_start_fails_the_task(tmp_path: Path) -> None:
    settings = Settings(
        home=tmp_path / "home",
        jobs="container",
        job_image="errand-no-such-image",
        queue_max_attempts=2,
        queue_min_backoff_s=0.1,
        queue_max_backoff_s=0.2,
    )
    s = Stack(settings)
    client = LocalClient(s)
    try:
        task = client.create(CreateTask(repo=str(tmp_path), prompt="x", model="openai/x"))
        final = [e for e in client.events(task["id"]) if e.kind.value == "status"][-1]
    finally:
        s.stop()
    assert final.data["status"] == "failed"
    error = client.get(task["id"])["error"]
    assert error["code"] == "delivery_failed" and "after 2 attempts" in error["message"]


def _spares(pool_pid: int) -> list[int]:
    """The pool's children waiting as its spare (not zombies: a killed one until reaped)."""
    found = []
    for pid in children_of(pool_pid):
        try:
            comm = Path(f"/proc/{pid}/comm").read_bytes().strip()
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if comm == SPARE_NAME and state != "Z":
            found.append(pid)
    return found


def test_the_pool_forks_ahead_and_a_dead_spare_costs_nothing(tmp_path: Path) -> None:
    home = tmp_path / "home"
    pool = WarmPool(home, {**os.environ, "ERRAND_HOME": str(home)})
    pool.start()
    try:
        assert pool._proc is not None
        deadline = time.monotonic() + 10
        while not (spares := _spares(pool._proc.pid)) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(spares) == 1, "the pool keeps one execution forked ahead"
        os.kill(spares[0], signal.SIGKILL)
        # (one killed at the moment of the hand-over takes its request with it, as any
        # execution killed early does: its lease expires and the stage is delivered again)
        while _spares(pool._proc.pid):
            time.sleep(0.01)
        ran = []
        for n in range(2):  # the first finds its spare dead; the second gets a fresh one
            request = StageRequest(task_id=f"t_missing{n}", stage=Stage.PLAN)
            execution = pool.run(request)
            log = paths.job_log(home, execution)
            deadline = time.monotonic() + 30
            while "does not exist" not in (log.read_text() if log.exists() else ""):
                assert time.monotonic() < deadline, f"execution {execution} never ran"
                time.sleep(0.05)
            ran.append(int(paths.execution_record(home, execution).read_text().split()[0]))
        spares = _spares(pool._proc.pid)
        assert len(spares) == 1 and spares[0] not in ran  # forked ahead again
    finally:
        pool.stop()
    deadline = time.monotonic() + 10
    while _alive(spares[0]):  # its pipe closed with the pool: it exits
        assert time.monotonic() < deadline, "a spare outlived its pool"
        time.sleep(0.05)


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False
