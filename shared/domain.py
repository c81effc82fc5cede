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

LOCAL_USER_ID = "u_local"  # the one user of single-user mode (see shared/accounts.py)


class Model(BaseModel):
    """Base for everything that crosses a process boundary: unknown fields are errors."""

    # what we send always carries every field, defaults included: say so in the JSON schema of
    # responses (the web app's types are generated from it)
    model_config = ConfigDict(extra="forbid", json_schema_serialization_defaults_required=True)


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
    # a retried task's prepare rebuilds the workspace and resumes where the task stopped
    Status.PREPARING: frozenset({Status.PLANNING, Status.PLAN_REVIEW, Status.EXECUTING}),
    Status.PLANNING: frozenset({Status.PLAN_REVIEW, Status.EXECUTING}),
    # a rejected plan goes back to the model with the reviewer's feedback
    Status.PLAN_REVIEW: frozenset({Status.EXECUTING, Status.PLANNING}),
    Status.EXECUTING: frozenset({Status.VERIFYING}),
    # verify may send the task back to execute (fix loop); so may a reviewer asking for changes
    Status.VERIFYING: frozenset({Status.DIFF_REVIEW, Status.PUBLISHING, Status.EXECUTING}),
    Status.DIFF_REVIEW: frozenset({Status.PUBLISHING, Status.EXECUTING}),
    Status.PUBLISHING: frozenset({Status.SUMMARIZING}),
    Status.SUMMARIZING: frozenset({Status.COMPLETED}),
}


