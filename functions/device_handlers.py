"""Thin handlers of the CLI's browser sign-in (RFC 8628 device grant): the CLI starts and
polls without credentials; the signed-in person looks at the request and approves or denies
it. The rules live in shared/device_login.py."""

from __future__ import annotations

import flask

from functions.account_handlers import identity
from functions.auth_handlers import public_origin
from functions.device_schemas import (
    CliLoginDecision,
    CliLoginStarted,
    CliLoginToken,
    PollCliLogin,
    StartCliLogin,
)
from functions.schemas import Empty
from shared.device_login import DeviceLogin, DeviceRequest
from shared.domain import Model
from shared.wiring import Deps

VERIFY_PAGE = "/device"  # the web app's page (web/src/pages/DevicePage.tsx)


def _service(deps: Deps) -> DeviceLogin:
    return DeviceLogin(deps.sessions, deps.tokens, deps.users)


def _no_store(body: Model, status: int = 200) -> flask.Response:
    # codes and tokens: no cache may keep them (RFC 6749 §5.1)
    return flask.Response(
        body.model_dump_json(),
        status=status,
        mimetype="application/json",
        headers={"Cache-Control": "no-store", "Pragma": "no-cache"},
    )


def start(request: flask.Request, deps: Deps, body: StartCliLogin) -> flask.Response:
    started = _service(deps).start(body.host, body.client, request.remote_addr or "")
    page = public_origin(request, deps) + VERIFY_PAGE
    return _no_store(
        CliLoginStarted(
            **started.model_dump(),
            verification_uri=page,
            verification_uri_complete=f"{page}?code={started.user_code}",
        )
    )


def token(request: flask.Request, deps: Deps, body: PollCliLogin) -> flask.Response:
    minted = _service(deps).poll(body.device_code)
    return _no_store(
        CliLoginToken(
            token=minted.value,
            token_id=minted.token.id,
            name=minted.token.name,
            login=minted.login,
        )
    )


def show(request: flask.Request, deps: Deps, user_code: str) -> DeviceRequest:
    return _service(deps).describe(identity(request).user, user_code)


def approve(request: flask.Request, deps: Deps, user_code: str, body: Empty) -> CliLoginDecision:
    found = _service(deps).decide(identity(request).user, user_code, approve=True)
    return CliLoginDecision(status="approved", user_code=found.user_code, host=found.host)


def deny(request: flask.Request, deps: Deps, user_code: str, body: Empty) -> CliLoginDecision:
    found = _service(deps).decide(identity(request).user, user_code, approve=False)
    return CliLoginDecision(status="denied", user_code=found.user_code, host=found.host)
