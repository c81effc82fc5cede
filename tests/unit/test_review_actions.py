"""Reject a plan, request changes to a diff, retry a task: the service on real fakes (memory
store and queue) and the HTTP routes through Flask's test client."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from pydantic import SecretStr

from functions.app import create_app
from shared.domain import EventKind, Plan, PlanStep, Stage, Status, Task, TaskError
from shared.errors import InvalidInput, InvalidTransition
from shared.fakes import MemoryBlobs, MemoryQueue, MemoryStore
from shared.review import Retry, ReviewFeedback
from shared.services import CreateTask, TaskService
from shared.settings import Settings
from shared.wiring import Deps

PLAN = Plan(summary="fix add", steps=[PlanStep(title="edit", files=["calc.py"])])


@pytest.fixture
def store() -> MemoryStore:
    return MemoryStore()


@pytest.fixture
def queue() -> MemoryQueue:
    return MemoryQueue()


@pytest.fixture
def service(store: MemoryStore, queue: MemoryQueue) -> TaskService:
    return TaskService(store, queue, "openai/x", blobs=MemoryBlobs())


def at(store: MemoryStore, service: TaskService, status: Status, **changes: Any) -> Task:
    task = service.create(CreateTask(repo="/r", prompt="fix add"))
    return store.update_task(task.model_copy(update={"status": status, **changes}))


def actions(store: MemoryStore, task_id: str) -> list[str]:
    return [
        str(e.data["action"])
        for e in store.read_events(task_id, 0)
        if e.kind == EventKind.LOG and "action" in e.data
    ]


def test_rejecting_a_plan_plans_again_with_the_feedback(
    store: MemoryStore, queue: MemoryQueue, service: TaskService
) -> None:
    task = at(store, service, Status.PLAN_REVIEW, plan=PLAN)
    queue.pop_all()
    after = service.reject_plan(task.id, ReviewFeedback(feedback="  also update the docs  "))
    assert after.status == Status.PLANNING and after.round == 1
    assert after.feedback is not None and after.feedback.text == "also update the docs"
    assert after.feedback.kind == "plan" and after.feedback.round == 1
    assert after.plan == PLAN  # the previous plan goes into the next prompt
    assert [(r.stage, r.round) for r in queue.pop_all()] == [(Stage.PLAN, 1)]
    assert actions(store, task.id) == ["plan_rejected"]


def test_requesting_changes_runs_execute_again(
    store: MemoryStore, queue: MemoryQueue, service: TaskService
) -> None:
    task = at(store, service, Status.DIFF_REVIEW, plan=PLAN, diff="+x", round=2, fixes=2)
    queue.pop_all()
    after = service.request_changes(task.id, ReviewFeedback(feedback="name it total"))
    assert after.status == Status.EXECUTING and after.round == 3 and after.fixes == 2
    assert after.feedback is not None and after.feedback.kind == "diff"
    assert [(r.stage, r.round) for r in queue.pop_all()] == [(Stage.EXECUTE, 3)]
    assert actions(store, task.id) == ["changes_requested"]


@pytest.mark.parametrize(
    ("feedback", "phrase"), [("", "feedback is empty"), ("   ", "empty"), ("x" * 20_001, "20,000")]
)
def test_feedback_is_validated(
    store: MemoryStore, service: TaskService, feedback: str, phrase: str
) -> None:
    task = at(store, service, Status.PLAN_REVIEW, plan=PLAN)
    with pytest.raises(InvalidInput, match=phrase):
        service.reject_plan(task.id, ReviewFeedback(feedback=feedback))
    assert store.get_task(task.id).status == Status.PLAN_REVIEW  # nothing changed


def test_review_actions_only_at_their_gate(store: MemoryStore, service: TaskService) -> None:
    task = at(store, service, Status.EXECUTING, plan=PLAN)
    with pytest.raises(InvalidTransition, match="is executing, not plan_review"):
        service.reject_plan(task.id, ReviewFeedback(feedback="no"))
    with pytest.raises(InvalidTransition, match="is executing, not diff_review"):
        service.request_changes(task.id, ReviewFeedback(feedback="no"))
    with pytest.raises(InvalidTransition, match="only failed or cancelled"):
        service.retry(task.id, Retry())


def failed_in(store: MemoryStore, service: TaskService, stopped: Status, **changes: Any) -> Task:
    task = at(store, service, stopped, **changes)
    return service.cancel(task.id) if stopped == Status.PLAN_REVIEW else _fail(store, task)


def _fail(store: MemoryStore, task: Task) -> Task:
    from shared.services import transition

    return transition(store, task, Status.FAILED, error=TaskError(code="x", message="boom"))


@pytest.mark.parametrize(
    ("stopped", "status", "stage", "resume"),
    [
        (Status.PREPARING, Status.QUEUED, Stage.PREPARE, Status.PLANNING),
        (Status.PLANNING, Status.QUEUED, Stage.PREPARE, Status.PLANNING),
        (Status.PLAN_REVIEW, Status.QUEUED, Stage.PREPARE, Status.PLAN_REVIEW),
        (Status.EXECUTING, Status.QUEUED, Stage.PREPARE, Status.EXECUTING),
        (Status.VERIFYING, Status.QUEUED, Stage.PREPARE, Status.EXECUTING),
        (Status.PUBLISHING, Status.PUBLISHING, Stage.PUBLISH, None),
        (Status.SUMMARIZING, Status.SUMMARIZING, Stage.SUMMARIZE, None),
    ],
)
def test_retry_resumes_where_the_task_stopped(
    store: MemoryStore,
    queue: MemoryQueue,
    service: TaskService,
    stopped: Status,
    status: Status,
    stage: Stage,
    resume: Status | None,
) -> None:
    task = failed_in(store, service, stopped, plan=PLAN)
    assert task.stopped_in == stopped
    queue.pop_all()
    after = service.retry(task.id, Retry())
    assert after.status == status and after.resume_at == resume
    assert after.error is None and after.stopped_in is None and after.round == task.round + 1
    assert after.plan == PLAN and after.prompt == task.prompt and after.repo == task.repo
    assert [(r.stage, r.round) for r in queue.pop_all()] == [(stage, after.round)]
    assert actions(store, task.id) == ["retry"]


def test_retry_from_the_start_forgets_the_plan(
    store: MemoryStore, queue: MemoryQueue, service: TaskService
) -> None:
    task = failed_in(store, service, Status.PUBLISHING, plan=PLAN, diff="+x", fixes=1)
    after = service.retry(task.id, Retry(from_start=True))
    assert after.status == Status.QUEUED and after.resume_at == Status.PLANNING
    assert after.plan is None and after.diff == "" and after.fixes == 0


def test_retry_without_a_plan_plans_again(store: MemoryStore, service: TaskService) -> None:
    task = failed_in(store, service, Status.EXECUTING)
    assert service.retry(task.id, Retry()).resume_at == Status.PLANNING


def test_a_completed_task_cannot_be_retried(store: MemoryStore, service: TaskService) -> None:
    task = at(store, service, Status.COMPLETED)
    with pytest.raises(InvalidTransition, match="it is completed; only failed or cancelled"):
        service.retry(task.id, Retry())


# ------------------------------------------------------------------------- HTTP routes


TOKEN = "review-test-token"


@pytest.fixture
def deps(tmp_path: Path) -> Deps:
    settings = Settings(
        home=tmp_path / "home", model="openai/default", internal_token=SecretStr(TOKEN)
    )
    return Deps(settings)


@pytest.fixture
def client(deps: Deps) -> FlaskClient:
    c = create_app(deps).test_client()
    c.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {TOKEN}"  # the local user, as the CLI
    return c


def test_routes(client: FlaskClient, deps: Deps) -> None:
    task = TaskService(deps.store, deps.queue, "openai/x", blobs=deps.blobs).create(
        CreateTask(repo="/r", prompt="p")
    )
    deps.store.update_task(task.model_copy(update={"status": Status.PLAN_REVIEW, "plan": PLAN}))
    base = f"/api/tasks/{task.id}"
    resp = client.post(f"{base}/plan/reject", json={})
    assert resp.status_code == 400 and resp.json is not None
    assert "feedback is empty" in resp.json["error"]["message"]
    resp = client.post(f"{base}/plan/reject", json={"feedback": "smaller", "extra": 1})
    assert resp.status_code == 400
    resp = client.post(f"{base}/plan/reject", json={"feedback": "smaller"})
    assert resp.status_code == 200 and resp.json is not None
    assert resp.json["status"] == "planning" and resp.json["feedback"]["text"] == "smaller"
    resp = client.post(f"{base}/diff/request-changes", json={"feedback": "x"})
    assert resp.status_code == 409 and resp.json is not None
    assert resp.json["error"]["code"] == "invalid_transition"
    resp = client.post(f"{base}/retry", json={"from_start": True})
    assert resp.status_code == 409
    assert client.post(f"{base}/cancel", json={}).status_code == 200
    resp = client.post(f"{base}/retry", json={"from_start": "yes please"})
    assert resp.status_code == 400
    resp = client.post(f"{base}/retry", data=b"")  # the body is optional
    assert resp.status_code == 200 and resp.json is not None
    assert resp.json["status"] == "queued" and "resume_at" not in resp.json
    assert client.post("/api/tasks/t_nope/retry", json={}).status_code == 404


def test_an_ended_stream_goes_on_only_for_a_retried_task(
    store: MemoryStore, service: TaskService
) -> None:
    from shared import sse

    task = failed_in(store, service, Status.EXECUTING, plan=PLAN)
    ended = [e for e in store.read_events(task.id, 0) if sse.ends_stream(e)][-1]
    store.append_event(task.id, EventKind.LOG, {"message": "failed: boom"})
    assert sse.ends_stream(ended, store)  # log lines after the end do not reopen it
    service.retry(task.id, Retry())
    assert not sse.ends_stream(ended, store)
