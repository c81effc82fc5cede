"""Thin handlers for the signed-in user: who they are, their keys, tokens, usage and
repositories, and the admin's per-user limits. Every one acts as the request's identity."""

from __future__ import annotations

import secrets
from datetime import timedelta

import flask
from pydantic import Field

from shared.accounts import (
    ApiToken,
    Limits,
    Spend,
    effective_limits,
    month_start,
    next_day,
    next_month,
    token_hash,
)
from shared.auth import TOKEN_PREFIX, Identity
from shared.domain import Model, now
from shared.errors import NotFound
from shared.repos import RepoService
from shared.services import parse
from shared.wiring import Deps

IDENTITY = "errand.identity"


def identity(request: flask.Request) -> Identity:
    found = request.environ.get(IDENTITY)
    assert isinstance(found, Identity), "route served without authentication"
    return found


def ok(body: object, status: int = 200) -> flask.Response:
    return flask.Response(flask.json.dumps(body), status=status, mimetype="application/json")


class PutKey(Model):
    key: str = Field(max_length=4096)
    api_base: str = Field(default="", max_length=500)


class CreateToken(Model):
    name: str = Field(min_length=1, max_length=100)
    expires_days: int | None = Field(default=None, ge=1, le=3650)


def _limits(deps: Deps, request: flask.Request) -> dict[str, object]:
    q = deps.settings.quotas
    user = identity(request).user
    return effective_limits(
        user, q.tasks_per_day, q.concurrent_tasks, q.monthly_budget_usd
    ).model_dump()


def me(request: flask.Request, deps: Deps) -> flask.Response:
    user = identity(request).user
    models = [deps.settings.model] if deps.settings.model else []
    providers = deps.keys.providers(user.id)
    if providers:
        from shared.adapters.model_catalog import chat_models

        for provider in sorted(providers):
            models.extend(m for m in chat_models(provider) if m not in models)
    return ok(
        {
            "user": user.public(),
            "mode": "multi" if deps.settings.multi_user else "single",
            "default_model": deps.settings.model,
            "models": models,
            "limits": _limits(deps, request),
        }
    )


def keys_list(request: flask.Request, deps: Deps) -> flask.Response:
    infos = deps.keys.list(identity(request).user.id)
    return ok({"keys": [i.model_dump(mode="json") for i in infos]})


def key_put(request: flask.Request, deps: Deps, provider: str) -> flask.Response:
    body = parse(PutKey, request.get_data())
    info = deps.keys.put(identity(request).user.id, provider, body.key, body.api_base)
    return ok(info.model_dump(mode="json"))


def key_delete(request: flask.Request, deps: Deps, provider: str) -> flask.Response:
    deps.keys.delete(identity(request).user.id, provider)
    return ok({"deleted": provider})


def usage(request: flask.Request, deps: Deps) -> flask.Response:
    at = now()
    days = deps.ledger.daily(identity(request).user.id, month_start(at))
    today = at.strftime("%Y-%m-%d")
    day: dict[str, object] = {"date": today, "resets_at": next_day(at).isoformat()}
    day.update(_totals([s for d, s in days.items() if d == today]))
    month: dict[str, object] = {
        "month": at.strftime("%Y-%m"),
        "resets_at": next_month(at).isoformat(),
    }
    month.update(_totals(list(days.values())))
    return ok(
        {
            "day": day,
            "month": month,
            "days": [{"date": d, **_totals([s])} for d, s in days.items()],
            "limits": _limits(deps, request),
        }
    )


def _totals(spends: list[Spend]) -> dict[str, object]:
    return {
        "tasks": sum(s.tasks for s in spends),
        "tokens": sum(s.prompt_tokens + s.completion_tokens for s in spends),
        "usd": round(sum(s.usd for s in spends), 6),
    }


def repos(request: flask.Request, deps: Deps) -> flask.Response:
    found = RepoService(deps).available(identity(request).user)
    return ok({"repos": [r.model_dump() for r in found]})


def branches(request: flask.Request, deps: Deps, full_name: str) -> flask.Response:
    names = RepoService(deps).branches(identity(request).user, full_name)
    return ok({"branches": names})


def tokens_list(request: flask.Request, deps: Deps) -> flask.Response:
    found = deps.tokens.list_tokens(identity(request).user.id)
    return ok({"tokens": [_token_public(t) for t in found]})


def token_create(request: flask.Request, deps: Deps) -> flask.Response:
    body = parse(CreateToken, request.get_data())
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(
        user_id=identity(request).user.id,
        name=body.name.strip(),
        hash=token_hash(raw),
        last4=raw[-4:],
        expires_at=now() + timedelta(days=body.expires_days) if body.expires_days else None,
    )
    deps.tokens.add_token(token)
    return ok(_token_public(token) | {"token": raw}, 201)  # the only time it is shown


def token_revoke(request: flask.Request, deps: Deps, token_id: str) -> flask.Response:
    deps.tokens.revoke_token(identity(request).user.id, token_id)
    return ok({"revoked": token_id})


def logout(request: flask.Request, deps: Deps) -> flask.Response:
    found = identity(request)
    response = ok({"signed_out": True})
    for cookie in deps.auth.end_session(found):
        response.headers.add("Set-Cookie", cookie)
    found.set_cookies = []
    return response


def user_limits(request: flask.Request, deps: Deps, login: str) -> flask.Response:
    """Admins only; to everyone else the route does not exist."""
    if not identity(request).user.admin:
        raise NotFound(f"no route {request.method} {request.path}")
    user = deps.users.find_user(login)
    limits = parse(Limits, request.get_data())
    stored = deps.users.update_user(user.model_copy(update={"limits": limits}))
    return ok({"user": stored.public(), "limits": stored.limits.model_dump()})


def _token_public(token: ApiToken) -> dict[str, object]:
    return token.model_dump(mode="json", exclude={"hash", "user_id"})
