"""functions-framework targets for the cloud deployment, one per function so that each deploys
and scales on its own (the local server serves every route from one process instead):

- `api`: the web app's and the CLI's API; refuses the internal routes.
- `webhooks`: GitHub App deliveries (`/api/webhooks/github`), authenticated by their signature.
- `dispatch`: Cloud Tasks' target (`/api/dispatch`) and Cloud Scheduler's (`/api/sweep`); each
  route admits only a valid OIDC token of its own caller's service account, for its own URL
  (the queue's invoker on dispatch, the scheduler's on sweep).

Each instance builds its adapters once, on the first request, from its environment, and logs
as structured JSON with the request's trace (and the task's id and stage on dispatch)."""

from __future__ import annotations

import json
from functools import cache

import flask
import functions_framework

from functions.access import INTERNAL_VERIFIED
from functions.handlers import error, handle
from shared import cloud_logging
from shared.errors import ErrandError
from shared.settings import Settings
from shared.wiring import Deps

INTERNAL = ("/api/dispatch", "/api/sweep")


@cache
def _deps() -> Deps:
    settings = Settings.from_env()
    cloud_logging.configure(settings.gcp.log_format, settings.gcp.project)
    return Deps(settings)


def _trace(request: flask.Request) -> str:
    return cloud_logging.trace_id(
        request.headers.get("X-Cloud-Trace-Context", ""), request.headers.get("traceparent", "")
    )


@functions_framework.http
def api(request: flask.Request) -> flask.Response:
    if request.path in INTERNAL:
        return error(404, "not_found", f"no route {request.method} {request.path}")
    with cloud_logging.labelled(trace=_trace(request)):
        return handle(request, _deps())


@functions_framework.http
def dispatch(request: flask.Request) -> flask.Response:
    if request.path not in INTERNAL:
        return error(404, "not_found", f"no route {request.method} {request.path}")
    deps = _deps()
    try:
        verifier = deps.dispatch_verifier if request.path == INTERNAL[0] else deps.sweep_verifier
        verifier.verify(request.headers.get("Authorization", ""))
    except ErrandError as exc:
        return error(exc.http_status, exc.code, exc.message)
    # the OIDC token stands for the internal token, on the route it was checked for only
    request.environ[INTERNAL_VERIFIED] = request.path
    task_id, stage = _labels(request.get_data())
    with cloud_logging.labelled(task_id=task_id, stage=stage, trace=_trace(request)):
        return handle(request, deps)


@functions_framework.http
def webhooks(request: flask.Request) -> flask.Response:
    """GitHub App deliveries (POST /api/webhooks/github), public and signed."""
    with cloud_logging.labelled(trace=_trace(request)):
        return handle(request, _deps())


def _labels(body: bytes) -> tuple[str, str]:
    """The task and stage of a stage request, for log labels only: the handler validates it."""
    try:
        parsed = json.loads(body)
    except ValueError:
        return "", ""
    if not isinstance(parsed, dict):
        return "", ""
    return str(parsed.get("task_id", ""))[:100], str(parsed.get("stage", ""))[:40]
