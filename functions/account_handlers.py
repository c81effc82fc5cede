"""Thin handlers for the signed-in user: who they are, their keys, tokens, usage and
repositories, and the admin's per-user limits. Every one acts as the request's identity."""

from __future__ import annotations

from datetime import timedelta

import flask

from functions.account_schemas import (
    BranchesView,
    CreateToken,
    Done,
    KeysView,
    MeView,
    NewTokenView,
    PutKey,
    ReposView,
    TokensView,
    TokenView,
    UsageDay,
    UsageMonth,
    UsageView,
    UserLimitsView,
    UserView,
)
from functions.schemas import Empty
from shared.accounts import (
    ApiToken,
    CredentialInfo,
    EffectiveLimits,
    Limits,
    Spend,
    User,
    effective_limits,
    month_start,
    next_day,
    next_month,
)
from shared.auth import Identity, new_token
from shared.domain import now
from shared.repos import RepoService
from shared.wiring import Deps

IDENTITY = "errand.identity"


def identity(request: flask.Request) -> Identity:
    found = request.environ.get(IDENTITY)
    assert isinstance(found, Identity), "route served without authentication"
    return found


def _user(request: flask.Request) -> User:
    return identity(request).user


def _limits(deps: Deps, user: User) -> EffectiveLimits:
    q = deps.settings.quotas
    return effective_limits(user, q.tasks_per_day, q.concurrent_tasks, q.monthly_budget_usd)


def _view(user: User) -> UserView:
    return UserView.model_validate(user.public())


def me(request: flask.Request, deps: Deps) -> MeView:
    user = _user(request)
    models = [deps.settings.model] if deps.settings.model else []
    providers = deps.keys.providers(user.id)
    if providers:
        from shared.adapters.model_catalog import chat_models

        for provider in sorted(providers):
            models.extend(m for m in chat_models(provider) if m not in models)
    return MeView(
        user=_view(user),
        mode="multi" if deps.settings.multi_user else "single",
        default_model=deps.settings.model,
        models=models,
        limits=_limits(deps, user),
    )


def keys_list(request: flask.Request, deps: Deps) -> KeysView:
    return KeysView(keys=deps.keys.list(_user(request).id))


def key_put(request: flask.Request, deps: Deps, provider: str, body: PutKey) -> CredentialInfo:
    return deps.keys.put(_user(request).id, provider, body.key, body.api_base)


def key_delete(request: flask.Request, deps: Deps, provider: str) -> Done:
    deps.keys.delete(_user(request).id, provider)
    return Done(done=f"deleted the {provider} key")


def usage(request: flask.Request, deps: Deps) -> UsageView:
    user, at = _user(request), now()
    days = deps.ledger.daily(user.id, month_start(at))
    today = at.strftime("%Y-%m-%d")
    return UsageView(
        day=UsageDay(
            date=today,
            resets_at=next_day(at).isoformat(),
            **_totals([s for d, s in days.items() if d == today]),
        ),
        month=UsageMonth(
            month=at.strftime("%Y-%m"),
            resets_at=next_month(at).isoformat(),
            **_totals(list(days.values())),
        ),
        days=[UsageDay(date=d, **_totals([s])) for d, s in days.items()],
        limits=_limits(deps, user),
    )


def _totals(spends: list[Spend]) -> dict[str, float]:
    return {
        "tasks": sum(s.tasks for s in spends),
        "tokens": sum(s.prompt_tokens + s.completion_tokens for s in spends),
        "usd": round(sum(s.usd for s in spends), 6),
    }


def repos(request: flask.Request, deps: Deps) -> ReposView:
    return ReposView(repos=RepoService(deps).available(_user(request)))


def branches(request: flask.Request, deps: Deps, full_name: str) -> BranchesView:
    return BranchesView(branches=RepoService(deps).branches(_user(request), full_name))


def local_branches(request: flask.Request, deps: Deps, local_path: str) -> BranchesView:
    return branches(request, deps, "/" + local_path)


def tokens_list(request: flask.Request, deps: Deps) -> TokensView:
    found = deps.tokens.list_tokens(_user(request).id)
    return TokensView(tokens=[_token_view(t) for t in found])


def token_create(request: flask.Request, deps: Deps, body: CreateToken) -> NewTokenView:
    token, raw = new_token(
        _user(request).id,
        body.name.strip(),
        now() + timedelta(days=body.expires_days) if body.expires_days else None,
    )
    deps.tokens.add_token(token)
    return NewTokenView(**_token_view(token).model_dump(), token=raw)  # shown this once


def token_revoke(request: flask.Request, deps: Deps, token_id: str) -> Done:
    deps.tokens.revoke_token(_user(request).id, token_id)
    return Done(done=f"revoked {token_id}")


def logout(request: flask.Request, deps: Deps, body: Empty) -> flask.Response:
    found = identity(request)
    response = flask.Response(
        Done(done="signed out").model_dump_json(), mimetype="application/json"
    )
    for cookie in deps.auth.end_session(found):
        response.headers.add("Set-Cookie", cookie)
    found.set_cookies = []
    return response


def user_limits(request: flask.Request, deps: Deps, login: str, body: Limits) -> UserLimitsView:
    """Admins only (the route table hides it from everyone else)."""
    user = deps.users.find_user(login)
    stored = deps.users.update_user(user.model_copy(update={"limits": body}))
    return UserLimitsView(user=_view(stored), limits=stored.limits)


def _token_view(token: ApiToken) -> TokenView:
    return TokenView.model_validate(token.model_dump(exclude={"hash", "user_id"}))
