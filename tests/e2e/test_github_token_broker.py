"""GitHub tokens for a stage execution that cannot read the App's key, end to end: the trusted
side (the API's route table, served over HTTP, holding the App key) brokers tokens; the
execution is a separate process configured as on Cloud Run Jobs (no App key anywhere it can
read, ERRAND_GITHUB_TOKENS=broker) whose identity comes from the GCP stand-in's metadata
server and whose git and API calls go to the GitHub stand-in. Real git over HTTP, real
PyGithub, real OIDC verification against the stand-in's JWKS, one SQLite store shared by both
sides as Firestore is in the cloud.

What the process runs is the Forge the wiring builds for a job (`Deps.forge` with the stage
set as jobs/runner.py sets it), not a whole stage: the stages themselves are covered by the
GitHub end-to-end test with the App key."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from werkzeug.serving import make_server

from functions.app import create_app
from shared import gcp_emulators
from shared.domain import Lease, Stage, StageRequest, Status, Task, now
from shared.settings import Settings
from shared.wiring import Deps
from tests.e2e.conftest import ROOT, errand_env
from tests.support.github_fixtures import REPO, standin
from tests.support.github_standin import GitHubStandIn
from tests.support.gitrepo import git
from tests.support.live_server import free_port

pytestmark = pytest.mark.e2e
__all__ = ["standin"]

JOB_SA = "errand-job@errand-local.iam.gserviceaccount.com"  # the stand-in's default identity

_JOB = """
import sys
from pathlib import Path
from shared.domain import Stage, StageRequest
from shared.errors import ConfigError
from shared.settings import Settings
from shared.wiring import Deps

request = StageRequest.model_validate_json(sys.argv[1])
deps = Deps(Settings.from_env())
try:
    deps.app_auth
    print("the App key is readable here")
except ConfigError:
    print("no App key")
deps.stage = request  # as jobs/runner.py does once it holds the lease
task = deps.store.get_task(request.task_id)
work = Path(sys.argv[2])
if request.stage == Stage.PREPARE:
    print("cloned", deps.forge.clone(task.repo, "", work))
else:
    patch = (work / "change.patch").read_text()
    cr = deps.forge.publish(
        task.repo, "main", f"errand/fix-{task.id}", patch, "fix: add", "fix: add", "Fixes add."
    )
    print("published", cr.number, cr.url)
