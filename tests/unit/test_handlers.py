"""The HTTP handlers through Flask's test client, on a real SQLite store in a temp home."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from functions.app import create_app
from shared.domain import Plan, PlanStep, StageRequest, Status
from shared.settings import Settings
from shared.wiring import Deps


class RecordingJobs:
    """A Jobs port fake: records what would have been started."""

    def __init__(self) -> None:
        self.started: list[StageRequest] = []

        self.dead: set[str] = set()

    def run(self, request: StageRequest) -> str:
        self.started.append(request)
        return f"exec-{len(self.started)}"

    def gone(self, execution: str) -> bool:
        return execution in self.dead


@pytest.fixture
def deps(tmp_path: Path) -> Deps:
    d = Deps(Settings(home=tmp_path / "home", model="openai/default"))
    d.jobs = RecordingJobs()  # type: ignore[misc]
    return d


@pytest.fixture
def client(deps: Deps) -> FlaskClient:
    return create_app(deps).test_client()


def create(client: FlaskClient, **body: object) -> dict[str, object]:
    resp = client.post("/api/tasks", json={"repo": "/some/repo", "prompt": "fix it", **body})
    assert resp.status_code == 201, resp.json
    data = resp.json
    assert isinstance(data, dict)
    return data


def test_health(client: FlaskClient) -> None:
    resp = client.get("/api/health")
    assert resp.status_code == 200 and resp.json == {"status": "ok"}


def test_create_show_list(client: FlaskClient) -> None:
    task = create(client, branch="dev")
    assert task["status"] == "queued" and task["model"] == "openai/default"
    assert task["base_branch"] == "dev"
    assert "version" not in task and "claim" not in task
    shown = client.get(f"/api/tasks/{task['id']}").json
    assert shown is not None and shown["id"] == task["id"]
    listed = client.get("/api/tasks").json
    assert listed is not None and [t["id"] for t in listed["tasks"]] == [task["id"]]


@pytest.mark.parametrize(
    ("body", "status", "phrase"),
    [
        ({"repo": "/r", "prompt": ""}, 400, "prompt is empty"),
        ({"repo": "", "prompt": "x"}, 400, "repo is empty"),
        ({"repo": "/r", "prompt": "x", "colour": "red"}, 400, "colour"),
        ({"repo": "/r", "prompt": "x" * 100_001}, 400, "more than the 100,000"),
    ],
)
def test_create_rejects_bad_input(
    client: FlaskClient, body: dict[str, object], status: int, phrase: str
) -> None:
    resp = client.post("/api/tasks", json=body)
    assert resp.status_code == status
    assert resp.json is not None and phrase in resp.json["error"]["message"]
    assert resp.json["error"]["code"] == "invalid_input"


def test_malformed_json_body(client: FlaskClient) -> None:
    resp = client.post("/api/tasks", data=b"{not json", content_type="application/json")
    assert resp.status_code == 400 and resp.json is not None
    assert "invalid request body" in resp.json["error"]["message"]


def test_unknown_task_and_route(client: FlaskClient) -> None:
    assert client.get("/api/tasks/t_nope").status_code == 404
    resp = client.get("/api/nothing")
    assert (
        resp.status_code == 404
        and resp.json is not None
        and resp.json["error"]["code"] == "not_found"
    )
    assert client.delete("/api/tasks").status_code == 405


def test_gate_approval_in_wrong_status_is_a_conflict(client: FlaskClient) -> None:
    task = create(client)
    resp = client.post(f"/api/tasks/{task['id']}/plan/approve", json={})
    assert resp.status_code == 409
    assert resp.json is not None and "not plan_review" in resp.json["error"]["message"]


def test_plan_approval_with_edited_plan(client: FlaskClient, deps: Deps) -> None:
    task = deps.store.get_task(str(create(client)["id"]))
    task = deps.store.update_task(
        task.model_copy(
            update={
                "status": Status.PLAN_REVIEW,
                "plan": Plan(summary="s", steps=[PlanStep(title="a")]),
            }
        )
    )
    edited = {"summary": "edited", "steps": [{"title": "b", "details": "", "files": ["x.py"]}]}
    resp = client.post(f"/api/tasks/{task.id}/plan/approve", json={"plan": edited})
    assert resp.status_code == 200, resp.json
    stored = deps.store.get_task(task.id)
    assert (
        stored.status == Status.EXECUTING
        and stored.plan is not None
        and stored.plan.summary == "edited"
    )


def test_cancel_then_cancel_again(client: FlaskClient) -> None:
    task = create(client)
    assert client.post(f"/api/tasks/{task['id']}/cancel", json={}).json["status"] == "cancelled"  # type: ignore[index]
    again = client.post(f"/api/tasks/{task['id']}/cancel", json={})
    assert again.status_code == 409


def test_dispatch_starts_once_per_delivery_and_ignores_stale(
    client: FlaskClient, deps: Deps
) -> None:
    task = create(client)
    body = StageRequest(task_id=str(task["id"]), stage="prepare").model_dump_json()  # type: ignore[arg-type]
    first = client.post("/api/dispatch", data=body, content_type="application/json")
    second = client.post("/api/dispatch", data=body, content_type="application/json")
    assert first.json is not None and first.json["result"] == "started"
    assert second.json is not None and second.json["result"] == "already_started"
    jobs = deps.jobs
    assert isinstance(jobs, RecordingJobs) and len(jobs.started) == 1
    stale = StageRequest(task_id=str(task["id"]), stage="publish").model_dump_json()  # type: ignore[arg-type]
    resp = client.post("/api/dispatch", data=stale, content_type="application/json")
    assert resp.status_code == 200 and resp.json is not None and resp.json["result"] == "stale"
    bad = client.post(
        "/api/dispatch", data=json.dumps({"task_id": "x"}), content_type="application/json"
    )
    assert bad.status_code == 400


def test_events_stream_ends_at_terminal_status(client: FlaskClient) -> None:
    task = create(client)
    client.post(f"/api/tasks/{task['id']}/cancel", json={})
    resp = client.get(f"/api/tasks/{task['id']}/events")
    text = resp.get_data(as_text=True)
    assert resp.status_code == 200 and resp.mimetype == "text/event-stream"
    assert "event: status" in text and '"cancelled"' in text
    ids = [line.split()[1] for line in text.splitlines() if line.startswith("id: ")]
    assert len(ids) >= 2
    resumed = client.get(f"/api/tasks/{task['id']}/events", headers={"Last-Event-ID": ids[0]})
    again = [
        ln.split()[1] for ln in resumed.get_data(as_text=True).splitlines() if ln.startswith("id: ")
    ]
    assert again == ids[1:]


def test_bodies_must_be_json(client: FlaskClient) -> None:
    form = client.post("/api/tasks", data="repo=/r&prompt=p")
    assert form.status_code == 415 and "application/json" in form.json["error"]["message"]  # type: ignore[index]
    bare = client.post("/api/tasks/t_x/cancel")
    assert bare.status_code == 415
