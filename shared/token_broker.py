"""The GitHub token broker: how a stage execution gets a GitHub token without the App's key.

In the cloud, stage executions (Cloud Run Jobs) run repository code in a sandbox next to the
trusted controller, so their service account cannot read the GitHub App's private key
(terraform/secrets.tf). Prepare still clones, publish still pushes and opens the pull request,
and stages of a task from GitHub still comment on it. The functions (which hold the key) hand
each execution a token on request, at `POST /api/github/token`:

- **Who asks** is proven by the execution's own OIDC identity token, which Cloud Run's metadata
  server mints for the job's service account: Google-signed, audience = this route's URL,
  email = ERRAND_JOB_SERVICE_ACCOUNT. Nothing else is accepted (not user tokens, not the
  queue's or the scheduler's accounts).
- **For what** is decided here, from the store, never from the request: the request names the
  task, the stage and the lease holder the execution was started with (`StageRequest.holder`,
  a random value dispatch put in the lease and passed only to that execution). The lease must
  be live and held by that holder for that stage, and the task must be in that stage's status.
  A job identity asking for another task, another stage or after its lease moved on is refused.
- **What it gets** is a fresh installation token (not shared with any other execution) for the
  task's one repository, with the permissions that stage needs (`grant`): contents read for
  prepare; contents write and pull requests for publish; issues and pull requests for the
  status comments of a task from GitHub; nothing at all for the rest. It lives an hour at most
  (GitHub's limit) and cannot outlive what GitHub lets the App do.

Why a broker rather than a token handed over by dispatch (encrypted to the job): a token put in
the execution's overrides sits in the Cloud Run execution's spec, readable by anyone who may
read executions, for as long as the execution is kept, and is minted minutes or hours before
it is needed (a queued stage); encrypting it to the job would need a key the job can use for
every task, so one execution could open another's. Asked at the moment of use, bound to a live
lease, the token never exists outside the two trusted processes and TLS, and a redelivered or
stale execution gets nothing. Inside the execution the token stays with the trusted controller
as before (git's environment, PyGithub), never in the sandbox; the broker and the job log
neither the token nor the response."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Protocol

from shared.domain import Model, Stage, Task, is_due, now
from shared.errors import Forbidden, NotFound
from shared.github.refs import github_repo
from shared.ports import Leases, Store


class TokenRequest(Model):
    task_id: str
    stage: Stage
    holder: str


class TokenGrant(Model):
    token: str
    expires_at: datetime
    repository: str  # owner/name: the only repository it works on
    permissions: dict[str, str]


class Verifier(Protocol):
    def verify(self, authorization: str) -> Mapping[str, object]: ...


class Minter(Protocol):
    web_url: str

    def mint(
        self, repository: str, permissions: Mapping[str, str], installation_id: int = 0
    ) -> tuple[str, float]: ...


def grant(stage: Stage, task: Task) -> dict[str, str]:
    """The permissions `stage` of `task` needs on its repository; empty: none at all."""
    wanted: dict[str, str] = {}
    if stage == Stage.PREPARE:
        wanted["contents"] = "read"
    elif stage == Stage.PUBLISH:
        wanted.update(contents="write", pull_requests="write")
    elif stage == Stage.SUMMARIZE and task.pr_number:
        wanted["pull_requests"] = "write"  # the description gains the audio link
    if task.origin is not None and stage != Stage.CLEANUP:
        wanted.update(issues="write", pull_requests="write")  # status comment, reactions
    return {**wanted, "metadata": "read"} if wanted else {}


def covers(granted: Mapping[str, str], wanted: Mapping[str, str]) -> bool:
    """Whether a token with `granted` may do what `wanted` asks (write covers read)."""
    levels = {"read": 1, "write": 2}
    return all(levels.get(granted.get(k, ""), 0) >= levels.get(v, 3) for k, v in wanted.items())


class TokenBroker:
    """Thread-safe if its ports are."""

    def __init__(self, verifier: Verifier, store: Store, leases: Leases, app: Minter) -> None:
        self._verifier = verifier
        self._store = store
        self._leases = leases
        self._app = app

    def issue(self, authorization: str, request: TokenRequest) -> TokenGrant:
        """Raises InvalidToken (401) for anyone but the job's account, Forbidden (403) for an
        execution that does not hold `request`'s stage of the task now or needs no token."""
        self._verifier.verify(authorization)
        where = f"the {request.stage.value} stage of task {request.task_id}"
        lease = self._leases.get_lease(request.task_id)
        if (
            lease is None
            or not request.holder
            or lease.holder != request.holder
            or lease.request.stage != request.stage
            or lease.expires_at <= now()
        ):
            raise Forbidden(f"this execution does not hold {where} (its lease moved on or ended)")
        try:
            task = self._store.get_task(request.task_id)
        except NotFound:
            raise Forbidden(f"{where}: the task no longer exists") from None
        if not is_due(lease.request, task):
            raise Forbidden(f"{where} is over: the task is {task.status.value}")
        repository = github_repo(task.repo, self._app.web_url)
        if repository is None:
            raise Forbidden(f"{where}: {task.repo} is not a repository on this GitHub")
        permissions = grant(request.stage, task)
        if not permissions:
            raise Forbidden(f"{where} needs no GitHub token")
        installation = task.origin.installation_id if task.origin else 0
        token, expires = self._app.mint(repository, permissions, installation)
        return TokenGrant(
            token=token,
            expires_at=datetime.fromtimestamp(expires, UTC),
            repository=repository,
            permissions=permissions,
        )
