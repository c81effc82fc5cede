"""The functions-framework targets of functions/main.py, through functions-framework's own
test client: each target serves only its routes, dispatch admits only Cloud Tasks' OIDC token
and the sweep only Cloud Scheduler's (signed here by a local key served from a local JWKS
endpoint), and logs are JSON lines Cloud Logging reads (severity, task and stage labels,
trace)."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from functions_framework import create_app

from functions import main
from shared import cloud_logging
from tests.unit.test_oidc import AUDIENCE, INVOKER, _token, jwks_url  # noqa: F401 (fixture)

SOURCE = str(Path(main.__file__))
SWEEP_URL = AUDIENCE.rsplit("/", 1)[0] + "/sweep"
SCHEDULER = "errand-sched@errand.iam.gserviceaccount.com"


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, jwks_url: str) -> Iterator[None]:  # noqa: F811
    monkeypatch.setenv("ERRAND_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("ERRAND_DISPATCH_URL", AUDIENCE)
    monkeypatch.setenv("ERRAND_TASKS_INVOKER", INVOKER)
    monkeypatch.setenv("ERRAND_SWEEP_URL", SWEEP_URL)
    monkeypatch.setenv("ERRAND_SWEEP_INVOKER", SCHEDULER)
    monkeypatch.setenv("ERRAND_OIDC_JWKS_URL", jwks_url)
    monkeypatch.setenv("ERRAND_GCP_PROJECT", "errand-test")
    main._deps.cache_clear()
    yield
    main._deps.cache_clear()
    logging.getLogger().handlers.clear()


def _client(target: str) -> Any:
    return create_app(target, SOURCE).test_client()


BODY = json.dumps({"task_id": "t_nobody", "stage": "plan"})


def test_dispatch_admits_only_the_invokers_oidc_token(env: None) -> None:
    client = _client("dispatch")
    headers = {"Content-Type": "application/json"}
    refused = client.post("/api/dispatch", data=BODY, headers=headers)
    assert refused.status_code == 401
    assert "Bearer" in refused.get_json()["error"]["message"]
    wrong = _token(email="intruder@evil.example")
    refused = client.post(
        "/api/dispatch", data=BODY, headers={**headers, "Authorization": f"Bearer {wrong}"}
    )
    assert refused.status_code == 401
    admitted = client.post(
        "/api/dispatch", data=BODY, headers={**headers, "Authorization": f"Bearer {_token()}"}
    )
    assert admitted.status_code == 200
    assert admitted.get_json()["result"] == "dropped"  # no such task: handled, not refused


def _post(client: Any, path: str, token: str) -> Any:
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
    return client.post(path, data=BODY if path == "/api/dispatch" else "{}", headers=headers)


def test_each_internal_route_admits_only_its_own_caller(env: None) -> None:
    client = _client("dispatch")
    scheduler = _token(email=SCHEDULER, aud=SWEEP_URL)
    swept = _post(client, "/api/sweep", scheduler)
    assert swept.status_code == 200, swept.get_json()
    assert swept.get_json()["redelivered"] == []
    refused = {
        "queue token on sweep": _post(client, "/api/sweep", _token()),
        "queue account, sweep audience": _post(client, "/api/sweep", _token(aud=SWEEP_URL)),
        "scheduler account, dispatch audience": _post(
            client, "/api/sweep", _token(email=SCHEDULER)
        ),
        "scheduler token on dispatch": _post(client, "/api/dispatch", scheduler),
        "scheduler account on dispatch": _post(client, "/api/dispatch", _token(email=SCHEDULER)),
        "someone else on sweep": _post(
            client, "/api/sweep", _token(email="intruder@evil.example", aud=SWEEP_URL)
        ),
    }
    for what, response in refused.items():
        assert response.status_code == 401, what
    assert (
        "scheduler's invoker"
        in refused["queue account, sweep audience"].get_json()["error"]["message"]
    )
    assert "Audience" in refused["scheduler token on dispatch"].get_json()["error"]["message"]


def test_an_unconfigured_sweep_admits_nobody(env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ERRAND_SWEEP_INVOKER")
    main._deps.cache_clear()
    client = _client("dispatch")
    refused = _post(client, "/api/sweep", _token(aud=SWEEP_URL))
    assert refused.status_code == 500
    assert "ERRAND_SWEEP_INVOKER" in refused.get_json()["error"]["message"]
    assert _post(client, "/api/dispatch", _token()).status_code == 200  # dispatch unaffected


def test_each_target_serves_only_its_routes(env: None) -> None:
    dispatch, api = _client("dispatch"), _client("api")
    assert dispatch.get("/api/health").status_code == 404
    assert (
        dispatch.get("/api/tasks", headers={"Authorization": f"Bearer {_token()}"}).status_code
        == 404
    )
    assert (
        api.post(
            "/api/dispatch", data=BODY, headers={"Content-Type": "application/json"}
        ).status_code
        == 404
    )
    assert api.post("/api/sweep").status_code == 404
    assert api.get("/api/health").status_code == 200


def test_json_logs_carry_severity_labels_and_trace() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(cloud_logging.CloudLoggingFormatter("errand-prod"))
    log = logging.getLogger("errand.test.cloud")
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False
    trace = cloud_logging.trace_id("0af7651916cd43dd8448eb211c80319c/2;o=1")
    with cloud_logging.labelled(task_id="t_1", stage="plan", trace=trace):
        log.warning("stage %s started", "plan")
    log.error("outside")
    inside, outside = (json.loads(line) for line in stream.getvalue().splitlines())
    assert inside["severity"] == "WARNING"
    assert inside["message"] == "stage plan started"
    assert inside["logging.googleapis.com/labels"] == {"task_id": "t_1", "stage": "plan"}
    assert inside["logging.googleapis.com/trace"] == (
        "projects/errand-prod/traces/0af7651916cd43dd8448eb211c80319c"
    )
    assert inside["logging.googleapis.com/sourceLocation"]["function"] == (
        "test_json_logs_carry_severity_labels_and_trace"
    )
    assert outside["severity"] == "ERROR"
    assert "logging.googleapis.com/labels" not in outside


def test_trace_ids_from_either_header() -> None:
    assert cloud_logging.trace_id("105445aa7843bc8bf206b12000100000/1;o=1") == (
        "105445aa7843bc8bf206b12000100000"
    )
    w3c = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    assert cloud_logging.trace_id("", w3c) == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert cloud_logging.trace_id("garbage", "nonsense") == ""
