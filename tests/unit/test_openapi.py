"""The route table is the single source of routing and of the OpenAPI document."""

from __future__ import annotations

from pathlib import Path

import jsonschema
import pytest
from flask.testing import FlaskClient

from functions.app import create_app
from functions.handlers import TABLE
from functions.openapi import document
from functions.routes import NoRoute, Route, RouteTable
from shared.settings import Settings
from shared.wiring import Deps


@pytest.fixture
def client(tmp_path: Path) -> FlaskClient:
    return create_app(Deps(Settings(home=tmp_path / "home", model="openai/x"))).test_client()


def test_every_route_is_described() -> None:
    doc = document(TABLE)
    described = {(m.upper(), p) for p, ops in doc["paths"].items() for m in ops}
    assert described == {(r.method, r.openapi_path) for r in TABLE.routes}
    show = doc["paths"]["/api/tasks/{task_id}"]["get"]
    assert show["parameters"][0] == {
        "name": "task_id",
        "in": "path",
        "required": True,
        "schema": {"type": "string"},
    }
    task = doc["components"]["schemas"]["TaskView"]
    assert "claim" not in task["properties"] and "version" not in task["properties"]
    assert doc["paths"]["/api/health"]["get"]["security"] == []


def test_served_document_validates_responses(client: FlaskClient) -> None:
    doc = client.get("/api/openapi.json").json
    assert doc is not None and doc["openapi"] == "3.1.0"
    created = client.post("/api/tasks", json={"repo": "/r", "prompt": "fix it"})
    assert created.status_code == 201
    schema = {"$ref": "#/components/schemas/TaskView", "components": doc["components"]}
    jsonschema.Draft202012Validator(schema).validate(created.json)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft202012Validator(schema).validate({**created.json, "claim": ""})


def test_a_route_declared_twice_is_refused() -> None:
    route = Route("GET", "/x", lambda r, d: {}, "x")
    with pytest.raises(ValueError, match="declared twice"):
        RouteTable([route, route])


@pytest.mark.parametrize("path", ["//api//tasks", "/api/tasks/", "/api//health"])
def test_odd_paths_are_not_redirected(client: FlaskClient, path: str) -> None:
    resp = client.get(path)
    assert resp.status_code in (200, 404), resp.status_code
    assert "location" not in resp.headers


def test_unknown_method_and_path() -> None:
    with pytest.raises(NoRoute) as exc:
        TABLE.match("DELETE", "/api/tasks")
    assert exc.value.status == 405
    with pytest.raises(NoRoute) as exc:
        TABLE.match("GET", "/api/nothing")
    assert exc.value.status == 404
