"""Wiring for accounts: which key pays for a task's model calls, metering of those calls, and
the authenticator. Kept beside shared/wiring.py (which calls into it) to keep both small."""

from __future__ import annotations

import getpass
import secrets
from pathlib import Path
from typing import TYPE_CHECKING

from shared import paths
from shared.accounts import LOCAL_USER_ID, User, effective_limits
from shared.errors import InvalidInput, NotFound, StageFailed
from shared.ports import ModelClient
from shared.settings import Settings

if TYPE_CHECKING:
    from shared.auth import Authenticator
    from shared.domain import Task
    from shared.metered import Priced
    from shared.services import KeyPolicy
    from shared.wiring import Deps

OPERATOR = "operator"


def local_login() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no passwd entry (containers)
        return "local"


def limits_of(deps: Deps, user_id: str) -> float:
    """The monthly budget of a task owner."""
    q = deps.settings.quotas
    try:
        user = deps.users.get_user(user_id)
    except NotFound:
        user = User(id=user_id, login=user_id, admin=user_id == LOCAL_USER_ID)
    return effective_limits(
        user, q.tasks_per_day, q.concurrent_tasks, q.monthly_budget_usd
    ).monthly_budget_usd


def key_policy(deps: Deps) -> KeyPolicy:
    def decide(owner: User, model: str, repo: str, repo_verified: bool) -> str:
        if not repo_verified:
            check_repo(deps, owner, repo)
        if model.startswith("scripted"):
            return OPERATOR
        s = deps.settings
        own = deps.keys.providers(owner.id)
        if not own and (model == s.model or not s.multi_user):
            return OPERATOR  # and litellm stays unimported in the API process
        from shared.adapters.model_catalog import provider_of

        provider = provider_of(model)
        if provider and provider in own:
            return f"user:{provider}"
        if model == s.model or not s.multi_user:
            return OPERATOR
        raise InvalidInput(
            f"no key of yours for provider {provider or '(unknown)'} of model {model!r}: add "
            f"one (PUT /api/me/keys/{provider or 'PROVIDER'}, or the web app's settings), or "
            f"use the server's default model {s.model!r}"
        )

    return decide


def check_repo(deps: Deps, owner: User, repo: str) -> None:
    """Multi-user mode: local paths only under ERRAND_LOCAL_REPOS (GitHub repositories are
    checked against the user's GitHub token by shared/repos.py)."""
    s = deps.settings
    if not s.multi_user or "://" in repo or repo.startswith("git@"):
        return
    if repo.count("/") == 1 and not repo.startswith(("/", ".", "~")):
        from shared.repos import RepoService

        RepoService(deps).require_access(owner, repo)
        return
    path = Path(repo).expanduser().resolve()
    if not any(path.is_relative_to(root.resolve()) for root in s.local_repos):
        raise InvalidInput(
            f"local repository {repo!r} is not allowed on this server: use a GitHub repository "
            "(owner/name), or ask the operator to add its directory to ERRAND_LOCAL_REPOS"
        )


def user_model(deps: Deps, task: Task, name: str, label: str) -> ModelClient:
    """The model client for one of `task`'s calls: with the owner's key when one pays, metered
    against the task's and the owner's budgets."""
    from shared.metered import MeteredModel

    api_key = api_base = None
    if task.key_source.startswith("user:"):
        provider = task.key_source.removeprefix("user:")
        try:
            api_key, api_base = deps.keys.reveal(task.owner, provider)
        except NotFound:
            raise StageFailed(
                "key_missing",
                f"the {provider} key this task was created with was deleted; add it again and "
                "create the task again",
            ) from None
        deps.revealed.append(api_key)
    inner = deps.base_model(name, label, api_key=api_key, api_base=api_base)
    worst: Priced | None = inner if hasattr(inner, "worst_case_usd") else None  # type: ignore[assignment]
    return MeteredModel(
        inner,
        worst,
        deps.ledger,
        task.owner,
        task.id,
        monthly_usd=limits_of(deps, task.owner),
        task_usd=deps.settings.budgets.max_cost_usd,
    )


def signing_key(settings: Settings) -> bytes:
    """Signs session cookies and blob URLs: ERRAND_SESSION_SECRET, else a 0600 key file."""
    given = settings.session_secret.get_secret_value()
    if given:
        return given.encode()
    path = paths.signing_key(settings.home)
    try:
        return _read_private(path)
    except FileNotFoundError:
        pass
    from shared.adapters.local_secrets import write_key_file

    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    write_key_file(path, secrets.token_bytes(32))  # another process's key wins a race
    return _read_private(path)


def _read_private(path: Path) -> bytes:
    from shared.adapters.local_secrets import LocalSecrets

    data = LocalSecrets._read(path)  # same checks: 0600, 32 bytes, no symlink
    return data


def authenticator(deps: Deps) -> Authenticator:
    from shared.auth import Authenticator

    s = deps.settings
    return Authenticator(
        users=deps.users,
        tokens=deps.tokens,
        sessions=deps.sessions,
        signing_key=deps.signing_key,
        internal_token=s.internal_token.get_secret_value(),
        local_login=local_login(),
        secure_cookies=(s.public_url or s.server_url).startswith("https://"),
    )
