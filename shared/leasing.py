"""Stage leases: how a started stage is known to be running, and how one whose execution died
is delivered again.

Dispatch takes the task's lease before it starts an execution, so a queue redelivery of the
same stage finds it running and does nothing. The execution renews the lease while it works
and drops it once its stage has moved the task on (and enqueued the next stage). When the
execution, its machine or the whole server dies, the lease stops being renewed; the sweeper
finds it expired and enqueues the stage again under a new delivery name, until the stage has
been started `stage_attempts` times — then the task fails, saying why. Locally the sweeper also
asks the Jobs adapter whether an execution is gone, so work of a crashed server resumes as soon
as `errand up` starts again rather than when the lease runs out. An execution found dead when
the server starts again died with the server (a power cut, an OOM kill of the whole tree): it
counts as an interruption, not an attempt, up to MAX_INTERRUPTIONS."""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from shared.domain import (
    STAGE_STATUS,
    TERMINAL,
    EventKind,
    Lease,
    Stage,
    StageRequest,
    Status,
    Task,
    TaskError,
    is_due,
    now,
)
from shared.errors import Conflict, ErrandError, NotFound
from shared.services import transition
from shared.wiring import Deps

log = logging.getLogger("errand.leases")

# The stage that works on a task in each status (the inverse of STAGE_STATUS), for tasks found
# with no execution and no delivery under way.
STATUS_STAGE: dict[Status, Stage] = {status: stage for stage, status in STAGE_STATUS.items()}
STATUS_STAGE[Status.QUEUED] = Stage.PREPARE

# Restarts of the whole server a stage may live through. Bounded, because a stage that takes
# its machine down every time (memory, disk) would otherwise be retried forever.
MAX_INTERRUPTIONS = 10
INTERRUPTED = "the server stopped while it ran"


def new_holder() -> str:
    return "h_" + secrets.token_hex(8)


@dataclass(frozen=True)
class Started:
    """What dispatch did with a delivery: `result` is started, already_started, stale, busy,
    dropped or failed; `retry` asks the queue to deliver it again later."""

    result: str
    detail: str = ""
    execution: str = ""
    retry: bool = False


def start_stage(deps: Deps, request: StageRequest) -> Started:
    """Takes the lease for `request` and starts its execution, at most once per live lease."""
    try:
        task = deps.store.get_task(request.task_id)
    except NotFound:
        return Started("dropped", f"task {request.task_id} does not exist")
    if not is_due(request, task):
        return Started("stale", task.status.value)
    leases, at = deps.leases, now()
    current = leases.get_lease(task.id)
    same_stage = current is not None and current.request.stage_key() == request.stage_key()
    if current is not None and _alive(deps, current, at):
        if same_stage:
            return Started("already_started", current.execution)
        if is_due(current.request, task):
            return Started("busy", f"{current.request.stage.value} still runs", retry=True)
        # the holder's stage is over (the task moved on) but it has not let go yet: take over
    earlier = current if current is not None and same_stage else None
    attempts = earlier.attempts + 1 if earlier is not None else 1
    interruptions = earlier.interruptions if earlier is not None else 0
    last_error = earlier.last_error if earlier is not None else ""
    if attempts - interruptions > deps.settings.stage_attempts:
        fail_exhausted(deps, task, request, attempts - 1 - interruptions, last_error)
        if current is not None:
            leases.drop_lease(task.id, current.holder)
        return Started("failed", "retry budget spent")
    holder = new_holder()
    mine = request.model_copy(update={"holder": holder})
    lease = Lease(
        task_id=task.id,
        request=mine,
        holder=holder,
        expires_at=at + timedelta(seconds=deps.settings.job_start_s),
        attempts=attempts,
        interruptions=interruptions,
        last_error=last_error,
    )
    if not leases.put_lease(lease, current.holder if current is not None else ""):
        return Started("busy", "another dispatcher took the lease", retry=True)
    try:
        execution = deps.jobs.run(mine)
    except Exception:
        leases.drop_lease(task.id, holder)  # so that the queue's retry can start it
        raise
    # best effort: only used to tell locally whether the execution is gone
    leases.put_lease(lease.model_copy(update={"execution": execution}), holder)
    if attempts > 1:
        log.warning("task %s: %s started again (attempt %d)", task.id, request.stage, attempts)
    return Started("started", execution=execution)


def _alive(deps: Deps, lease: Lease, at: datetime) -> bool:
    if lease.expires_at <= at:
        return False
    return not (lease.execution and deps.jobs.gone(lease.execution))


def fail_exhausted(deps: Deps, task: Task, request: StageRequest, runs: int, why: str) -> None:
    stage = request.stage.value
    reason = why or "its execution stopped renewing its lease (it died with its machine?)"
    message = (
        f"the {stage} stage was started {runs} times and never finished; the last time {reason}. "
        "Check `errand doctor` and the job logs under ERRAND_HOME/jobs, then retry the task"
    )
    fail_task(deps, task.id, "stage_retries_exhausted", message)


