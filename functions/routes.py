"""The API's route table: one declarative `Route` per method and path. The handlers' routing,
request parsing and the OpenAPI document (functions/openapi.py) are all built from it, so a
route cannot be served without being described, nor described without being served.

A handler is called as `handler(request, deps, **path_args, body=..., query=..., headers=...)`,
the last three only when the route names a model for them; they arrive parsed and validated
(strict types, unknown fields refused). It returns a pydantic model, a JSON-able dict/list
(sent with the route's `status`) or a ready `flask.Response` (streams)."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import flask
import pydantic_core
from pydantic import BaseModel, ValidationError
from werkzeug.exceptions import MethodNotAllowed
from werkzeug.exceptions import NotFound as RouteNotFound
from werkzeug.routing import Map, RequestRedirect, Rule

from shared.domain import Model
from shared.errors import InvalidInput
from shared.services import describe

Handler = Callable[..., Any]
M = TypeVar("M", bound=BaseModel)
_PATH_ARG = re.compile(r"<(?:[a-z]+:)?([A-Za-z_][A-Za-z0-9_]*)>")


@dataclass(frozen=True)
class Route:
    method: str  # "GET", "POST", ...
    path: str  # a werkzeug rule: "/api/tasks/<task_id>"
    handler: Handler
    summary: str  # one line for the API description
    body: type[Model] | None = None  # the JSON request body
    query: type[Model] | None = None  # query parameters (field name = parameter name)
    headers: type[Model] | None = None  # request headers (field alias = header name)
    response: type[Model] | None = None  # the success body (None: see `stream`)
    status: int = 200  # the success status
    errors: tuple[int, ...] = ()  # error statuses this route answers on purpose
    public: bool = False  # True: no token needed
    internal: bool = False  # True: only the server's own token (the queue, the scheduler)
    admin: bool = False  # True: only admins; to anyone else the route does not exist
    stream: bool = False  # True: answers text/event-stream

    @property
    def path_args(self) -> list[str]:
        return _PATH_ARG.findall(self.path)

    @property
    def openapi_path(self) -> str:
        return _PATH_ARG.sub(r"{\1}", self.path)


class NoRoute(Exception):
    """Raised by `RouteTable.match`: `status` is 404 or 405, `message` says what was asked,
    `allowed` the methods the path takes (for 405)."""

    def __init__(self, status: int, message: str, allowed: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.allowed = tuple(allowed)


class RouteTable:
    def __init__(self, routes: Sequence[Route]) -> None:
        self.routes = tuple(routes)
        seen: set[tuple[str, str]] = set()
        for route in self.routes:
            key = (route.method, route.path)
            if key in seen:
                raise ValueError(f"route {route.method} {route.path} is declared twice")
            seen.add(key)
        # no slash merging or trailing-slash redirects: werkzeug would redirect `//api//tasks`
        # to a URL built from an empty host name
        self._map = Map(
            [
                Rule(r.path, methods=[r.method], endpoint=i, merge_slashes=False)
                for i, r in enumerate(self.routes)
            ],
            strict_slashes=False,
            merge_slashes=False,
        )

    def match(self, method: str, path: str) -> tuple[Route, Mapping[str, Any]]:
        try:
            index, args = self._map.bind("", path_info=path).match(path, method)
        except RouteNotFound:
            raise NoRoute(404, f"no route {method} {path}") from None
        except MethodNotAllowed as exc:
            allowed = sorted(exc.valid_methods or [])
            message = f"{method} is not allowed on {path}; use {', '.join(allowed)}"
            raise NoRoute(405, message, allowed) from None
        except RequestRedirect:
            raise NoRoute(404, f"no route {method} {path}") from None
        return self.routes[int(index)], args

    def public_paths(self) -> frozenset[str]:
        """Literal paths (no arguments) that need no token."""
        return frozenset(r.path for r in self.routes if r.public and not r.path_args)


def reply(route: Route, result: Any) -> flask.Response:
    """Serialises a handler's result with the route's success status."""
    if isinstance(result, flask.Response):
        return result
    if isinstance(result, BaseModel):
        data = result.model_dump_json().encode()
    else:
        # pydantic-core's encoder: a page of 20 tasks in a third of json.dumps' time, the
        # largest part of serving a task list
        data = pydantic_core.to_json(result)
    return flask.Response(data, status=route.status, mimetype="application/json")


def parse_fields(model: type[M], values: Mapping[str, str], kind: str) -> M:
    """Validates query parameters or headers (always strings, so not in strict mode) into
    `model`. Headers are looked up by field alias and others ignored; query parameters the
    model does not name are refused."""
    if kind == "header":
        aliases = [field.alias or name for name, field in model.model_fields.items()]
        lower = {k.lower(): v for k, v in values.items()}
        data = {a: lower[a.lower()] for a in aliases if lower.get(a.lower(), "").strip()}
    else:
        data = dict(values)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise InvalidInput(f"invalid {kind} ({describe(exc)})") from None
