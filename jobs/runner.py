"""Runs one stage of one task: the body of every job execution, wherever it runs."""

from __future__ import annotations

import logging
import os
import sys
import threading
import traceback
from collections.abc import Callable

from jobs.agent.loop import Cancelled
from jobs.context import StageContext
from jobs.feedback import notify
from jobs.stages import execute, plan, prepare, publish, summarize, verify
from shared.domain import TERMINAL, Stage, StageRequest, Status, TaskError, is_due
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
    (moved on, failed with a clear error, or the request was stale)."""
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
    ctx = StageContext(deps, request, task)
    done = threading.Event()
    threading.Thread(target=_exit_on_cancel, args=(deps, task.id, done), daemon=True).start()
    try:
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
        if ctx.task.status in TERMINAL:
            _release(deps, task.id)
    return 0


def _exit_on_cancel(deps: Deps, task_id: str, done: threading.Event) -> None:
    """A cancelled task stops now, not when its current command ends: exiting the execution
    takes every sandboxed process with it (bubblewrap runs with --die-with-parent)."""
    while not done.wait(CANCEL_POLL_S):
        try:
            status = deps.store.get_task(task_id).status
        except ErrandError:
            continue
        if status == Status.CANCELLED:
            log.info("task %s was cancelled; stopping this execution", task_id)
            try:
                _release(deps, task_id)
            finally:
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


def fail_crashed(deps: Deps, request: StageRequest, how: str, log_path: str) -> None:
    """Called by the job supervisor when an execution died without finishing its stage (killed,
    out of memory, a crash in the interpreter): the task must not stay stuck."""
    try:
        task = deps.store.get_task(request.task_id)
    except NotFound:
        return
    if not is_due(request, task) or task.claim not in ("", request.delivery_name()):
        return  # a later delivery owns the task now; this crash is not its business
    ctx = StageContext(deps, request, task)
    fail(
        ctx,
        "job_crashed",
        f"the {request.stage.value} job {how} before finishing; its log is {log_path}",
    )
    _release(deps, task.id)


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