deps.end_stage()  # as jobs/runner.py does when the stage is over: the token is revoked
"""


@dataclass
class World:
    gh: GitHubStandIn
    deps: Deps  # the trusted side's
    broker_url: str
    metadata_host: str
    job_env: dict[str, str]


@pytest.fixture
def world(standin: GitHubStandIn, tmp_path: Path) -> Iterator[World]:
    home = tmp_path / "home"
    gcp = gcp_emulators.start_standin(tmp_path / "logs", tmp_path / "standin")
    server = None
    try:
        github = {
            "ERRAND_GITHUB_APP_ID": str(standin.app_id),
            "ERRAND_GITHUB_API_URL": standin.api_url,
            "ERRAND_GITHUB_URL": standin.web_url,
        }
        port = free_port()
        broker_url = f"http://127.0.0.1:{port}/api/github/token"
        trusted = Settings.from_env(
            {
                "ERRAND_HOME": str(home),
                **github,
                "ERRAND_GITHUB_PRIVATE_KEY": standin.private_key_pem,
                "ERRAND_JOB_SERVICE_ACCOUNT": JOB_SA,
                "ERRAND_OIDC_JWKS_URL": f"http://{gcp.host}/oauth2/v3/certs",
                "ERRAND_GITHUB_TOKEN_BROKER_URL": broker_url,
            }
        )
        deps = Deps(trusted)
        server = make_server("127.0.0.1", port, create_app(deps), threaded=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        job_env = errand_env(
            home,
            {
                **github,
                "ERRAND_GITHUB_TOKENS": "broker",
                "ERRAND_GITHUB_TOKEN_BROKER_URL": broker_url,
                "GCE_METADATA_HOST": gcp.host,
            },
        )
        yield World(standin, deps, broker_url, gcp.host, job_env)
    finally:
        if server is not None:
            server.shutdown()
        gcp.stop()


def _hold(world: World, task: Task, stage: Stage, status: Status) -> StageRequest:
    """What dispatch does before it starts an execution: the task in the stage's status and a
    lease with a fresh holder, given to that execution only."""
    store = world.deps.store
    current = store.get_task(task.id)
    store.update_task(current.model_copy(update={"status": status}))
    request = StageRequest(task_id=task.id, stage=stage, holder=f"h_{stage.value}_{task.id[-6:]}")
    old = world.deps.leases.get_lease(task.id)
    lease = Lease(
        task_id=task.id,
        request=request,
        holder=request.holder,
        expires_at=now() + timedelta(minutes=5),
    )
    assert world.deps.leases.put_lease(lease, old.holder if old else "")
    return request


def _job(world: World, request: StageRequest, work: Path) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-c", _JOB, request.model_dump_json(), str(work)]
    done = subprocess.run(
        argv, env=world.job_env, cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert "no App key" in done.stdout
    tokens = world.gh.tokens()
    for t in tokens:
        assert t not in done.stdout and t not in done.stderr, "a token in the job's output"
        assert t not in " ".join(argv) and t not in str(world.job_env)
    return done


def _identity(world: World, audience: str) -> str:
    return httpx.get(
        f"http://{world.metadata_host}/computeMetadata/v1/instance/service-accounts/default/"
        "identity",
        params={"audience": audience, "format": "full"},
        headers={"Metadata-Flavor": "Google"},
    ).text


def _ask(world: World, request: StageRequest, audience: str = "") -> httpx.Response:
    token = _identity(world, audience or world.broker_url)
    body = {"task_id": request.task_id, "stage": request.stage.value, "holder": request.holder}
    return httpx.post(world.broker_url, json=body, headers={"Authorization": f"Bearer {token}"})


def test_a_job_without_the_app_key_clones_and_publishes_through_the_broker(
    world: World, tmp_path: Path
) -> None:
    assert "ERRAND_GITHUB_PRIVATE_KEY" not in world.job_env
    task = world.deps.store.create_task(
        Task(repo=f"{world.gh.web_url}/{REPO}", prompt="fix add", model="scripted")
    )
    prepare = _hold(world, task, Stage.PREPARE, Status.PREPARING)
    work = tmp_path / "ws"
    assert "cloned main" in _job(world, prepare, work).stdout
    assert "return a - b" in (work / "calc.py").read_text()
    [read] = world.gh.state.tokens.values()
    assert read.repositories == [REPO]
    assert read.permissions == {"contents": "read", "metadata": "read"}
    config = (work / ".git" / "config").read_text()
    assert read.value not in config and "extraHeader" not in config
    assert read.expires_at == 0.0  # revoked when the stage ended

    # the change, as execute and verify would leave it
    (work / "calc.py").write_text((work / "calc.py").read_text().replace("a - b", "a + b", 1))
    git(work, "add", "-A")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "change.patch").write_text(git(work, "diff", "--cached", "HEAD"))

    # the prepare execution's lease is over: its identity gets nothing more
    publish = _hold(world, task, Stage.PUBLISH, Status.PUBLISHING)
    assert _ask(world, prepare).status_code == 403
    done = _job(world, publish, tmp_path / "out")
    assert "published 1" in done.stdout
    [pull] = world.gh.pulls(REPO)
    assert pull.draft and pull.head == f"errand/fix-{task.id}"
    bare = world.gh.bare_repo(REPO)
    assert "a + b" in git(bare, "show", f"errand/fix-{task.id}:calc.py")
    write = [t for t in world.gh.state.tokens.values() if t.value != read.value]
    assert [t.permissions for t in write] == [
        {"contents": "write", "pull_requests": "write", "metadata": "read"}
    ]
    assert write[0].repositories == [REPO] and write[0].expires_at == 0.0
    for t in world.gh.tokens():  # neither in the workspace nor in the store's files
        for root in (work, tmp_path / "out", tmp_path / "home"):
            for f in root.rglob("*"):
                if f.is_file():
                    assert t.encode() not in f.read_bytes(), f


def test_the_broker_refuses_other_identities_tasks_and_stages(world: World) -> None:
    make = world.deps.store.create_task
    mine = make(Task(repo=f"{world.gh.web_url}/{REPO}", prompt="one", model="scripted"))
    other = make(Task(repo=f"{world.gh.web_url}/{REPO}", prompt="two", model="scripted"))
    request = _hold(world, mine, Stage.PREPARE, Status.PREPARING)
    _hold(world, other, Stage.PREPARE, Status.PREPARING)
    refused = {
        "another task": (request.model_copy(update={"task_id": other.id}), 403),
        "another stage": (request.model_copy(update={"stage": Stage.PUBLISH}), 403),
        "a made-up holder": (request.model_copy(update={"holder": "h_guess"}), 403),
    }
    for what, (asked, status) in refused.items():
        assert _ask(world, asked).status_code == status, what
    wrong_audience = _ask(world, request, audience="https://errand.example.com/api/dispatch")
    assert wrong_audience.status_code == 401
    body = {"task_id": mine.id, "stage": "prepare", "holder": request.holder}
    assert httpx.post(world.broker_url, json=body).status_code == 401  # no identity at all
    assert not world.gh.tokens()
    granted = _ask(world, request)
    assert granted.status_code == 200 and granted.headers["Cache-Control"] == "no-store"
    assert granted.json()["repository"] == REPO
