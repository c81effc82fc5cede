"""The token broker's decisions (shared/token_broker.py): who gets a GitHub token, for which
repository and with which permissions. Identities are real OIDC tokens signed by a locally
generated key served from a local JWKS endpoint (tests/unit/test_oidc.py); the store and
leases are the in-memory fakes; the App is a recording fake."""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path

import pytest

from functions.app import create_app
from shared.domain import GitHubOrigin, Lease, Stage, StageRequest, Status, Task, now
from shared.errors import Forbidden
from shared.fakes import MemoryStore
from shared.oidc import InvalidToken, OidcVerifier
from shared.settings import Settings
from shared.token_broker import TokenBroker, TokenRequest, covers, grant
from shared.wiring import Deps
from tests.unit.test_oidc import ISSUER, _token, jwks_url  # noqa: F401 (fixture)

BROKER = "https://errand.example.com/api/github/token"
JOB = "errand-job@errand.iam.gserviceaccount.com"
WEB = "https://github.com"


class App:
    web_url = WEB

    def __init__(self) -> None:
        self.minted: list[tuple[str, dict[str, str], int]] = []

    def mint(
        self, repository: str, permissions: Mapping[str, str], installation_id: int = 0
    ) -> tuple[str, float]:
        self.minted.append((repository, dict(permissions), installation_id))
        return f"ghs_{len(self.minted)}", time.time() + 3600


@pytest.fixture
def world(jwks_url: str) -> tuple[TokenBroker, MemoryStore, App]:  # noqa: F811
    store, app = MemoryStore(), App()
    verifier = OidcVerifier(BROKER, [ISSUER], JOB, jwks_url, caller="the job's account")
    return TokenBroker(verifier, store, store, app), store, app


def _running(store: MemoryStore, stage: Stage, status: Status, **task: object) -> StageRequest:
    made = store.create_task(
        Task(repo="octo-org/calc", prompt="fix add", model="scripted", **task)  # type: ignore[arg-type]
    )
    store.update_task(made.model_copy(update={"status": status}))
    request = StageRequest(task_id=made.id, stage=stage, holder=f"h_{made.id[-8:]}")
    lease = Lease(
        task_id=made.id,
        request=request,
        holder=request.holder,
        expires_at=now() + timedelta(minutes=5),
    )
    assert store.put_lease(lease, "")
    return request


def _ask(broker: TokenBroker, request: StageRequest, **claims: object) -> object:
    body = TokenRequest(task_id=request.task_id, stage=request.stage, holder=request.holder)
    return broker.issue(f"Bearer {_token(aud=BROKER, email=JOB, **claims)}", body)


def test_prepare_and_publish_get_their_repository_and_permissions_only(
    world: tuple[TokenBroker, MemoryStore, App],
) -> None:
    broker, store, app = world
    prepare = _running(store, Stage.PREPARE, Status.PREPARING)
    got = broker.issue(
        f"Bearer {_token(aud=BROKER, email=JOB)}",
        TokenRequest(task_id=prepare.task_id, stage=prepare.stage, holder=prepare.holder),
    )
    assert (got.repository, got.permissions) == (
        "octo-org/calc",
        {"contents": "read", "metadata": "read"},
    )
    publish = _running(store, Stage.PUBLISH, Status.PUBLISHING)
    _ask(broker, publish)
    assert app.minted[-1] == (
        "octo-org/calc",
        {"contents": "write", "pull_requests": "write", "metadata": "read"},
        0,
    )


def test_a_task_from_github_also_gets_its_status_comments(
    world: tuple[TokenBroker, MemoryStore, App],
) -> None:
    broker, store, app = world
    origin = GitHubOrigin(installation_id=77, repository="octo-org/calc", number=3, sender="al")
    plan = _running(store, Stage.PLAN, Status.PLANNING, origin=origin)
    _ask(broker, plan)
    assert app.minted[-1] == (
        "octo-org/calc",
        {"issues": "write", "pull_requests": "write", "metadata": "read"},
        77,
    )


def test_anyone_but_the_job_is_refused(world: tuple[TokenBroker, MemoryStore, App]) -> None:
    broker, store, app = world
    request = _running(store, Stage.PREPARE, Status.PREPARING)
    for claims in (
        {"email": "errand-tasks@errand.iam.gserviceaccount.com"},  # the queue's account
        {"aud": "https://errand.example.com/api/dispatch"},  # its token for elsewhere
        {"email_verified": False},
    ):
        body = TokenRequest(task_id=request.task_id, stage=request.stage, holder=request.holder)
        token = _token(**{"aud": BROKER, "email": JOB, **claims})
        with pytest.raises(InvalidToken):
            broker.issue(f"Bearer {token}", body)
    assert not app.minted


def test_an_execution_gets_nothing_for_another_task_stage_or_a_lease_it_lost(
    world: tuple[TokenBroker, MemoryStore, App],
) -> None:
    broker, store, app = world
    mine = _running(store, Stage.PREPARE, Status.PREPARING)
    other = _running(store, Stage.PREPARE, Status.PREPARING)
    web_plan = _running(store, Stage.PLAN, Status.PLANNING)
    refused = {
        "another task's id": mine.model_copy(update={"task_id": other.task_id}),
        "another stage": mine.model_copy(update={"stage": Stage.PUBLISH}),
        "no holder": mine.model_copy(update={"holder": ""}),
        "a stage that needs none": web_plan,
    }
    for what, request in refused.items():
        with pytest.raises(Forbidden):
            _ask(broker, request)
        assert not app.minted, what
    # the task moved on: the prepare execution's lease is stale
    task = store.get_task(mine.task_id)
    store.update_task(task.model_copy(update={"status": Status.PLANNING}))
    with pytest.raises(Forbidden, match="over"):
        _ask(broker, mine)
    # the lease expired
    lease = store.get_lease(other.task_id)
    assert lease is not None
    store.put_lease(lease.model_copy(update={"expires_at": now()}), lease.holder)
    with pytest.raises(Forbidden, match="does not hold"):
        _ask(broker, other)
    assert not app.minted


def test_grants_and_coverage() -> None:
    task = Task(repo="octo-org/calc", prompt="p", model="scripted")
    assert grant(Stage.EXECUTE, task) == {}
    assert grant(Stage.SUMMARIZE, task) == {}
    assert grant(Stage.SUMMARIZE, task.model_copy(update={"pr_number": 4})) == {
        "pull_requests": "write",
        "metadata": "read",
    }
    assert covers({"contents": "write"}, {"contents": "read"})
    assert not covers({"contents": "read"}, {"contents": "write"})
    assert not covers({"contents": "read"}, {"issues": "read"})
    assert not covers({"contents": "write"}, {"contents": "admin"})


def test_a_server_without_a_broker_answers_404(tmp_path: Path) -> None:
    """`errand up` and every deployment without ERRAND_JOB_SERVICE_ACCOUNT hand out nothing."""
    deps = Deps(Settings.from_env({"ERRAND_HOME": str(tmp_path / "home")}))
    client = create_app(deps).test_client()
    body = {"task_id": "t_x", "stage": "prepare", "holder": "h_x"}
    answer = client.post("/api/github/token", json=body, headers={"Authorization": "Bearer x"})
    assert answer.status_code == 404
    assert "ERRAND_JOB_SERVICE_ACCOUNT" in answer.get_json()["error"]["message"]
