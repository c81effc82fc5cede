"""Who may call a route: authentication (shared/auth.py) and owner checks for every route of
the table, and CORS for the origins the operator configured."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import flask

from functions import account_handlers as me
from functions.routes import Route
from shared.auth import Identity
from shared.errors import NotFound, Unauthorized
from shared.wiring import Deps


def origins(request: flask.Request, deps: Deps) -> set[str]:
    """The browser origins that are this server (for the CSRF Origin check)."""
    s = deps.settings
    own = {f"http://{request.host}", f"https://{request.host}", *s.cors_origins}
    return own | ({s.public_url} if s.public_url else set())


# Set by the cloud dispatch function once it verified the caller's OIDC token (Cloud Tasks,
# Cloud Scheduler) for one path: that stands for the server's own token on that route only.
INTERNAL_VERIFIED = "errand.internal_verified"


def authenticate(
    request: flask.Request, deps: Deps, route: Route, args: Mapping[str, Any]
) -> Identity | None:
    """Who calls (401/403 otherwise). Internal routes take only the server's own token, admin
    routes only admins (to anyone else they do not exist)."""
    if route.public:
        return None
    headers = {k.lower(): v for k, v in request.headers.items()}
    if route.internal:
        verified = request.environ.get(INTERNAL_VERIFIED) == request.path
        if not verified and not deps.auth.is_internal(headers):
            raise Unauthorized(
                f"{request.path} is called by Errand itself (the queue, the scheduler) with "
                "the server's own token"
            )
        return None
    found = deps.auth.identify(request.method, headers, origins(request, deps))
    request.environ[me.IDENTITY] = found
    if route.admin and not found.user.admin:
        raise NotFound(f"no route {request.method} {request.path}")
    return found


def check_owner(deps: Deps, found: Identity | None, args: Mapping[str, Any]) -> None:
    """Another user's task ids answer 404 on every route that names one, whoever wrote its
    handler (admins see every task)."""
    if found is not None and "task_id" in args:
        deps.task_service(found.user).get(str(args["task_id"]))


def cors_preflight(request: flask.Request, deps: Deps) -> flask.Response:
    response = flask.Response(status=204)
    if allow_cors(request, deps, response):
        response.headers["Access-Control-Allow-Methods"] = "GET, POST, PUT, DELETE"
        response.headers["Access-Control-Allow-Headers"] = (
            "Authorization, Content-Type, X-CSRF-Token, Last-Event-ID"
        )
        response.headers["Access-Control-Max-Age"] = "600"
    return response


def allow_cors(request: flask.Request, deps: Deps, response: flask.Response) -> bool:
    """CORS only for the origins the operator configured (ERRAND_CORS_ORIGINS)."""
    origin = request.headers.get("Origin", "").rstrip("/")
    if not origin or origin not in deps.settings.cors_origins:
        return False
    response.headers["Access-Control-Allow-Origin"] = origin
    response.headers["Access-Control-Allow-Credentials"] = "true"
    response.headers.add("Vary", "Origin")
    return True
