"""POST /api/webhooks/github through the Flask app, with realistic payloads for every event
Errand handles and a sample of those it ignores (tests/fixtures/github/)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import flask.testing
import pytest

from functions.app import create_app
from shared.domain import Status
from shared.github.signature import sign, verify
from shared.settings import Settings
from shared.wiring import Deps

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "github"
SECRET = "webhook-secret-for-tests"
URL = "/api/webhooks/github"


def payload(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text())
    return data


@pytest.fixture
def deps(tmp_path: Path) -> Iterator[Deps]:
    settings = Settings.from_env(
        {
            "ERRAND_HOME": str(tmp_path / "home"),
            "ERRAND_MODEL": "openai/gpt-4o-mini",
            "ERRAND_GITHUB_WEBHOOK_SECRET": SECRET,
        }
    )
    yield Deps(settings)


@pytest.fixture
def client(deps: Deps) -> flask.testing.FlaskClient:
    return create_app(deps).test_client()


class Sender:
    def __init__(self, client: flask.testing.FlaskClient) -> None:
        self.client = client
        self.count = 0

    def __call__(
        self,
        name: str,
        data: dict[str, Any] | None = None,
        *,
        delivery: str = "",
        secret: str = SECRET,
        signed: bool = True,
    ) -> tuple[int, dict[str, Any]]:
        self.count += 1
        body = json.dumps(payload(name) if data is None else data).encode()
        headers = {
            "X-GitHub-Event": name.split(".")[0],
            "X-GitHub-Delivery": delivery or f"d-{self.count}-{name}",
            "User-Agent": "GitHub-Hookshot/abc123",
        }
        if signed:
            headers["X-Hub-Signature-256"] = sign(secret, body)
        res = self.client.post(URL, data=body, headers=headers, content_type="application/json")
        return res.status_code, res.get_json()


@pytest.fixture
def send(client: flask.testing.FlaskClient) -> Sender:
    return Sender(client)


def test_githubs_published_signature_vector() -> None:
    expected = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    assert sign("It's a Secret to Everybody", b"Hello, World!") == expected
    assert verify("It's a Secret to Everybody", b"Hello, World!", expected)
    assert not verify("It's a Secret to Everybody", b"Hello, World?", expected)
    assert not verify("", b"Hello, World!", expected)
    assert not verify("It's a Secret to Everybody", b"Hello, World!", expected[7:])


def test_unsigned_and_wrongly_signed_deliveries_are_refused(send: Sender, deps: Deps) -> None:
    assert send("issues.labeled", signed=False)[0] == 401
    status, body = send("issues.labeled", secret="not-the-secret")
    assert status == 401 and "X-Hub-Signature-256" in body["error"]["message"]
    assert deps.store.list_tasks() == []


def test_a_label_creates_a_task_that_remembers_where_it_came_from(send: Sender, deps: Deps) -> None:
    status, body = send("issues.labeled", delivery="delivery-1")
    assert status == 202, body
    task = deps.store.get_task(body["task_id"])
    assert task.repo == "octo-org/calc" and task.status == Status.QUEUED
    assert task.model == "openai/gpt-4o-mini" and not task.auto_approve
    assert task.prompt.startswith("add() subtracts instead of adding\n\n`calc.add(2, 3)`")
    assert task.prompt.endswith("(GitHub issue #1 in octo-org/calc.)")
    assert task.origin is not None
    assert task.origin.model_dump(
        include={"installation_id", "repository", "number", "sender"}
    ) == {
        "installation_id": 77,
        "repository": "octo-org/calc",
        "number": 1,
        "sender": "alice",
    }
    assert task.origin.trigger == "label" and task.origin.comment_id == 0
    # the same delivery again is a duplicate; a new one while the task runs is ignored
    assert send("issues.labeled", delivery="delivery-1") == (200, {"duplicate": True})
    status, body = send("issues.labeled", delivery="delivery-2")
    assert status == 200 and "already working on octo-org/calc#1" in body["ignored"]
    assert len(deps.store.list_tasks()) == 1


def test_a_comment_command_starts_a_task_with_its_instruction(send: Sender, deps: Deps) -> None:
    status, body = send("issue_comment.created")
    assert status == 202, body
    task = deps.store.get_task(body["task_id"])
    assert task.prompt.startswith("fix add() so the tests pass\n\nKeep the signature.")
    assert task.origin is not None and task.origin.comment_id == 2001
    assert task.origin.trigger == "comment" and not task.origin.is_pull_request


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("issue_comment.created.outsider", "only owners, members and collaborators"),
        ("issues.labeled.by-bot", "bots do not start tasks"),
        ("issue_comment.edited", "only new comments are"),
        ("issues.opened", "labelling with 'errand' is"),
        ("pull_request.opened", "labelling with 'errand' is"),
        ("push", "does not act on push events"),
        ("check_suite.completed", "does not act on check_suite"),
        ("star.created", "does not act on star"),
        ("issue_comment.created.approve", "no task is waiting for approval"),
        ("issue_comment.created.cancel", "no task is running"),
    ],
)
def test_what_errand_ignores_gets_200_with_the_reason(
    send: Sender, deps: Deps, name: str, reason: str
) -> None:
    status, body = send(name)
    assert status == 200 and reason in body["ignored"], body
    assert deps.store.list_tasks() == []


def test_another_label_is_ignored(send: Sender) -> None:
    data = payload("issues.labeled")
    data["label"]["name"] = "bug"
    assert send("issues.labeled", data) == (
        200,
        {"ignored": "the label 'bug' is not the trigger label 'errand'"},
    )


def test_approve_and_cancel_act_on_the_issues_task(send: Sender, deps: Deps) -> None:
    task_id = send("issues.labeled")[1]["task_id"]
    store = deps.store
    task = store.get_task(task_id)
    for status in (Status.PREPARING, Status.PLANNING, Status.PLAN_REVIEW):
        task = store.update_task(task.model_copy(update={"status": status}))
    status, body = send("issue_comment.created.approve")
    assert (status, body) == (200, {"approved": task_id, "status": "executing"})
    status, body = send("issue_comment.created.cancel")
    assert (status, body) == (200, {"cancelled": task_id, "status": "cancelled"})


def test_a_review_comment_on_errands_pull_request_starts_a_follow_up(
    send: Sender, deps: Deps
) -> None:
    parent_id = send("issues.labeled")[1]["task_id"]
    store = deps.store
    parent = store.get_task(parent_id)
    parent = store.update_task(
        parent.model_copy(
            update={
                "status": Status.COMPLETED,
                "branch": "errand/add-subtracts-instead-of-adding-0123abcd",
                "pr_number": 2,
                "pr_url": "https://github.com/octo-org/calc/pull/2",
            }
        )
    )
    deps.webhook_log.link_task("octo-org/calc", 2, parent.id)
    status, body = send("pull_request_review_comment.created")
    assert status == 202, body
    task = store.get_task(body["task_id"])
    assert task.base_branch == task.branch == parent.branch
    assert task.origin is not None and task.origin.follow_up_of == parent.id
    assert task.origin.review_comment and task.origin.comment_id == 3001
    assert task.prompt.startswith("add a docstring to add() saying it returns the sum")
    assert "`calc.py`, line 5" in task.prompt and "+    return a + b" in task.prompt
    assert task.auto_approve
    # while it runs, a comment on the PR does not start another
    status, body = send("issue_comment.created.pull_request")
    assert status == 200 and "already working on octo-org/calc#2" in body["ignored"]


def test_a_labelled_pull_request_works_on_its_branch(send: Sender, deps: Deps) -> None:
    status, body = send("pull_request.labeled")
    assert status == 202
    task = deps.store.get_task(body["task_id"])
    assert task.base_branch == "feature/negatives" and task.branch == ""
    assert task.origin is not None and task.origin.is_pull_request and task.origin.number == 3
    fork = payload("pull_request.labeled")
    fork["number"] = fork["pull_request"]["number"] = 4
    fork["pull_request"]["head"]["repo"]["full_name"] = "mallory/calc"
    status, body = send("pull_request.labeled", fork)
    assert status == 200 and "comes from a fork" in body["ignored"]


def test_installations_are_recorded(send: Sender, deps: Deps) -> None:
    assert send("installation.created") == (200, {"installation": 77, "status": "active"})
    record = deps.webhook_log.installation(77)
    assert record is not None and record.account == "octo-org"
    assert record.repositories == ["octo-org/calc"]
    send("installation_repositories.added")
    record = deps.webhook_log.installation(77)
    assert record is not None and record.repositories == ["octo-org/calc", "octo-org/web"]
    send("installation_repositories.removed")
    assert deps.webhook_log.installation(77).repositories == ["octo-org/web"]  # type: ignore[union-attr]
    assert send("installation.suspend")[1] == {"installation": 77, "status": "suspended"}
    assert send("installation.deleted")[1] == {"installation": 77, "status": "deleted"}


def test_a_trigger_from_an_unknown_installation_still_creates_its_task(
    send: Sender, deps: Deps
) -> None:
    assert deps.webhook_log.installation(77) is None
    assert send("issues.labeled")[0] == 202


def test_ping_is_answered(send: Sender) -> None:
    assert send("ping") == (200, {"pong": True, "zen": "Design for failure."})


def test_no_well_formed_event_gets_a_5xx_nor_calls_github(send: Sender, deps: Deps) -> None:
    """Every fixture with each of its top-level fields removed or nulled, and with nested
    objects replaced by the wrong type: always 2xx, quickly, and no GitHub client is ever built
    in the request path (GitHub gives up on a delivery after ten seconds)."""
    for path in sorted(FIXTURES.glob("*.json")):
        started = time.monotonic()
        assert 200 <= send(path.stem)[0] < 300
        assert time.monotonic() - started < 1.0, path.stem
        name = path.stem
        original = payload(name)
        for key in original:
            for mutated in (
                {k: v for k, v in original.items() if k != key},
                {**original, key: None},
            ):
                status, body = send(name, mutated)
                assert 200 <= status < 300, (name, key, body)
            if isinstance(original[key], dict):
                status, body = send(name, {**original, key: {k: [] for k in original[key]}})
                assert 200 <= status < 300, (name, key, body)
    assert "github" not in deps.__dict__ and "github_app" in deps.__dict__


def test_bodies_that_are_not_json_objects_are_400(
    send: Sender, client: flask.testing.FlaskClient
) -> None:
    for body in (b"[1, 2]", b"not json", b"\xff\xfe"):
        res = client.post(
            URL,
            data=body,
            headers={"X-GitHub-Event": "issues", "X-Hub-Signature-256": sign(SECRET, body)},
        )
        assert res.status_code == 400


def test_a_large_payload_up_to_githubs_cap_is_accepted(send: Sender) -> None:
    data = payload("ping")
    data["padding"] = "x" * (24 * 1024 * 1024)
    assert send("ping", data)[0] == 200


def test_without_a_configured_secret_nothing_is_accepted(tmp_path: Path) -> None:
    deps = Deps(Settings.from_env({"ERRAND_HOME": str(tmp_path / "h")}))
    status, body = Sender(create_app(deps).test_client())("issues.labeled")
    assert status == 401 and "errand github setup" in body["error"]["message"]
