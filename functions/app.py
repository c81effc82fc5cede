"""The Flask app that serves every function from one process (local server and tests)."""

from __future__ import annotations

import flask
from werkzeug.exceptions import HTTPException

from functions.handlers import error, handle
from shared.wiring import Deps


def create_app(deps: Deps) -> flask.Flask:
    app = flask.Flask("errand")
    # no redirects: werkzeug would send `//api//tasks` to a URL with an empty host name
    app.url_map.merge_slashes = False
    app.url_map.strict_slashes = False

    @app.route("/", defaults={"path": ""}, methods=["GET", "POST", "PUT", "DELETE", "PATCH"])
    @app.route("/<path:path>", methods=["GET", "POST", "PUT", "DELETE", "PATCH"])
    def route(path: str) -> flask.Response:
        return handle(flask.request, deps)

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> flask.Response:
        if exc.code in (404, 405):  # a method or path Flask's catch-all does not take
            return handle(flask.request, deps)
        code = exc.code or 500
        return error(code, (exc.name or "error").lower().replace(" ", "_"), exc.description or "")

    return app
