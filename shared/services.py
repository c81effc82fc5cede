"""Task use cases shared by the HTTP API and the CLI. Thin over the Store and Queue ports."""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import ConfigDict, Field, JsonValue, ValidationError

from shared import limits
from shared.domain import (
    TERMINAL,
    EventKind,
    Model,
    Plan,
    Stage,
    StageRequest,
    Status,
    Task,
    TaskError,
    can_transition,
    now,
)
from shared.errors import Conflict, InvalidInput, InvalidTransition
from shared.ports import Queue, Store

M = TypeVar("M", bound=Model)


def _documented(chars: int, pattern: str = "") -> Any:
    # Documented in the JSON schema, enforced by validate_create (with a clearer message, and
    # also for the CLI, which builds this model in-process)
    extra: dict[str, JsonValue] = {"maxLength": chars}
    if pattern:
        extra["pattern"] = pattern
    return Field(default="", json_schema_extra=extra)


class CreateTask(Model):
    # repo and prompt are required; they have defaults so that the CLI can build a request
    # and have validate_create say what is missing
    model_config = ConfigDict(extra="forbid", json_schema_extra={"required": ["repo", "prompt"]})

    repo: str = _documented(limits.MAX_REPO_CHARS, limits.FILLED_LINE_PATTERN)
    prompt: str = _documented(limits.MAX_PROMPT_CHARS, limits.FILLED_TEXT_PATTERN)
    branch: str = _documented(limits.MAX_BRANCH_CHARS)
    model: str = _documented(limits.MAX_MODEL_CHARS, limits.MODEL_PATTERN)
    auto_approve: bool = False


class ApprovePlan(Model):
    plan: Plan | None = None


class TaskList(Model):
    tasks: list[Task] = Field(default_factory=list)


def validate_create(req: CreateTask, default_model: str) -> tuple[str, str, str, str]:
    """Returns (repo, prompt, model, branch) or raises InvalidInput saying what to change. The
    repository comes back without credentials: they are never stored or shown. Sizes and
    characters are checked on the values as sent (as the API description states them)."""
    repo = limits.check_repo(req.repo).strip()
    if not repo:
        raise InvalidInput("repo is empty: pass a local git repository path or a git URL")
    if len(req.prompt) > limits.MAX_PROMPT_CHARS:
        raise InvalidInput(
            f"prompt is {len(req.prompt):,} characters, more than the "
            f"{limits.MAX_PROMPT_CHARS:,} allowed: shorten it, or put the long material in a "
            "file in the repository and refer to it"
        )
    problem = limits.control_problem(req.prompt)
    if problem:
        raise InvalidInput(f"prompt {problem}: remove it (tabs and newlines are fine)")
    prompt = req.prompt.strip()
    if not prompt:
        raise InvalidInput(
            "prompt is empty: describe the change you want, e.g. 'fix the bug in add'"
        )
    branch = req.branch.strip()
    if branch:
        limits.check_branch(branch)
    model = limits.check_model_name(req.model) if req.model else default_model.strip()
    if not model:
        raise InvalidInput(
            "no model chosen: pass --model (e.g. openai/gpt-4o-mini) or set ERRAND_MODEL on the "
            "server; `errand demo` shows the flow with the scripted model"
        )
    return repo, prompt, model, branch


class TaskService:
    def __init__(self, store: Store, queue: Queue, default_model: str) -> None:
        self._store = store
        self._queue = queue
        self._default_model = default_model

    def create(self, req: CreateTask) -> Task:
        repo, prompt, model, branch = validate_create(req, self._default_model)
        task = self._store.create_task(
            Task(
                repo=repo,
                base_branch=branch,
                prompt=prompt,
                model=model,
                auto_approve=req.auto_approve,
            )
        )
        self._store.append_event(task.id, EventKind.STATUS, {"status": task.status.value})
        self._queue.enqueue(StageRequest(task_id=task.id, stage=Stage.PREPARE))
        return task

    def get(self, task_id: str) -> Task:
        return self._store.get_task(task_id)

    def list(self, limit: int = 50) -> TaskList:
        return TaskList(tasks=self._store.list_tasks(limit))

    def approve_plan(self, task_id: str, req: ApprovePlan) -> Task:
        task = self._store.get_task(task_id)
        self._require(task, Status.PLAN_REVIEW, "approve a plan")
        plan = req.plan or task.plan
        task = transition(self._store, task, Status.EXECUTING, plan=plan)
        if req.plan is not None:
            self._store.append_event(task.id, EventKind.PLAN_READY, {"edited": True})
        self._queue.enqueue(StageRequest(task_id=task.id, stage=Stage.EXECUTE, round=task.round))
        return task

    def approve_diff(self, task_id: str) -> Task:
        task = self._store.get_task(task_id)
        self._require(task, Status.DIFF_REVIEW, "approve a diff")
        task = transition(self._store, task, Status.PUBLISHING)
        self._queue.enqueue(StageRequest(task_id=task.id, stage=Stage.PUBLISH, round=task.round))
        return task

    def cancel(self, task_id: str) -> Task:
        for attempt in range(5):  # a running stage writes the task too: retry lost races
            task = self._store.get_task(task_id)
            if task.status in TERMINAL:
                raise InvalidTransition(
                    f"task {task_id} is already {task.status.value}; "
                    "only running tasks can be cancelled"
                )
            try:
                task = transition(
                    self._store,
                    task,
                    Status.CANCELLED,
                    error=TaskError(code="cancelled", message="cancelled by the user"),
                )
                break
            except Conflict:
                if attempt == 4:
                    raise
        # a running stage stops itself; a task parked at a gate still holds its workspace
        self._queue.enqueue(StageRequest(task_id=task.id, stage=Stage.CLEANUP))
        return task

    @staticmethod
    def _require(task: Task, status: Status, action: str) -> None:
        if task.status != status:
            raise InvalidTransition(
                f"cannot {action}: task {task.id} is {task.status.value}, not {status.value}"
            )


def parse(model: type[M], body: bytes | str) -> M:
    """Parses a JSON request body into `model` in strict mode (`"yes"` is not a boolean, `"5"`
    not a number), turning validation errors into InvalidInput."""
    try:
        return model.model_validate_json(body or b"{}", strict=True)
    except ValidationError as exc:
        raise InvalidInput(f"invalid request body ({describe(exc)})") from None


def describe(exc: ValidationError) -> str:
    """Each problem as `field.path: what is wrong`, without echoing the (maybe huge) input."""
    return "; ".join(
        f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in exc.errors()[:10]
    )


def transition(store: Store, task: Task, target: Status, **changes: object) -> Task:
    """Compare-and-set move of `task` to `target`, emitting a status event. Raises
    InvalidTransition when the move is not allowed and Conflict when `task` is stale."""
    if not can_transition(task.status, target):
        raise InvalidTransition(
            f"task {task.id} cannot go from {task.status.value} to {target.value}"
        )
    updated = task.model_copy(update={"status": target, "updated_at": now(), **changes})
    try:
        stored = store.update_task(updated)
    except Conflict:
        raise Conflict(
            f"task {task.id} changed while moving it to {target.value}; reload and retry"
        ) from None
    data: dict[str, JsonValue] = {"status": target.value, "from": task.status.value}
    if stored.error is not None and target in (Status.FAILED, Status.CANCELLED):
        data["error"] = stored.error.model_dump()
    store.append_event(task.id, EventKind.STATUS, data)
    return stored
