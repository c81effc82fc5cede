"""The task, its statuses, transitions and events. Pure: no IO, no SDKs."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, ClassVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, JsonValue, model_validator

from shared import limits

Text = Annotated[
    str, AfterValidator(limits.text), Field(json_schema_extra={"pattern": limits.TEXT_PATTERN})
]
FilePath = Annotated[
    str,
    Field(
        min_length=1,
        max_length=limits.MAX_PATH_CHARS,
        json_schema_extra={"pattern": limits.LINE_PATTERN},
    ),
    AfterValidator(limits.path),
]


class Model(BaseModel):
    """Base for everything that crosses a process boundary: unknown fields are errors."""

    model_config = ConfigDict(extra="forbid")


class Status(StrEnum):
    QUEUED = "queued"
    PREPARING = "preparing"
    PLANNING = "planning"
    PLAN_REVIEW = "plan_review"
    EXECUTING = "executing"
    VERIFYING = "verifying"
    DIFF_REVIEW = "diff_review"
    PUBLISHING = "publishing"
    SUMMARIZING = "summarizing"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


TERMINAL = frozenset({Status.COMPLETED, Status.FAILED, Status.CANCELLED})


class Stage(StrEnum):
    PREPARE = "prepare"
    PLAN = "plan"
    EXECUTE = "execute"
    VERIFY = "verify"
    PUBLISH = "publish"
    SUMMARIZE = "summarize"
    CLEANUP = "cleanup"  # releases the workspace of a task that ended while no stage ran


# The status a task is in while a stage works on it.
STAGE_STATUS: dict[Stage, Status] = {
    Stage.PREPARE: Status.PREPARING,
    Stage.PLAN: Status.PLANNING,
    Stage.EXECUTE: Status.EXECUTING,
    Stage.VERIFY: Status.VERIFYING,
    Stage.PUBLISH: Status.PUBLISHING,
    Stage.SUMMARIZE: Status.SUMMARIZING,
}


_FORWARD: dict[Status, frozenset[Status]] = {
    Status.QUEUED: frozenset({Status.PREPARING}),
    Status.PREPARING: frozenset({Status.PLANNING}),
    Status.PLANNING: frozenset({Status.PLAN_REVIEW, Status.EXECUTING}),
    Status.PLAN_REVIEW: frozenset({Status.EXECUTING}),
    # verify may send the task back to execute (fix loop, later issue)
    Status.EXECUTING: frozenset({Status.VERIFYING}),
    Status.VERIFYING: frozenset({Status.DIFF_REVIEW, Status.PUBLISHING, Status.EXECUTING}),
    Status.DIFF_REVIEW: frozenset({Status.PUBLISHING}),
    Status.PUBLISHING: frozenset({Status.SUMMARIZING}),
    Status.SUMMARIZING: frozenset({Status.COMPLETED}),
}


def can_transition(current: Status, target: Status) -> bool:
    if current in TERMINAL:
        return False
    if target in (Status.FAILED, Status.CANCELLED):
        return True
    return target in _FORWARD.get(current, frozenset())


class PlanStep(Model):
    title: Text = Field(min_length=1, max_length=limits.MAX_TITLE_CHARS)
    details: Text = Field(default="", max_length=limits.MAX_DETAILS_CHARS)
    files: list[FilePath] = Field(default_factory=list, max_length=limits.MAX_FILES_PER_STEP)


class Plan(Model):
    summary: Text = Field(min_length=1, max_length=limits.MAX_DETAILS_CHARS)
    steps: list[PlanStep] = Field(min_length=1, max_length=limits.MAX_STEPS)

    @model_validator(mode="after")
    def _bounded(self) -> Plan:
        size = len(self.summary) + sum(
            len(s.title) + len(s.details) + sum(len(f) for f in s.files) for s in self.steps
        )
        if size > limits.MAX_PLAN_CHARS:
            raise ValueError(
                f"the plan has {size:,} characters, more than the {limits.MAX_PLAN_CHARS:,} "
                "allowed: keep steps short and put long material in the repository"
            )
        return self


class TestCounts(Model):
    __test__: ClassVar[bool] = False  # not a pytest test class
    passed: int = 0
    failed: int = 0
    errors: int = 0
    skipped: int = 0


class TestReport(Model):
    __test__: ClassVar[bool] = False
    command: str = ""
    baseline: TestCounts | None = None
    after: TestCounts | None = None
    newly_failing: list[str] = Field(default_factory=list)
    newly_passing: list[str] = Field(default_factory=list)
    pre_existing: list[str] = Field(default_factory=list)
    flaky: list[str] = Field(default_factory=list)
    disappeared: list[str] = Field(default_factory=list)
    baseline_note: str = ""
    after_note: str = ""


class Conformance(Model):
    """How the change matches the approved plan."""

    unplanned_files: list[str] = Field(default_factory=list)
    untouched_steps: list[str] = Field(default_factory=list)


class Audio(Model):
    url: str
    path: str
    duration_s: float
    transcript: str


class Usage(Model):
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0

    def plus(self, other: Usage) -> Usage:
        return Usage(
            prompt_tokens=self.prompt_tokens + other.prompt_tokens,
            completion_tokens=self.completion_tokens + other.completion_tokens,
            cost_usd=round(self.cost_usd + other.cost_usd, 8),
        )


class Timings(Model):
    """Seconds spent waiting on the model, inside sandboxed commands and rendering speech (the
    external services of the cloud deployment), for the overhead benchmark."""

    model_s: float = 0.0
    sandbox_s: float = 0.0
    speech_s: float = 0.0

    def plus(self, other: Timings) -> Timings:
        return Timings(
            model_s=round(self.model_s + other.model_s, 4),
            sandbox_s=round(self.sandbox_s + other.sandbox_s, 4),
            speech_s=round(self.speech_s + other.speech_s, 4),
        )


class TaskError(Model):
    code: str
    message: str


def now() -> datetime:
    return datetime.now(UTC)


def new_task_id() -> str:
    return "t_" + secrets.token_hex(6)


class Task(Model):
    id: str = Field(default_factory=new_task_id)
    status: Status = Status.QUEUED
    repo: str
    base_branch: str = ""
    prompt: str
    model: str
    auto_approve: bool = False
    plan: Plan | None = None
    diff: str = ""
    tests: TestReport = Field(default_factory=TestReport)
    conformance: Conformance = Field(default_factory=Conformance)
    branch: str = ""
    pr_url: str = ""
    audio: Audio | None = None
    usage: Usage = Field(default_factory=Usage)
    error: TaskError | None = None
    round: int = 0
    timings: Timings = Field(default_factory=Timings)
    version: int = 0
    created_at: datetime = Field(default_factory=now)
    updated_at: datetime = Field(default_factory=now)

    @property
    def short_id(self) -> str:
        return self.id.removeprefix("t_")[:8]


class EventKind(StrEnum):
    LOG = "log"
    STATUS = "status"
    PLAN_READY = "plan_ready"
    DIFF_READY = "diff_ready"
    TEST_RESULTS = "test_results"
    PR_CREATED = "pr_created"
    AUDIO_READY = "audio_ready"
    COST = "cost"
    TASK_COMPLETED = "task_completed"
    TOOL = "tool"


class Event(Model):
    """One entry of a task's append-only log. `id` is global and increasing: it is the cursor
    the change feed and Server-Sent Events resume from."""

    id: int
    task_id: str
    kind: EventKind
    data: dict[str, JsonValue] = Field(default_factory=dict)
    created_at: datetime = Field(default_factory=now)


class StageRequest(Model):
    """The body of one queue delivery: run `stage` for `task_id`. `round` separates deliveries
    of the same stage (the fix loop) so that dedupe names stay unique per intent; `attempt`
    separates redeliveries of a stage whose execution died (the sweeper's), and `holder` is
    the lease a started execution runs under (set by dispatch, never by the queue)."""

    task_id: str
    stage: Stage
    round: int = Field(default=0, ge=0, le=1000)
    attempt: int = Field(default=0, ge=0, le=1000)
    holder: str = Field(default="", max_length=64)

    def stage_key(self) -> str:
        """The stage of the task this asks for, whatever the attempt."""
        return f"{self.task_id}-{self.stage.value}-{self.round}"

    def delivery_name(self) -> str:
        return self.stage_key() + (f"-a{self.attempt}" if self.attempt else "")


class Lease(Model):
    """Who runs a stage of a task now. Dispatch takes it before starting the execution, the
    execution renews it while it works and drops it when its stage is over; one that expires
    (the execution, its machine or the whole server died) is delivered again by the sweeper,
    `attempts` times at most. One lease per task: stages of a task never overlap."""

    task_id: str
    request: StageRequest
    holder: str
    execution: str = ""  # the Jobs adapter's id for the execution, once it started
    expires_at: datetime
    attempts: int = 1  # executions started for request.stage_key()
    last_error: str = ""  # why the previous execution of this stage ended early


def slugify(text: str, max_len: int = 32) -> str:
    out: list[str] = []
    for ch in text.lower():
        if ch.isascii() and ch.isalnum():
            out.append(ch)
        elif out and out[-1] != "-":
            out.append("-")
    slug = "".join(out).strip("-")[:max_len].strip("-")
    return slug or "task"


# Task fields that are internal bookkeeping: never shown by the API or the CLI.
TASK_INTERNAL_FIELDS = frozenset({"version", "timings"})


def task_public(task: Task) -> dict[str, Any]:
    """The task as the API and CLI show it (internal bookkeeping left out)."""
    return task.model_dump(mode="json", exclude=set(TASK_INTERNAL_FIELDS))


def is_due(request: StageRequest, task: Task) -> bool:
    """Whether a delivery has work to do for the task as it is now. Prepare also starts queued
    tasks; cleanup is for ended tasks; a request from an earlier fix round, or for a stage the
    task is not in, is stale and is acknowledged as done."""
    stage, status = request.stage, task.status
    if stage == Stage.CLEANUP:
        return status in TERMINAL
    if request.round != task.round:
        return False
    return STAGE_STATUS[stage] == status or (stage == Stage.PREPARE and status == Status.QUEUED)
