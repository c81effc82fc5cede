"""Runs one stage of one task: the body of every job execution, wherever it runs."""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
import traceback
from collections.abc import Callable
from datetime import timedelta

from jobs import workspace_sync
from jobs.agent.loop import Cancelled
from jobs.context import StageContext
from jobs.feedback import notify
from jobs.stages import execute, plan, prepare, publish, summarize, verify
from shared import leasing
from shared.domain import TERMINAL, Lease, Stage, StageRequest, Status, TaskError, is_due, now
from shared.errors import Conflict, ErrandError, NotFound
from shared.wiring import Deps

log = logging.getLogger("errand.job")
CANCEL_POLL_S = 1.0

STAGES: dict[Stage, Callable[[StageContext], None]] = {
    Stage.PREPARE: prepare.run,
    Stage.PLAN: plan.run,
    Stage.EXECUTE: execute.run,
    Stage.VERIFY: verify.run,
    Stage.PUBLISH: publish.run,
    Stage.SUMMARIZE: summarize.run,
    Stage.CLEANUP: lambda ctx: None,  # the finally below releases every ended task's workspace
}


def run_stage(deps: Deps, request: StageRequest) -> int:
    """Returns the process exit code: 0 when the task ended this stage in a consistent state
    (moved on, failed with a clear error, or the request was stale). The stage runs only under
    its lease (taken by dispatch, or here for a request run by hand); losing the lease stops
    the execution at once, since another one now does the stage."""
    try:
        task = deps.store.get_task(request.task_id)
    except NotFound:
        log.warning("task %s does not exist; dropping %s", request.task_id, request.stage.value)
        return 0
    if not is_due(request, task):
        log.info(
            "task %s is %s; %s has nothing to do", task.id, task.status.value, request.stage.value
        )
        return 0
    request = _hold(deps, request)
    if not request.holder:
        return 0
    deps.stage = request  # what a brokered GitHub token is asked for (shared/token_broker.py)
    ctx = StageContext(deps, request, task)
    done = threading.Event()
    threading.Thread(
        target=_watch, args=(deps, request, done), daemon=True, name="errand-lease"
    ).start()
    try:
        if workspace_sync.enabled(deps) and request.stage in workspace_sync.RESTORED_FOR:
            workspace_sync.restore(deps, task.id, ctx.workspace)  # a fresh execution's disk
        if request.stage != Stage.PREPARE:  # prepare checks the sender before saying anything
            notify(ctx)
        STAGES[request.stage](ctx)
    except Cancelled:
        ctx.log("stopped: the task was cancelled")
    except ErrandError as exc:
        fail(ctx, exc.code, exc.message)
    except Exception as exc:  # the task must never be left running after a bug
        traceback.print_exc()
        fail(
            ctx,
            "internal_error",
            f"Errand hit an internal error in the {request.stage.value} stage "
            f"({type(exc).__name__}: {exc}); the job log has the details — please report it",
        )
    finally:
        done.set()
        deps.end_stage()
        if ctx.task.status in TERMINAL:
            _release(deps, task.id)
        deps.leases.drop_lease(task.id, request.holder)
    return 0


def _hold(deps: Deps, request: StageRequest) -> StageRequest:
    """The request with the lease it runs under; without a holder when another execution
    holds the stage (then this one must not run)."""
    leases, at = deps.leases, now()
    lease = leases.get_lease(request.task_id)
    expires = at + timedelta(seconds=deps.settings.lease_ttl_s)
    if request.holder:
        if lease is None or lease.holder != request.holder:
            log.warning("%s: the lease passed to another execution; not running", request)
            return request.model_copy(update={"holder": ""})
        leases.renew_lease(request.task_id, request.holder, expires)
        return request
    if lease is not None and lease.expires_at > at:
        log.warning("%s: another execution holds the stage; not running", request)
        return request
    holder = leasing.new_holder()
    mine = request.model_copy(update={"holder": holder})
    fresh = Lease(task_id=request.task_id, request=mine, holder=holder, expires_at=expires)
    if not leases.put_lease(fresh, lease.holder if lease is not None else ""):
        return request
    return mine


def _watch(deps: Deps, request: StageRequest, done: threading.Event) -> None:
    """Renews the lease, and ends the execution at once when the task is cancelled (exiting
    takes every sandboxed process with it: bubblewrap runs with --die-with-parent) or when the
    lease was taken over (another execution now does this stage)."""
    task_id, holder = request.task_id, request.holder
    renew_every = max(deps.settings.lease_ttl_s / 3, 0.2)
    next_renewal = time.monotonic() + renew_every
    while not done.wait(CANCEL_POLL_S):
        try:
            if time.monotonic() >= next_renewal:
                expires = now() + timedelta(seconds=deps.settings.lease_ttl_s)
                if not deps.leases.renew_lease(task_id, holder, expires) and not done.is_set():
                    log.error("%s: lost the stage lease; stopping this execution", request)
                    _exit_now()
                next_renewal = time.monotonic() + renew_every
            status = deps.store.get_task(task_id).status
        except ErrandError:
            continue
        if status == Status.CANCELLED:
            log.info("task %s was cancelled; stopping this execution", task_id)
            try:
                _release(deps, task_id)
                deps.leases.drop_lease(task_id, holder)
            finally:
                _exit_now()


def _exit_now() -> None:
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def _release(deps: Deps, task_id: str) -> None:
    try:
        deps.release_workspace(task_id)
    except Exception as exc:  # never let cleanup keep a cancelled execution alive
        log.error("could not release the workspace of %s: %s", task_id, exc)


def fail(ctx: StageContext, code: str, message: str) -> None:
    for _ in range(3):
        task = ctx.refresh()
        if task.status in TERMINAL:
            return
        try:
            ctx.move(Status.FAILED, error=TaskError(code=code, message=ctx.scrub(message)))
            ctx.log(f"failed: {ctx.scrub(message)}")
            return
        except Conflict:
            continue
    log.error("could not mark task %s failed after 3 attempts", ctx.task.id)


def execution_died(deps: Deps, request: StageRequest, how: str, log_path: str) -> None:
    """Called by the job supervisor when an execution died without finishing its stage
    (killed, out of memory, a crash in the interpreter): its lease is expired at once, and the
    sweeper delivers the stage again — or fails the task once its attempts are spent."""
    leasing.break_lease(deps, request, f"its job {how} (log: {log_path})")
    leasing.sweep(deps)


def fail_undeliverable(deps: Deps, request: StageRequest, error: str) -> None:
    """Called when the queue gave up on a delivery: the stage can never start, so the task
    ends now instead of waiting forever."""
    try:
        task = deps.store.get_task(request.task_id)
    except NotFound:
        return
    if not is_due(request, task):
        return
    ctx = StageContext(deps, request, task)
    fail(
        ctx,
        "delivery_failed",
        f"the {request.stage.value} stage could not be started after "
        f"{deps.settings.queue_max_attempts} attempts (last error: {error}); check "
        "`errand doctor` and the server log, then create the task again",
    )
    _release(deps, task.id)
