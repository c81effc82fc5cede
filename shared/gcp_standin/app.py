"""Routes the REST paths to the stand-in services. One catch-all route and a table of path
patterns, because Google's paths put `:verb` after resource names full of slashes."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

from flask import Flask, Response, request

from shared.gcp_standin import tts
from shared.gcp_standin.errors import ApiError, invalid, not_found
from shared.gcp_standin.kms import Kms
from shared.gcp_standin.metadata import CERTS_PATH, IDENTITY_PATH, Metadata
from shared.gcp_standin.run_jobs import RunJobs
from shared.gcp_standin.secret_manager import SecretManager

Body = dict[str, object]
Handler = Callable[[re.Match[str], Body], Body]

_KEY = r"projects/[^/]+/locations/[^/]+/keyRings/[^/]+/cryptoKeys/[^/:]+"
_SECRET = r"projects/[^/]+/secrets/[^/:]+"
_LOCATION = r"projects/[^/]+/locations/[^/]+"


class StandIn:
    """The services behind the routes; `stop()` ends running job executions."""

    def __init__(
        self,
        jobs: dict[str, list[str]],
        job_env: dict[str, str],
        state: Path,
        fresh_disk: bool = False,
        service_account: str = "errand-job@errand-local.iam.gserviceaccount.com",
    ) -> None:
        self.kms = Kms()
        self.metadata = Metadata(service_account)
        self.secrets = SecretManager()
        self.run = RunJobs(jobs, job_env, state / "executions", fresh_disk)

    def routes(self) -> list[tuple[str, re.Pattern[str], Handler]]:
        def r(method: str, pattern: str, handler: Handler) -> tuple[str, re.Pattern[str], Handler]:
            return method, re.compile(f"^{pattern}$"), handler

        return [
            r("POST", f"v1/({_KEY}):encrypt", lambda m, b: self.kms.encrypt(m[1], b)),
            r("POST", f"v1/({_KEY}):decrypt", lambda m, b: self.kms.decrypt(m[1], b)),
            r("POST", r"v1/(projects/[^/]+)/secrets", self._create_secret),
            r("GET", f"v1/({_SECRET})", lambda m, b: self.secrets.get(m[1])),
            r("POST", f"v1/({_SECRET}):addVersion", lambda m, b: self.secrets.add_version(m[1], b)),
            r("GET", f"v1/({_SECRET})/versions/(latest|[0-9]+):access", self._access),
            r("POST", "v1beta1/text:synthesize", lambda m, b: tts.synthesize(b, timepoints=True)),
            r("POST", "v1/text:synthesize", lambda m, b: tts.synthesize(b, timepoints=False)),
            r("POST", f"v2/({_LOCATION}/jobs/[^/:]+):run", lambda m, b: self.run.run(m[1], b)),
            r(
                "GET",
                f"v2/({_LOCATION}/jobs/[^/]+/executions/[^/:]+)",
                lambda m, b: self.run.get_execution(m[1]),
            ),
            r(
                "POST",
                f"v2/({_LOCATION}/jobs/[^/]+/executions/[^/:]+):cancel",
                lambda m, b: self.run.cancel(m[1]),
            ),
            r(
                "GET",
                f"v2/({_LOCATION}/operations/[^/:]+)",
                lambda m, b: self.run.get_operation(m[1]),
            ),
        ]

    def _create_secret(self, match: re.Match[str], body: Body) -> Body:
        secret_id = request.args.get("secretId", "")
        if not secret_id:
            raise invalid("secretId is required")
        return self.secrets.create(match[1], secret_id, body)

    def _access(self, match: re.Match[str], body: Body) -> Body:
        return self.secrets.access(match[1], match[2])


def create_app(standin: StandIn) -> Flask:
    app = Flask("gcp_standin")
    routes = standin.routes()

    @app.get(f"/{IDENTITY_PATH}")
    def identity() -> Response:
        if request.headers.get("Metadata-Flavor") != "Google":
            return Response("Missing Metadata-Flavor:Google header.", 403, mimetype="text/plain")
        audience = request.args.get("audience", "")
        if not audience:
            return Response("non-empty audience parameter required", 400, mimetype="text/plain")
        token = standin.metadata.identity(audience, request.args.get("format") == "full")
        return Response(token, 200, mimetype="text/plain")

    @app.get(f"/{CERTS_PATH}")
    def certs() -> Response:
        return _reply(200, standin.metadata.certs())

    @app.route("/<path:path>", methods=["GET", "POST"])
    def dispatch(path: str) -> Response:
        try:
            body = _json_body()
            for method, pattern, handler in routes:
                match = pattern.match(path)
                if match and method == request.method:
                    return _reply(200, handler(match, body))
            raise not_found(f"{request.method} /{path} is not part of this stand-in")
        except ApiError as exc:
            return _reply(exc.code, exc.body())

    return app


def _json_body() -> Body:
    if request.method != "POST" or not request.data:
        return {}
    try:
        body = json.loads(request.data)
    except ValueError:
        raise invalid("the request body is not JSON") from None
    if not isinstance(body, dict):
        raise invalid("the request body must be a JSON object")
    return body


def _reply(status: int, body: Body) -> Response:
    return Response(json.dumps(body), status=status, mimetype="application/json")
