"""The GitHub token broker's route (shared/token_broker.py), for the route table in
functions/handlers.py: a stage execution in the cloud asks for its GitHub token here."""

from __future__ import annotations

import flask

from functions.routes import Route
from shared.token_broker import TokenGrant, TokenRequest
from shared.wiring import Deps


def github_token(request: flask.Request, deps: Deps, body: TokenRequest) -> flask.Response:
    """Authenticated by the execution's OIDC token alone (no user, no session)."""
    grant = deps.token_broker.issue(request.headers.get("Authorization", ""), body)
    response = flask.Response(grant.model_dump_json(), mimetype="application/json")
    response.headers["Cache-Control"] = "no-store"  # a credential: no cache keeps it
    return response


BROKER_ROUTES = [
    Route(
        "POST",
        "/api/github/token",
        github_token,
        "A stage execution's GitHub installation token, for its task's repository and its "
        "stage's permissions; authenticated by the execution's Google OIDC identity token",
        body=TokenRequest,
        response=TokenGrant,
        errors=(401, 403, 404),
        public=True,
    ),
]
