"""POST /api/webhooks/github: thin. Reads the raw body and GitHub's headers, calls the webhook
service, serialises its reply. Authenticated by the payload's signature alone."""

from __future__ import annotations

import json

import flask

from shared.github.webhooks import MAX_BODY_BYTES, GitHubWebhooks, WebhookConfig
from shared.wiring import Deps


def github_webhook(request: flask.Request, deps: Deps) -> flask.Response:
    length = request.content_length
    if length is not None and length > MAX_BODY_BYTES:
        return _json(413, {"error": {"code": "too_large", "message": "payload over 25 MB"}})
    body = request.get_data(cache=False)
    if len(body) > MAX_BODY_BYTES:
        return _json(413, {"error": {"code": "too_large", "message": "payload over 25 MB"}})
    gh = deps.settings.github
    service = GitHubWebhooks(
        WebhookConfig(
            secret=deps.github_app.webhook_secret.get_secret_value(),
            label=gh.label,
            auto_approve=gh.auto_approve,
        ),
        deps.webhook_log,
        deps.store,
        deps.task_service(),
        deps.users,
    )
    reply = service.handle(
        request.headers.get("X-GitHub-Event", ""),
        request.headers.get("X-GitHub-Delivery", ""),
        request.headers.get("X-Hub-Signature-256", ""),
        body,
    )
    return _json(reply.status, reply.body)


def _json(status: int, body: object) -> flask.Response:
    return flask.Response(json.dumps(body), status=status, mimetype="application/json")
