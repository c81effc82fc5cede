"""functions-framework targets (`--target api` / `--target webhooks` / `--target dispatch`) for
the cloud deployment.

Each instance builds its adapters once, on the first request, from its environment."""

from __future__ import annotations

from functools import cache

import flask
import functions_framework

from functions.handlers import handle
from shared.settings import Settings
from shared.wiring import Deps


@cache
def _deps() -> Deps:
    return Deps(Settings.from_env())


@functions_framework.http
def api(request: flask.Request) -> flask.Response:
    return handle(request, _deps())


@functions_framework.http
def dispatch(request: flask.Request) -> flask.Response:
    return handle(request, _deps())


@functions_framework.http
def webhooks(request: flask.Request) -> flask.Response:
    """GitHub App deliveries (POST /api/webhooks/github), public and signed."""
    return handle(request, _deps())
