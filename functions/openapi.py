"""The OpenAPI 3.1 description of the API, generated from the route table and the pydantic
models it names (their JSON Schema), served at GET /api/openapi.json."""

from __future__ import annotations

import json
from functools import cache
from http import HTTPStatus
from typing import Any, Literal

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from functions.routes import Route, RouteTable
from functions.schemas import ErrorBody

Mode = Literal["validation", "serialization"]
REF = "#/components/schemas/{model}"
VERSION = "1"
# Answered by the server itself, whatever the route: a header that is not UTF-8 (400), a
# foreign Host or Origin (403), headers too large (431); without the token (401); on routes
# with a body also a body too large (413), not JSON (415) or not arriving in time (408).
COMMON_ERRORS = (400, 403, 431)
TOKEN_ERRORS = (401,)
BODY_ERRORS = (408, 413, 415)


def document(table: RouteTable) -> dict[str, Any]:
    wanted: list[tuple[type[BaseModel], Mode]] = [(ErrorBody, "serialization")]
    for route in table.routes:
        if route.body is not None:
            wanted.append((route.body, "validation"))
        if route.response is not None:
            wanted.append((route.response, "serialization"))
    unique = list(dict.fromkeys(wanted))
    refs, defs = models_json_schema(unique, ref_template=REF)
    paths: dict[str, dict[str, Any]] = {}
    for route in table.routes:
        operation = _operation(route, refs)
        paths.setdefault(route.openapi_path, {})[route.method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Errand",
            "version": VERSION,
            "description": "Errand's HTTP API. Send `Authorization: Bearer <token>`.",
        },
        "paths": paths,
        "components": {
            "schemas": defs.get("$defs", {}),
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"bearer": []}],
    }


@cache
def document_json(table: RouteTable) -> bytes:
    return json.dumps(document(table), separators=(",", ":")).encode()


def _operation(route: Route, refs: dict[tuple[Any, Mode], Any]) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "operationId": route.handler.__name__,
        "summary": route.summary,
        "parameters": _parameters(route),
        "responses": {str(route.status): _success(route, refs)},
    }
    if route.public:
        operation["security"] = []
    if route.body is not None:
        operation["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": refs[(route.body, "validation")]}},
        }
    error_schema = refs[(ErrorBody, "serialization")]
    statuses = set(route.errors) | set(COMMON_ERRORS)
    if not route.public:
        statuses |= set(TOKEN_ERRORS)
    if route.body is not None:
        statuses |= set(BODY_ERRORS)
    for status in sorted(statuses):
        operation["responses"][str(status)] = {
            "description": HTTPStatus(status).phrase,
            "content": {"application/json": {"schema": error_schema}},
        }
    return operation


def _success(route: Route, refs: dict[tuple[Any, Mode], Any]) -> dict[str, Any]:
    description = HTTPStatus(route.status).phrase
    if route.stream:
        return {"description": description, "content": {"text/event-stream": {}}}
    schema: Any = {"type": "object"}
    if route.response is not None:
        schema = refs[(route.response, "serialization")]
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _parameters(route: Route) -> list[dict[str, Any]]:
    params: list[dict[str, Any]] = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in route.path_args
    ]
    for where, model in (("query", route.query), ("header", route.headers)):
        if model is None:
            continue
        schema = model.model_json_schema(by_alias=True)
        required = set(schema.get("required", []))
        for name, prop in schema.get("properties", {}).items():
            param: dict[str, Any] = {"name": name, "in": where, "required": name in required}
            if "description" in prop:
                param["description"] = prop.pop("description")
            prop.pop("title", None)
            param["schema"] = prop
            params.append(param)
    return params
