"""Every port to the outside world. Adapters implement these structurally (no inheritance).

Signatures use domain types only: no URLs, headers or SDK types."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Protocol, runtime_checkable

from pydantic import Field, JsonValue

from shared.domain import Event, EventKind, Lease, Model, StageRequest, Task, Usage

# ---------------------------------------------------------------------------- Store


class Store(Protocol):
    """Tasks and their event logs. Safe to share between threads and processes."""

    def create_task(self, task: Task) -> Task: ...

    def get_task(self, task_id: str) -> Task:
        """Raises NotFound."""
        ...

    def list_tasks(self, limit: int = 50) -> list[Task]:
        """Newest first."""
        ...

    def update_task(self, task: Task) -> Task:
        """Compare-and-set on `task.version`: stores `task` with version+1 and returns it, or
        raises Conflict when the stored version is no longer `task.version`."""
        ...

    def append_event(self, task_id: str, kind: EventKind, data: dict[str, JsonValue]) -> Event: ...

    def latest_event_id(self) -> int:
        """The newest event id of any task (0 when there is none): a change-feed cursor."""
        ...

    def read_events(self, task_id: str | None, after: int = 0, limit: int = 500) -> list[Event]:
        """Events with id > after, oldest first; all tasks when task_id is None. Together with
        Event.id this is the change feed: poll or wait, then read after your cursor."""
        ...

    def wait_for_events(self, after: int, timeout_s: float) -> bool:
        """Block until an event with id > after exists (True) or the timeout passes (False)."""
        ...


# ---------------------------------------------------------------------------- Leases


@runtime_checkable
class Leases(Protocol):
    """One lease per task on the stage that runs for it (see domain.Lease). Every change is a
    compare-and-set on the holder, so that two dispatchers, a sweeper and the execution itself
    can race safely. Implemented by the Store adapters, in the same database."""

    def get_lease(self, task_id: str) -> Lease | None: ...

    def put_lease(self, lease: Lease, expected_holder: str) -> bool:
        """Stores `lease` when the stored lease's holder is `expected_holder` ('' = none is
        stored); False otherwise."""
        ...

    def renew_lease(self, task_id: str, holder: str, expires_at: datetime) -> bool:
        """Moves the expiry of the lease `holder` holds; False when it holds none (any more)."""
        ...

    def drop_lease(self, task_id: str, holder: str) -> bool:
        """Deletes the lease when `holder` holds it."""
        ...

    def expired_leases(self, at: datetime, limit: int = 100) -> list[Lease]:
        """Leases whose expiry is before `at`, the longest expired first."""
        ...


# ---------------------------------------------------------------------------- Queue


class Queue(Protocol):
    """At-least-once delivery of stage requests to the dispatch function, with Cloud Tasks
    semantics: a named request is delivered once per name (a second enqueue is a no-op),
    failed deliveries (non-2xx) retry with exponential backoff."""

    def enqueue(self, request: StageRequest, delay_s: float = 0.0) -> bool:
        """Returns False when a request with the same delivery name was already enqueued."""
        ...


# ---------------------------------------------------------------------------- Jobs


class Jobs(Protocol):
    """Runs one stage of one task in a fresh execution."""

    def run(self, request: StageRequest) -> str:
        """Starts the execution and returns its id without waiting for it."""
        ...

    def gone(self, execution: str) -> bool:
        """True only when the execution surely no longer runs (its process or container is
        gone); False when it runs or this adapter cannot tell (its lease's expiry decides)."""
        ...


# ---------------------------------------------------------------------------- Sandbox


class CommandResult(Model):
    exit_code: int
    output: str
    duration_s: float
    timed_out: bool = False
    truncated: bool = False
    limit: str = ""  # which limit ended the command ("timeout", "memory", "pids", "output")


class Sandbox(Protocol):
    """Runs an untrusted command inside an isolated environment whose only writable, persistent
    place is `workspace` (seen inside as /workspace)."""

    def run(
        self,
        workspace: Path,
        command: str,
        *,
        cwd: str = "/workspace",
        network: bool = False,
        timeout_s: float = 600.0,
        on_output: Callable[[str], None] | None = None,
        env: Mapping[str, str] | None = None,
    ) -> CommandResult:
        """`env` adds to (or overrides) the sandbox's own minimal environment; it must never
        carry a secret."""
        ...


# ---------------------------------------------------------------------------- Blobs


class Blobs(Protocol):
    def put(
        self, key: str, data: bytes, content_type: str = "application/octet-stream"
    ) -> None: ...

    def get(self, key: str) -> bytes:
        """Raises NotFound."""
        ...

    def url(self, key: str) -> str:
        """A URL a browser can fetch the blob from."""
        ...

    def local_path(self, key: str) -> str:
        """Where the blob can be read on this machine ('' when it only lives remotely)."""
        ...


# ---------------------------------------------------------------------------- Forge


class ChangeRequest(Model):
    branch: str
    url: str
    commit: str


class Forge(Protocol):
    def clone(self, repo: str, branch: str, dest: Path) -> str:
        """Clones `repo` at `branch` ('' = default) into dest; returns the resolved branch name.
        Credentials, if any, stay on the trusted side and never land in dest."""
        ...

    def publish(
        self,
        repo: str,
        base_branch: str,
        branch: str,
        patch: str,
        commit_message: str,
        title: str,
        body: str,
    ) -> ChangeRequest:
        """Applies `patch` (taken out of the sandbox as data) to a pristine clone, commits,
        pushes `branch` and opens or updates the change request."""
        ...


# ---------------------------------------------------------------------------- Model


class ToolCall(Model):
    id: str
    name: str
    arguments: str  # raw JSON text as the model produced it; parsing is the agent's job


class Message(Model):
    role: str  # system | user | assistant | tool
    content: str = ""
    tool_calls: list[ToolCall] = Field(default_factory=list)
    tool_call_id: str = ""
    name: str = ""


class ToolSpec(Model):
    name: str
    description: str
    parameters: dict[str, JsonValue]


class Completion(Model):
    message: Message
    usage: Usage
    duration_s: float = 0.0


class ModelClient(Protocol):
    def complete(self, messages: Sequence[Message], tools: Sequence[ToolSpec]) -> Completion:
        """Raises ModelError with a message that says what to fix."""
        ...


# ---------------------------------------------------------------------------- Speech


class Speech(Model):
    data: bytes
    mime_type: str  # audio/mpeg or audio/ogg
    extension: str  # mp3 or ogg
    duration_s: float


class Synthesizer(Protocol):
    def synthesize(self, text: str) -> Speech: ...


# ---------------------------------------------------------------------------- Secrets


class Secrets(Protocol):
    def encrypt(self, plaintext: bytes, context: str) -> bytes:
        """Envelope encryption; `context` is bound as associated data (e.g. the owner id)."""
        ...

    def decrypt(self, ciphertext: bytes, context: str) -> bytes: ...
