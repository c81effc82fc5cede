"""Every port to the outside world. Adapters implement these structurally (no inheritance).

Signatures use domain types only: no URLs, headers or SDK types."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Protocol, runtime_checkable

from pydantic import Field, JsonValue

from shared.accounts import (
    ApiToken,
    CredentialInfo,
    EffectiveLimits,
    Session,
    Spend,
    StoredCredential,
    User,
)
from shared.domain import (
    Caption,
    Event,
    EventKind,
    GitHubInstallation,
    GitHubOrigin,
    Lease,
    Model,
    StageRequest,
    Task,
    TaskFilter,
    Usage,
)

# ---------------------------------------------------------------------------- Store


class Store(Protocol):
    """Tasks and their event logs. Safe to share between threads and processes."""

    def create_task(self, task: Task, quota: EffectiveLimits | None = None) -> Task:
        """With `quota`, atomically refuses (QuotaExceeded) a task that would pass its owner's
        tasks per day or concurrent tasks: racing creates admit exactly the quota."""
        ...

    def get_task(self, task_id: str) -> Task:
        """Raises NotFound."""
        ...

    def list_tasks(
        self, limit: int = 50, where: TaskFilter | None = None, owner: str | None = None
    ) -> list[Task]:
        """Newest first, narrowed by `where` and to `owner`'s tasks when given. Raises
        InvalidInput when `where.before` names no task."""
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


# ---------------------------------------------------------------------------- Accounts


class Users(Protocol):
    def ensure_github_user(self, github_id: int, login: str, name: str, avatar_url: str) -> User:
        """Upsert on first sight (webhook senders, OAuth sign-ins); keeps role and limits."""
        ...

    def ensure_local_user(self, login: str) -> User: ...

    def get_user(self, user_id: str) -> User:
        """Raises NotFound."""
        ...

    def find_user(self, login: str) -> User:
        """By login, case-insensitively. Raises NotFound."""
        ...

    def update_user(self, user: User) -> User:
        """Stores the role and limits of an existing user."""
        ...


class Tokens(Protocol):
    """Personal API tokens, stored by hash."""

    def add_token(self, token: ApiToken) -> None: ...
    def find_token(self, hash_: str) -> ApiToken: ...
    def list_tokens(self, user_id: str) -> list[ApiToken]: ...
    def revoke_token(self, user_id: str, token_id: str) -> None: ...


class Sessions(Protocol):
    """Browser sessions and one-time codes (login links, OAuth states, device logins), stored
    by hash."""

    def put_session(self, session: Session, replaces: str = "") -> None: ...
    def find_session(self, hash_: str) -> Session: ...
    def delete_session(self, hash_: str) -> None: ...
    def add_code(
        self, kind: str, hash_: str, user_id: str, data: str, expires_at: datetime
    ) -> None: ...
    def take_code(self, kind: str, hash_: str) -> tuple[str, str]:
        """(user_id, data) once; NotFound when unknown, used or expired."""
        ...

    def find_code(self, kind: str, hash_: str) -> tuple[str, str]:
        """(user_id, data) without using the code up; NotFound when unknown, used or expired."""
        ...

    def swap_code(
        self,
        kind: str,
        hash_: str,
        expected: str | None,
        user_id: str,
        data: str,
        expires_at: datetime,
    ) -> bool:
        """Compare-and-set of a code that lives on (device logins, rate-limit counters): when
        its data is `expected` (None: when there is no live code of that kind and hash) it
        becomes (user_id, data, expires_at) and True is returned; False when it changed."""
        ...


class Credentials(Protocol):
    """Users' encrypted credentials (model keys, their GitHub token): ciphertext only."""

    def put_credential(self, user_id: str, credential: StoredCredential) -> None: ...
    def get_credential(self, user_id: str, provider: str) -> StoredCredential: ...
    def list_credentials(self, user_id: str) -> list[CredentialInfo]: ...
    def delete_credential(self, user_id: str, provider: str) -> None: ...
    def all_credentials(self) -> list[tuple[str, StoredCredential]]: ...
    def replace_ciphertext(self, user_id: str, provider: str, old: bytes, new: bytes) -> bool:
        """Compare-and-set of one ciphertext (key rotation); False when it changed."""
        ...


class Ledger(Protocol):
    """Model spending: each call reserves its worst-case cost first and settles after."""

    def reserve(
        self, user_id: str, task_id: str, usd: float, monthly_usd: float, task_usd: float
    ) -> str:
        """Atomically holds `usd` against the user's monthly budget and the task's budget;
        raises BudgetExceeded naming the budget and the overshoot. Returns a reservation id."""
        ...

    def settle(self, reservation_id: str, usage: Usage) -> None: ...

    def daily(self, user_id: str, since: datetime) -> dict[str, Spend]:
        """Tasks created and model spending per UTC day (YYYY-MM-DD) from `since`."""
        ...


class GitHubIdentity(Model):
    id: int
    login: str
    name: str = ""
    avatar_url: str = ""


