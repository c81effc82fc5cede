"""Malformed JSON bodies: each a 400 that says what is wrong, nothing stored."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask.testing import FlaskClient

from functions.app import create_app
from shared.settings import Settings
from shared.wiring import Deps

DEEP = b"[" * 20_000 + b"]" * 20_000


@pytest.fixture
def client(tmp_path: Path) -> FlaskClient:
    return create_app(Deps(Settings(home=tmp_path / "home", model="openai/x"))).test_client()


@pytest.mark.parametrize(
    ("body", "phrase"),
    [
        (b'{"repo": "/r", "prompt": "a\\ud800b"}', "Invalid JSON"),  # a lone surrogate
        (b'{"repo": "/r\\udfff", "prompt": "p"}', "surrogate"),
        (b'{"repo": ' + DEEP + b', "prompt": "p"}', "recursion limit"),
        (b'{"repo": "/r", "prompt": "p", "auto_approve": true, "auto_approve": "x"}', "boolean"),
        (b"\xff\xfe{}", "Invalid JSON"),
        (b'{"repo": "/r", "prompt": "p", "model": "m\\u0000"}', "not a model name"),
        (b'{"repo": "/r", "prompt": "p", "branch": 5}', "valid string"),
        (b"[]", "should be an object"),
        (b'"x"', "should be an object"),
    ],
)
def test_malformed_bodies(client: FlaskClient, body: bytes, phrase: str) -> None:
    resp = client.post("/api/tasks", data=body, content_type="application/json")
    assert resp.status_code == 400, resp.get_data()[:300]
    assert phrase in resp.json["error"]["message"]  # type: ignore[index]
    assert client.get("/api/tasks").json == {"tasks": []}


def test_dispatch_numbers_are_strict(client: FlaskClient) -> None:
    for body in (b'{"task_id": "t", "stage": "plan", "round": 1e400}', b'{"task_id": 1}'):
        resp = client.post("/api/dispatch", data=body, content_type="application/json")
        assert resp.status_code == 400, resp.get_data()[:300]
