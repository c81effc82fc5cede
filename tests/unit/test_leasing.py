"""Dispatch under leases and the sweeper, on the in-memory store and queue."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from shared import leasing
from shared.domain import Stage, StageRequest, Status, Task, now
from shared.fakes import MemoryQueue, MemoryStore
from shared.services import transition
from shared.settings import Settings
from shared.wiring import Deps


class FakeJobs:
    def __init__(self) -> None:
        self.started: list[StageRequest] = []
        self.dead: set[str] = set()

    def run(self, request: StageRequest) -> str:
        self.started.append(request)
        return f"exec-{len(self.started)}"

    def gone(self, execution: str) -> bool:
        return execution in self.dead


@pytest.fixture
def deps(tmp_path: Path) -> Deps:
    d = Deps(Settings(home=tmp_path, stage_attempts=3))
    d.store = MemoryStore()  # type: ignore[misc]
    d.local_queue = MemoryQueue()  # type: ignore[misc,assignment]
    d.jobs = FakeJobs()  # type: ignore[misc]
    return d


def jobs(deps: Deps) -> FakeJobs:
    assert isinstance(deps.jobs, FakeJobs)
    return deps.jobs


def queue(deps: Deps) -> MemoryQueue:
    assert isinstance(deps.queue, MemoryQueue)
    return deps.queue


def new_task(deps: Deps, status: Status = Status.QUEUED) -> Task:
    task = deps.store.create_task(Task(repo="/r", prompt="p", model="m"))
    path = [Status.PREPARING, Status.PLANNING, Status.PLAN_REVIEW, Status.EXECUTING]
    for step in path[: path.index(status) + 1] if status in path else []:
        task = transition(deps.store, task, step)
    return task


def expire(deps: Deps, task_id: str) -> None:
    lease = deps.leases.get_lease(task_id)
    assert lease is not None
    gone = lease.model_copy(update={"expires_at": now() - timedelta(seconds=1)})
    assert deps.leases.put_lease(gone, lease.holder)


def test_a_redelivery_of_a_running_stage_starts_nothing(deps: Deps) -> None:
    task = new_task(deps)
    request = StageRequest(task_id=task.id, stage=Stage.PREPARE)
    first = leasing.start_stage(deps, request)
    second = leasing.start_stage(deps, request)
    assert (first.result, second.result) == ("started", "already_started")
    assert len(jobs(deps).started) == 1
    started = jobs(deps).started[0]
    lease = deps.leases.get_lease(task.id)
    assert lease is not None and started.holder == lease.holder and lease.execution == "exec-1"


def test_an_expired_lease_is_delivered_again_then_the_task_fails(deps: Deps) -> None:
    task = new_task(deps, Status.EXECUTING)
    request = StageRequest(task_id=task.id, stage=Stage.EXECUTE)
    assert leasing.start_stage(deps, request).result == "started"
    for attempt in (1, 2):
        expire(deps, task.id)
        report = leasing.sweep(deps)
        assert report.redelivered == [task.id]
        (again,) = queue(deps).pop_all()
        assert again.attempt == attempt and again.stage_key() == request.stage_key()
        assert leasing.start_stage(deps, again).result == "started"
        lease = deps.leases.get_lease(task.id)
        assert lease is not None and lease.attempts == attempt + 1
    expire(deps, task.id)
    report = leasing.sweep(deps)
    assert report.failed == [task.id] and queue(deps).pop_all() == []
    failed = deps.store.get_task(task.id)
    assert failed.status == Status.FAILED and failed.error is not None
    assert failed.error.code == "stage_retries_exhausted"
    assert "started 3 times" in failed.error.message
    assert deps.leases.get_lease(task.id) is None


def test_restarts_of_the_server_do_not_spend_the_retry_budget(deps: Deps) -> None:
    """Five power cuts during one stage (budget 3): each is an interruption, and the stage still
    has its whole budget for failures of its own afterwards."""
    task = new_task(deps, Status.EXECUTING)
    request = StageRequest(task_id=task.id, stage=Stage.EXECUTE)
    assert leasing.start_stage(deps, request).result == "started"
    for cut in range(1, 6):
        expire(deps, task.id)
        report = leasing.sweep(deps, scan_tasks=True, restarted=True)
        assert report.redelivered == [task.id] and report.failed == []
        (again,) = queue(deps).pop_all()
        assert leasing.start_stage(deps, again).result == "started"
        lease = deps.leases.get_lease(task.id)
        assert lease is not None and (lease.attempts, lease.interruptions) == (cut + 1, cut)
    for _ in (1, 2):  # two failures of its own: still within the budget of 3 starts
        expire(deps, task.id)
        assert leasing.sweep(deps).redelivered == [task.id]
        (again,) = queue(deps).pop_all()
        assert leasing.start_stage(deps, again).result == "started"
    expire(deps, task.id)
    assert leasing.sweep(deps).failed == [task.id]
    failed = deps.store.get_task(task.id)
    assert failed.error is not None and failed.error.code == "stage_retries_exhausted"
    assert "started 3 times" in failed.error.message


def test_a_stage_that_keeps_taking_the_server_down_fails_at_last(deps: Deps) -> None:
    task = new_task(deps)
    assert leasing.start_stage(deps, StageRequest(task_id=task.id, stage=Stage.PREPARE))
    for _ in range(leasing.MAX_INTERRUPTIONS):
        expire(deps, task.id)
        assert leasing.sweep(deps, scan_tasks=True, restarted=True).redelivered == [task.id]
        (again,) = queue(deps).pop_all()
        assert leasing.start_stage(deps, again).result == "started"
    expire(deps, task.id)
    assert leasing.sweep(deps, scan_tasks=True, restarted=True).failed == [task.id]
    failed = deps.store.get_task(task.id)
    assert failed.error is not None and failed.error.code == "stage_interrupted"
    assert f"{leasing.MAX_INTERRUPTIONS + 1} restarts" in failed.error.message
    assert deps.leases.get_lease(task.id) is None


def test_a_crash_report_gives_the_reason_and_redelivers_at_once(deps: Deps) -> None:
    task = new_task(deps)
    assert leasing.start_stage(deps, StageRequest(task_id=task.id, stage=Stage.PREPARE))
    started = jobs(deps).started[0]
    leasing.break_lease(deps, started, "its job was killed by signal SIGKILL")
    assert leasing.sweep(deps).redelivered == [task.id]
    (again,) = queue(deps).pop_all()
    leasing.start_stage(deps, again)
    lease = deps.leases.get_lease(task.id)
    assert lease is not None and "SIGKILL" in lease.last_error


def test_a_gone_execution_is_taken_over_before_its_lease_expires(deps: Deps) -> None:
    task = new_task(deps)
    request = StageRequest(task_id=task.id, stage=Stage.PREPARE)
    leasing.start_stage(deps, request)
    jobs(deps).dead.add("exec-1")
    again = request.model_copy(update={"attempt": 1})
    assert leasing.start_stage(deps, again).result == "started"
    assert len(jobs(deps).started) == 2


def test_the_next_stage_takes_over_from_a_finished_one_still_holding(deps: Deps) -> None:
    task = new_task(deps)
    leasing.start_stage(deps, StageRequest(task_id=task.id, stage=Stage.PREPARE))
    task = transition(deps.store, deps.store.get_task(task.id), Status.PREPARING)
    task = transition(deps.store, task, Status.PLANNING)
    started = leasing.start_stage(deps, StageRequest(task_id=task.id, stage=Stage.PLAN))
    assert started.result == "started"
    lease = deps.leases.get_lease(task.id)
    assert lease is not None and lease.request.stage == Stage.PLAN and lease.attempts == 1


def test_a_stage_that_died_after_moving_the_task_on_gets_its_successor(deps: Deps) -> None:
    task = new_task(deps)
    leasing.start_stage(deps, StageRequest(task_id=task.id, stage=Stage.PREPARE))
    task = transition(deps.store, deps.store.get_task(task.id), Status.PREPARING)
    transition(deps.store, task, Status.PLANNING)  # ...and died before enqueueing plan
    expire(deps, task.id)
    report = leasing.sweep(deps)
    assert report.resumed == [task.id]
    (plan,) = queue(deps).pop_all()
    assert plan.stage == Stage.PLAN and plan.attempt == 0


def test_start_up_scan_finds_work_with_no_lease_and_skips_gates(deps: Deps) -> None:
    lost = new_task(deps, Status.EXECUTING)  # approved, then the server died before enqueue
    waiting = new_task(deps, Status.PLAN_REVIEW)
    report = leasing.sweep(deps, scan_tasks=True)
    assert report.resumed == [lost.id]
    (request,) = queue(deps).pop_all()
    assert request.task_id == lost.id and request.stage == Stage.EXECUTE
    assert waiting.id not in report.resumed


def test_ended_tasks_lose_their_lease_and_get_a_cleanup(deps: Deps) -> None:
    task = new_task(deps, Status.EXECUTING)
    leasing.start_stage(deps, StageRequest(task_id=task.id, stage=Stage.EXECUTE))
    transition(deps.store, deps.store.get_task(task.id), Status.CANCELLED)
    expire(deps, task.id)
    assert leasing.sweep(deps).released == [task.id]
    (cleanup,) = queue(deps).pop_all()
    assert cleanup.stage == Stage.CLEANUP and deps.leases.get_lease(task.id) is None


def test_stale_requests_start_nothing(deps: Deps) -> None:
    task = new_task(deps, Status.PLAN_REVIEW)
    for stage in (Stage.PREPARE, Stage.EXECUTE, Stage.PUBLISH):
        assert leasing.start_stage(deps, StageRequest(task_id=task.id, stage=stage)).result == (
            "stale"
        )
    missing = leasing.start_stage(deps, StageRequest(task_id="t_nope", stage=Stage.PLAN))
    assert missing.result == "dropped" and jobs(deps).started == []