def fail_task(deps: Deps, task_id: str, code: str, message: str) -> None:
    """Marks the task failed unless it already ended; retries lost compare-and-set races."""
    for _ in range(5):
        task = deps.store.get_task(task_id)
        if task.status in TERMINAL:
            return
        try:
            transition(deps.store, task, Status.FAILED, error=TaskError(code=code, message=message))
            deps.store.append_event(task_id, EventKind.LOG, {"message": f"failed: {message}"})
            return
        except Conflict:
            continue
    log.error("could not mark task %s failed", task_id)


def break_lease(deps: Deps, request: StageRequest, why: str) -> None:
    """The execution holding `request`'s lease died (reported by the Jobs adapter): expire the
    lease now with the reason, so the sweeper redelivers the stage or fails the task."""
    lease = deps.leases.get_lease(request.task_id)
    if lease is None or not request.holder or lease.holder != request.holder:
        return
    broken = lease.model_copy(update={"expires_at": now(), "last_error": why})
    deps.leases.put_lease(broken, lease.holder)


@dataclass
class SweepReport:
    redelivered: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    released: list[str] = field(default_factory=list)
    resumed: list[str] = field(default_factory=list)


def sweep(
    deps: Deps, *, scan_tasks: bool = False, restarted: bool = False, limit: int = 200
) -> SweepReport:
    """Redelivers stages whose execution died. With `scan_tasks` (at start-up) it also finds
    tasks in a working status with no lease at all — a crash between moving a task on and
    enqueueing its next stage — and enqueues the stage their status calls for; deliveries are
    named, so an enqueue that did happen before the crash makes that a no-op. `restarted` says
    the local server has just started: executions found dead were interrupted, not failed."""
    report = SweepReport()
    at = now()
    candidates = deps.leases.expired_leases(at, limit)
    if scan_tasks:
        seen = {lease.task_id for lease in candidates}
        for task in deps.store.list_tasks(limit=10_000):
            if task.status in TERMINAL or task.id in seen:
                continue
            lease = deps.leases.get_lease(task.id)
            if lease is not None and not _alive(deps, lease, at):
                candidates.append(lease)
            elif lease is None and task.status in STATUS_STAGE:
                _enqueue_current(deps, task, report)
    for lease in candidates:
        try:
            _sweep_one(deps, lease, report, restarted)
        except ErrandError as exc:
            log.error("sweeping the lease of %s failed: %s", lease.task_id, exc.message)
    return report


def _sweep_one(deps: Deps, lease: Lease, report: SweepReport, restarted: bool = False) -> None:
    try:
        task = deps.store.get_task(lease.task_id)
    except NotFound:
        deps.leases.drop_lease(lease.task_id, lease.holder)
        return
    if task.status in TERMINAL:
        if deps.leases.drop_lease(task.id, lease.holder):
            deps.queue.enqueue(StageRequest(task_id=task.id, stage=Stage.CLEANUP))
            report.released.append(task.id)
        return
    if not is_due(lease.request, task):
        # the stage moved the task on, then died before it let go (or before it enqueued
        # the next stage): make sure the next stage is on its way
        if deps.leases.drop_lease(task.id, lease.holder):
            _enqueue_current(deps, task, report)
        return
    if restarted:
        booked = _interrupted(deps, task, lease, report)
        if booked is None:
            return
        lease = booked
    elif lease.spent >= deps.settings.stage_attempts:
        if deps.leases.drop_lease(task.id, lease.holder):
            fail_exhausted(deps, task, lease.request, lease.spent, lease.last_error)
            report.failed.append(task.id)
        return
    again = lease.request.model_copy(update={"attempt": lease.attempts, "holder": ""})
    if deps.queue.enqueue(again):
        log.warning(
            "task %s: the %s execution died (%s); delivering it again",
            task.id,
            lease.request.stage.value,
            lease.last_error or "lease expired",
        )
        report.redelivered.append(task.id)


def _interrupted(deps: Deps, task: Task, lease: Lease, report: SweepReport) -> Lease | None:
    """Books a stage stopped by a restart as an interruption; None if it may not go on."""
    if lease.interruptions >= MAX_INTERRUPTIONS:
        if deps.leases.drop_lease(task.id, lease.holder):
            message = (
                f"the {lease.request.stage.value} stage was stopped by {lease.interruptions + 1} "
                "restarts of the server in a row (does it exhaust the machine's memory or "
                "disk?). Check the job logs under ERRAND_HOME/jobs, then retry the task"
            )
            fail_task(deps, task.id, "stage_interrupted", message)
            report.failed.append(task.id)
        return None
    booked = lease.model_copy(
        update={"interruptions": lease.interruptions + 1, "last_error": INTERRUPTED}
    )
    return booked if deps.leases.put_lease(booked, lease.holder) else None


def _enqueue_current(deps: Deps, task: Task, report: SweepReport) -> None:
    stage = STATUS_STAGE.get(task.status)
    if stage is None:
        return  # at a gate: waiting for a person, not for a stage
    if deps.queue.enqueue(StageRequest(task_id=task.id, stage=stage, round=task.round)):
        report.resumed.append(task.id)
