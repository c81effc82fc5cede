"""Review actions on a task: reject a plan, ask for changes to a diff, retry a failed or
cancelled task. Shared by the HTTP API and the CLI through TaskService."""

from __future__ import annotations

from shared.domain import (
    MAX_FEEDBACK_CHARS,
    RETRY_RESUME,
    TERMINAL,
    EventKind,
    Feedback,
    Model,
    Stage,
    StageRequest,
    Status,
    Task,
    now,
)
from shared.errors import Conflict, InvalidInput, InvalidTransition
from shared.ports import Queue, Store


class Retry(Model):
    from_start: bool = False


class ReviewFeedback(Model):
    feedback: str = ""


def validate_feedback(feedback: str, what: str) -> str:
    text = feedback.strip()
    if not text:
        raise InvalidInput(f"feedback is empty: say {what}")
    if len(text) > MAX_FEEDBACK_CHARS:
        raise InvalidInput(
            f"feedback is {len(text):,} characters, more than the {MAX_FEEDBACK_CHARS:,} "
            "allowed: keep it to what the model must change"
        )
    return text


def reject_plan(store: Store, queue: Queue, task_id: str, req: ReviewFeedback) -> Task:
    """Plans again: the model gets its previous plan and the reviewer's feedback."""
    text = validate_feedback(req.feedback, "why the plan is wrong or what it should do")
    task = store.get_task(task_id)
    _require(task, Status.PLAN_REVIEW, "reject a plan")
    round_ = task.round + 1
    task = _transition(
        store,
        task,
        Status.PLANNING,
        round=round_,
        feedback=Feedback(kind="plan", text=text, round=round_),
    )
    store.append_event(
        task.id,
        EventKind.LOG,
        {"message": f"plan rejected: {text}", "action": "plan_rejected", "feedback": text},
    )
    queue.enqueue(StageRequest(task_id=task.id, stage=Stage.PLAN, round=round_))
    return task


def request_changes(store: Store, queue: Queue, task_id: str, req: ReviewFeedback) -> Task:
    """A new execute round on the change as it stands, with the reviewer's feedback; then
    verify again."""
    text = validate_feedback(req.feedback, "what to change in the diff")
    task = store.get_task(task_id)
    _require(task, Status.DIFF_REVIEW, "request changes")
    round_ = task.round + 1
    task = _transition(
        store,
        task,
        Status.EXECUTING,
        round=round_,
        feedback=Feedback(kind="diff", text=text, round=round_),
    )
    store.append_event(
        task.id,
        EventKind.LOG,
        {
            "message": f"changes requested: {text}",
            "action": "changes_requested",
            "feedback": text,
        },
    )
    queue.enqueue(StageRequest(task_id=task.id, stage=Stage.EXECUTE, round=round_))
    return task


def retry(store: Store, queue: Queue, task_id: str, req: Retry) -> Task:
    """Runs a failed or cancelled task again with the same inputs: from the stage it stopped
    in, or from the start."""
    task = store.get_task(task_id)
    if task.status not in (Status.FAILED, Status.CANCELLED):
        raise InvalidTransition(
            f"cannot retry task {task.id}: it is {task.status.value}; only failed or "
            "cancelled tasks can be retried"
            + (" (cancel it first to start it over)" if task.status not in TERMINAL else "")
        )
    stopped = task.stopped_in or Status.QUEUED  # tasks from before it was recorded
    resume = Status.PLANNING if req.from_start else RETRY_RESUME[stopped]
    if resume in (Status.PLAN_REVIEW, Status.EXECUTING) and task.plan is None:
        resume = Status.PLANNING  # nothing to resume from: plan again
    changes: dict[str, object] = {
        "round": task.round + 1,
        "error": None,
        "stopped_in": None,
        "feedback": None,
        "updated_at": now(),
    }
    if req.from_start:
        changes.update(plan=None, diff="", fixes=0, branch="", pr_url="", audio=None)
    status, stage = Status.QUEUED, Stage.PREPARE
    if resume == Status.PUBLISHING:
        status, stage = resume, Stage.PUBLISH
    elif resume == Status.SUMMARIZING:
        status, stage = resume, Stage.SUMMARIZE
    changes.update(status=status, resume_at=resume if stage == Stage.PREPARE else None)
    try:
        stored = store.update_task(task.model_copy(update=changes))
    except Conflict:
        raise Conflict(f"task {task.id} changed while retrying it; reload and retry") from None
    where = "the start" if req.from_start else f"where it stopped ({stopped.value})"
    note = (
        "; the change is made again from the approved plan"
        if stopped in (Status.VERIFYING, Status.DIFF_REVIEW) and not req.from_start
        else ""
    )
    store.append_event(
        task.id,
        EventKind.STATUS,
        {"status": status.value, "from": task.status.value, "retry": True},
    )
    store.append_event(
        task.id,
        EventKind.LOG,
        {
            "message": f"retrying from {where}{note}",
            "action": "retry",
            "from_start": req.from_start,
            "resume": resume.value,
        },
    )
    queue.enqueue(StageRequest(task_id=task.id, stage=stage, round=stored.round))
    return stored


def _require(task: Task, status: Status, action: str) -> None:
    if task.status != status:
        raise InvalidTransition(
            f"cannot {action}: task {task.id} is {task.status.value}, not {status.value}"
        )


def _transition(store: Store, task: Task, target: Status, **changes: object) -> Task:
    from shared.services import transition  # services builds on this module

    return transition(store, task, target, **changes)
