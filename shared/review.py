"""Review actions on a task: reject a plan, ask for changes to a diff, retry a failed or
cancelled task. Shared by the HTTP API and the CLI through TaskService."""

from __future__ import annotations

from shared import limits
from shared.domain import (
    RETRY_RESUME,
    TERMINAL,
    EventKind,
    Feedback,
    Model,
    Plan,
    Stage,
    StageRequest,
    Status,
    Task,
    now,
)
from shared.errors import Conflict, InvalidInput, InvalidTransition, NotFound
from shared.ports import Blobs, Queue, Store

NEW_FILE_MARK = " (new)"  # a plan step's file that the change creates
MAX_LISTED_FILES = 20_000


class RepoFiles(Model):
    """The repository's files when it was planned, for checking an edited plan on approval."""

    files: list[str]
    complete: bool  # False when the listing stopped at MAX_LISTED_FILES


def files_key(task_id: str) -> str:
    return f"tasks/{task_id}/files.json"


def check_plan_files(blobs: Blobs, task_id: str, plan: Plan) -> None:
    """Refuses an edited plan that names files which neither exist nor are marked new."""
    try:
        listing = RepoFiles.model_validate_json(blobs.get(files_key(task_id)))
    except NotFound:
        raise InvalidInput(
            f"cannot check the plan: task {task_id} has no record of its repository's files "
            "(it was planned by an older Errand); approve without edits or retry it"
        ) from None
    known = set(listing.files)
    dirs = {f.rsplit("/", i)[0] for f in listing.files for i in range(1, f.count("/") + 1)}
    missing = []
    for step in plan.steps:
        for name in step.files:
            rel = name.strip().removeprefix("./").removeprefix("/workspace/repo/").rstrip("/")
            if name.endswith(NEW_FILE_MARK) or rel in known or rel in dirs:
                continue
            missing.append(name)
    if missing and listing.complete:
        raise InvalidInput(
            "the plan names files that do not exist in the repository: "
            + ", ".join(missing[:20])
            + f"; fix the paths (relative to the repository root) or mark files the change "
            f"creates with the suffix '{NEW_FILE_MARK}', e.g. \"src/new.py{NEW_FILE_MARK}\""
        )


class Retry(Model):
    from_start: bool = False


class ReviewFeedback(Model):
    feedback: str = ""


def validate_feedback(feedback: str, what: str) -> str:
    text = feedback.strip()
    if not text:
        raise InvalidInput(f"feedback is empty: say {what}")
    if len(text) > limits.MAX_FEEDBACK_CHARS:
        raise InvalidInput(
            f"feedback is {len(text):,} characters, more than the {limits.MAX_FEEDBACK_CHARS:,} "
            "allowed: keep it to what the model must change"
        )
    problem = limits.control_problem(text)
    if problem:
        raise InvalidInput(f"feedback {problem}; remove it (only tabs and newlines are allowed)")
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