# Where a retry picks a failed or cancelled task up, by the status it stopped in. The workspace
# is gone once a task ends, so stages that need it start over from prepare (which rebuilds it
# and then moves to the status given here); publish and summarize need no workspace.
RETRY_RESUME: dict[Status, Status] = {
    Status.QUEUED: Status.PLANNING,
    Status.PREPARING: Status.PLANNING,
    Status.PLANNING: Status.PLANNING,
    Status.PLAN_REVIEW: Status.PLAN_REVIEW,
    # the change lived in the workspace: it is made again from the approved plan
    Status.EXECUTING: Status.EXECUTING,
    Status.VERIFYING: Status.EXECUTING,
    Status.DIFF_REVIEW: Status.EXECUTING,
    Status.PUBLISHING: Status.PUBLISHING,
    Status.SUMMARIZING: Status.SUMMARIZING,
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
    # For a repository without tests: a command the model proposes to check the change (run in
    # the sandbox without network by verify, and always shown as the model's, never as the
    # repository's own tests). Ignored when the repository has a test suite.
    check_command: Text = Field(default="", max_length=limits.MAX_TITLE_CHARS * 4)

    @model_validator(mode="after")
    def _bounded(self) -> Plan:
        size = (
            len(self.summary)
            + len(self.check_command)
            + sum(len(s.title) + len(s.details) + sum(len(f) for f in s.files) for s in self.steps)
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
    suite_found: bool = True  # False: the repository has no tests; nothing of its own verifies
    check_command: str = ""  # the model-proposed check run instead (see Plan.check_command)
    check_exit_code: int | None = None  # None: no check ran
    check_note: str = ""  # e.g. timed out


class Conformance(Model):
    """How the change matches the approved plan."""

    unplanned_files: list[str] = Field(default_factory=list)
    untouched_steps: list[str] = Field(default_factory=list)


class Caption(Model):
    start_s: float  # when the text starts in the audio
    text: str


class Audio(Model):
    url: str
    path: str
    duration_s: float
    transcript: str
    captions_url: str = ""  # WebVTT, a cue per sentence
    captions: list[Caption] = Field(default_factory=list)  # per sentence, when the voice says


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


class Feedback(Model):
    """What a reviewer said when rejecting a plan or asking for changes to a diff; it goes into
    the model's prompt for the round it names."""

    kind: str  # "plan" or "diff"
    text: Text = Field(min_length=1, max_length=limits.MAX_FEEDBACK_CHARS)
    round: int


def now() -> datetime:
    return datetime.now(UTC)


def new_task_id() -> str:
    return "t_" + secrets.token_hex(6)


class GitHubOrigin(Model):
    """Where a task started from GitHub came from, so that every comment and follow-up finds
    its way back. `number` is the issue's or pull request's; `comment_id` the trigger comment
    (0 for a label), `review_comment` says it is a pull request review comment."""

    installation_id: int
    repository: str  # owner/name
    number: int
    is_pull_request: bool = False
    comment_id: int = 0
    review_comment: bool = False
    sender: str
    sender_id: int = 0
    trigger: str = "label"  # label | comment | review_comment
    follow_up_of: str = ""  # the task whose pull request this task adds commits to
    status_comment_id: int = 0  # the status comment, once posted
    status_phase: str = ""  # what the status comment says now (see shared/github/texts.py)


class GitHubInstallation(Model):
    """An installation of the GitHub App, as its webhooks told us."""

    id: int
    account: str
    status: str = "active"  # active | suspended | deleted
    repositories: list[str] = Field(default_factory=list)  # owner/name; empty = all or unknown
    updated_at: datetime = Field(default_factory=now)


class Task(Model):
    id: str = Field(default_factory=new_task_id)
    status: Status = Status.QUEUED
    repo: str
    base_branch: str = ""
    prompt: str
    model: str
    auto_approve: bool = False
    owner: str = LOCAL_USER_ID  # a user id; every read and write is scoped to it
    # whose key pays for the model calls: "operator" or "user:<provider>"
    key_source: str = "operator"
    plan: Plan | None = None
    diff: str = ""
    tests: TestReport = Field(default_factory=TestReport)
    conformance: Conformance = Field(default_factory=Conformance)
    branch: str = ""
    pr_url: str = ""
    pr_number: int = 0
    audio: Audio | None = None
    usage: Usage = Field(default_factory=Usage)
    error: TaskError | None = None
    round: int = 0
    fixes: int = 0  # automatic fix rounds so far (verify sent the change back to execute)
    feedback: Feedback | None = None
    stopped_in: Status | None = None  # the status a failed or cancelled task was in
    resume_at: Status | None = None  # where prepare hands a retried task on to
    origin: GitHubOrigin | None = None
    timings: Timings = Field(default_factory=Timings)
    version: int = 0
    created_at: datetime = Field(default_factory=now)
    updated_at: datetime = Field(default_factory=now)

    @property
    def short_id(self) -> str:
        return self.id.removeprefix("t_")[:8]

    @property
    def publishes_without_review(self) -> bool:
        """A task from GitHub opens a draft pull request, which is its diff review."""
        return self.auto_approve or self.origin is not None


class TaskFilter(Model):
    """Which tasks a history listing shows; every field narrows it. `before` is the id of the
    last task of the previous page (pages are newest first)."""

    status: Status | None = None
    repo: str = ""
    text: str = Field(default="", max_length=500)  # a case-insensitive substring of the prompt
    before: str = ""

    def matches(self, task: Task) -> bool:
        return (
            (self.status is None or task.status == self.status)
            and (not self.repo or task.repo == self.repo)
            and (not self.text or self.text.casefold() in task.prompt.casefold())
        )


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
    OUTPUT = "output"  # a running command's output, live, in chunks (or its elapsed time)


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
    # of those, how many a restart of the whole local server stopped: not the stage's fault,
    # so not counted against its retry budget (a power cut must not use it up)
    interruptions: int = 0
    last_error: str = ""  # why the previous execution of this stage ended early

    @property
    def spent(self) -> int:
        """Starts counted against the stage's retry budget."""
        return self.attempts - self.interruptions


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
TASK_INTERNAL_FIELDS = frozenset({"version", "timings", "resume_at"})


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