class RepoInfo(Model):
    full_name: str
    default_branch: str = ""
    private: bool = False


class GitHubAccount(Protocol):
    """GitHub's OAuth web flow and the user-token API calls the server makes for a user."""

    def authorize_url(self, state: str, code_challenge: str, redirect_uri: str) -> str: ...

    def exchange(self, code: str, code_verifier: str, redirect_uri: str) -> str:
        """The user's access token for an authorization code. Raises Unauthorized."""
        ...

    def user(self, token: str) -> GitHubIdentity: ...

    def repos(self, token: str) -> list[RepoInfo]: ...

    def repo(self, token: str, full_name: str) -> RepoInfo:
        """Raises NotFound when the token cannot see the repository."""
        ...

    def branches(self, token: str, full_name: str) -> list[str]: ...


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


class OutputChunk(Model):
    """A running command's output since the previous chunk ('' when it printed nothing: then
    the chunk only tells how long it has been running)."""

    text: str
    elapsed_s: float
    skipped_bytes: int = 0  # printed faster than it can be streamed; the result keeps the rest


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
        on_progress: Callable[[OutputChunk], None] | None = None,
    ) -> CommandResult:
        """`on_output` gets the kept output line by line; `on_progress` gets it live, in
        coalesced chunks (partial lines within a second), and an empty chunk with the elapsed
        time while the command is silent (at least every 2 s). `env` adds to (or overrides)
        the sandbox's own minimal environment; it must never carry a secret."""
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
    number: int = 0  # the pull request's number where the forge has pull requests


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
        pushes `branch` and opens or updates the change request.

        When `branch` equals `base_branch` (a follow-up on Errand's own `errand/...` branch) the
        commit goes on top of the branch as it is and the existing change request keeps its
        title and description."""
        ...


class ForgeFeedback(Protocol):
    """What a task started from the forge says back there. Every call is idempotent: the
    status comment is found again by a hidden marker, a reaction that exists is kept."""

    def post_status(self, origin: GitHubOrigin, task_id: str, text: str) -> int:
        """Creates the task's status comment on the origin's issue or pull request, or edits
        it in place (`origin.status_comment_id`, else the one carrying the task's marker);
        returns its id."""
        ...

    def acknowledge(self, origin: GitHubOrigin) -> None:
        """Reacts with 👀 to the comment that triggered the task (nothing for a label)."""
        ...

    def role(self, repository: str, login: str) -> str:
        """The user's role on the repository: admin, maintain, write, triage, read or ''."""
        ...

    def describe(self, repository: str, number: int, body: str) -> None:
        """Replaces the description of change request `number`."""
        ...

    def head_branch(self, repository: str, number: int) -> str:
        """The branch of change request `number`, '' when it lives in another repository (a
        fork Errand cannot push to)."""
        ...


class WebhookLog(Protocol):
    """What the GitHub webhook route remembers: deliveries seen (for dedupe), installations,
    and the tasks that belong to an issue or pull request. Thread- and process-safe."""

    def claim_delivery(self, delivery_id: str) -> bool:
        """Records the delivery; False when it was recorded before (a redelivery)."""
        ...

    def release_delivery(self, delivery_id: str) -> None:
        """Forgets a delivery whose handling failed, so that a redelivery is handled."""
        ...

    def save_installation(self, installation: GitHubInstallation) -> None: ...

    def installation(self, installation_id: int) -> GitHubInstallation | None: ...

    def link_task(self, repository: str, number: int, task_id: str) -> None:
        """Remembers that `task_id` works on issue or pull request `number`."""
        ...

    def linked_tasks(self, repository: str, number: int) -> list[str]:
        """Task ids linked to the issue or pull request, newest first."""
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
    # how long each spoken sentence lasted, in order, when the engine reports it (for captions)
    sentence_durations_s: list[float] = Field(default_factory=list)
    captions: list[Caption] = Field(default_factory=list)  # per sentence, when the engine knows


class Synthesizer(Protocol):
    def synthesize(self, text: str) -> Speech: ...


# ---------------------------------------------------------------------------- Secrets


class Secrets(Protocol):
    def encrypt(self, plaintext: bytes, context: str) -> bytes:
        """Envelope encryption; `context` is bound as associated data (e.g. the owner id)."""
        ...

    def decrypt(self, ciphertext: bytes, context: str) -> bytes: ...

    def rotate(self) -> None:
        """Makes a new key-encryption key current; earlier ones still unwrap until retired."""
        ...

    def rewrap(self, ciphertext: bytes, context: str) -> bytes:
        """The same secret with its data key wrapped by the current key-encryption key."""
        ...

    def retire(self) -> int:
        """Forgets every key-encryption key but the current one; returns how many."""
        ...


class AppSecrets(Protocol):
    """The operator's own secrets (GitHub App private key, webhook secret, OAuth client
    secret), by short name such as "github-webhook-secret"."""

    def get(self, name: str) -> str:
        """The current value; raises NotFound when the secret or its value does not exist."""
        ...
