"""A whole task on the Google Cloud adapters: `errand emulators` (Firestore, Cloud Tasks, Cloud
Storage, and the stand-in for KMS, Text-to-Speech and Cloud Run Jobs), then `errand up` and the
CLI with the environment it printed, exactly as a user runs them. Every stage runs as a Cloud
Run execution on an empty disk of its own, so the workspace travels between stages only as the
snapshot in the bucket. Then multi-user mode on the same adapters: two users, a personal token
made and used, another user's task answering 404, the webhook's delivery dedupe."""

from __future__ import annotations

import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from shared.accounts import ApiToken, token_hash
from shared.demo import make_sample_repo, turns_path
from shared.emulators import wait_ready
from tests.e2e.conftest import ERRAND, ROOT, errand_env, release_workspaces
from tests.e2e.test_server import Server, free_port
from tests.support.errand_server import up

pytestmark = pytest.mark.e2e


def _stop(proc: subprocess.Popen[str], timeout_s: float = 20) -> int:
    proc.send_signal(signal.SIGTERM)
    return proc.wait(timeout=timeout_s)


@pytest.fixture
def cloud(tmp_path: Path) -> Iterator[tuple[Server, dict[str, str]]]:
    yield from _stack(tmp_path, {})


def _stack(tmp_path: Path, extra: dict[str, str]) -> Iterator[tuple[Server, dict[str, str]]]:
    """`errand emulators`, then `errand up` with the environment it printed (plus `extra`)."""
    home, port = tmp_path / "home", free_port()
    base = {"ERRAND_SERVER": f"http://127.0.0.1:{port}", "ERRAND_PORT": str(port), **extra}
    emulators = subprocess.Popen(
        [*ERRAND, "emulators"],
        env=errand_env(home, base),
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert emulators.stdout is not None
    try:
        exports = wait_ready(emulators.stdout)
        env = errand_env(home, {**base, **exports})
        server_proc = up(port, env)
        server = Server(home, port, server_proc)
        yield server, env
        assert _stop(server_proc) in (0, -signal.SIGTERM)
    finally:
        assert _stop(emulators) == 0, "errand emulators did not stop cleanly"
        release_workspaces(home)


def test_a_whole_task_on_the_cloud_adapters(
    cloud: tuple[Server, dict[str, str]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server, env = cloud

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*ERRAND, *args], env=env, capture_output=True, text=True, timeout=240, cwd=ROOT
        )

    repo = make_sample_repo(tmp_path / "calc")
    model = f"scripted:{turns_path()}"
    created = cli(
        "task",
        "create",
        "--repo",
        str(repo),
        "--prompt",
        "Fix add",
        "--model",
        model,
        "--auto-approve",
        "--json",
    )
    assert created.returncode == 0, created.stderr
    task_id = created.stdout.split('"id": "')[1].split('"')[0]
    watch = cli("task", "watch", task_id)
    assert watch.returncode == 0, watch.stdout[-3000:] + watch.stderr
    stages = [
        "preparing",
        "planning",
        "executing",
        "verifying",
        "publishing",
        "summarizing",
        "completed",
    ]
    missing = [s for s in stages if f"== {s}" not in watch.stdout]
    assert not missing, watch.stdout[-4000:]
    positions = [watch.stdout.index(f"== {s}") for s in stages]
    assert positions == sorted(positions), watch.stdout

    shown = httpx.get(f"{server.url}/api/tasks/{task_id}", headers=server.auth).json()
    assert shown["status"] == "completed"
    # the summary was spoken by the Text-to-Speech stand-in and stored in the bucket: its URL
    # is a V4 signed URL of the storage emulator, fetched without any credentials
    url = shown["audio"]["url"]
    assert urlsplit(url).netloc == urlsplit(env["STORAGE_EMULATOR_HOST"]).netloc
    assert "X-Goog-Signature=" in url
    audio = httpx.get(url)
    assert audio.status_code == 200 and len(audio.content) > 10_000

    # the state lives in Firestore, and every stage ran as a Cloud Run execution
    monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", env["FIRESTORE_EMULATOR_HOST"])
    from google.cloud import firestore

    client = firestore.Client(project=env["ERRAND_GCP_PROJECT"])
    stored = client.collection("tasks").document(task_id).get()
    assert stored.exists and stored.get("status") == "completed"
    # executions start on an empty disk: plan, execute and verify ran on the snapshot
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    bucket = storage.Client(
        project="p",
        credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
        client_options={"api_endpoint": env["STORAGE_EMULATOR_HOST"]},
    ).bucket(env["ERRAND_GCS_BUCKET"])
    assert bucket.blob(f"tasks/{task_id}/workspace.tar.gz").exists()
    executions = list((server.home / "emulators" / "standin" / "executions").glob("*.log"))
    assert len(executions) >= 6
    assert all(p.name.startswith("errand-job-") for p in executions)
    deadline = time.monotonic() + 30  # a cleanup execution may still be ending
    while list(Path(tempfile.gettempdir()).glob("errand-execution-*")):
        assert time.monotonic() < deadline, "an execution's disk was not deleted"
        time.sleep(0.2)


WEBHOOK_SECRET = "webhook-secret-for-the-emulators"


@pytest.fixture
def multi_user(tmp_path: Path) -> Iterator[tuple[Server, dict[str, str]]]:
    yield from _stack(
        tmp_path,
        {
            "ERRAND_GITHUB_CLIENT_ID": "Iv1.emulated",
            "ERRAND_GITHUB_CLIENT_SECRET": "not-used-here",
            "ERRAND_GITHUB_WEBHOOK_SECRET": WEBHOOK_SECRET,
            "ERRAND_LOCAL_REPOS": str(tmp_path),
        },
    )


def test_two_users_tokens_and_webhook_dedupe_on_firestore(
    multi_user: tuple[Server, dict[str, str]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Multi-user mode on the cloud adapters: users, tokens, the ledger's usage report and the
    webhook log live in Firestore (not in a SQLite file beside the server)."""
    server, env = multi_user
    disks = set(Path(tempfile.gettempdir()).glob("errand-execution-*"))
    monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", env["FIRESTORE_EMULATOR_HOST"])
    from shared.adapters.firestore_accounts import FirestoreAccounts
    from shared.gcp_settings import GcpSettings
    from shared.github.signature import sign

    accounts = FirestoreAccounts(GcpSettings(project=env["ERRAND_GCP_PROJECT"]))
    bearer = {}
    for github_id, login in ((7, "octo"), (8, "hubot")):  # as their first sign-in would
        user = accounts.ensure_github_user(github_id, login, login.title(), "")
        raw = f"errand_{login}_" + "x" * 32
        accounts.add_token(ApiToken(user_id=user.id, name="seed", hash=token_hash(raw), last4="x"))
        bearer[login] = {"authorization": f"Bearer {raw}"}
    api = httpx.Client(base_url=server.url, timeout=60)

    made = api.post("/api/me/tokens", json={"name": "laptop"}, headers=bearer["octo"])
    assert made.status_code == 201, made.text
    octo = {"authorization": f"Bearer {made.json()['token']}"}  # the new token, shown once
    assert api.get("/api/me", headers=octo).json()["user"]["login"] == "octo"
    body = {"repo": str(tmp_path / "nowhere"), "prompt": "p", "model": f"scripted:{turns_path()}"}
    task = api.post("/api/tasks", json=body, headers=octo)
    assert task.status_code == 201, task.text
    task_id = task.json()["id"]
    assert api.get(f"/api/tasks/{task_id}", headers=octo).status_code == 200
    assert api.get(f"/api/tasks/{task_id}", headers=bearer["hubot"]).status_code == 404
    assert api.get(f"/api/tasks/{task_id}/events", headers=bearer["hubot"]).status_code == 404
    assert api.get("/api/tasks", headers=bearer["hubot"]).json()["tasks"] == []
    usage = api.get("/api/me/usage", headers=octo).json()
    assert usage["month"]["tasks"] == 1

    ping = (ROOT / "tests" / "fixtures" / "github" / "ping.json").read_bytes()
    headers = {
        "X-GitHub-Event": "ping",
        "X-GitHub-Delivery": "d-emulated-1",
        "X-Hub-Signature-256": sign(WEBHOOK_SECRET, ping),
        "content-type": "application/json",
    }
    first = api.post("/api/webhooks/github", content=ping, headers=headers)
    again = api.post("/api/webhooks/github", content=ping, headers=headers)
    assert first.json().get("pong") is True and again.json() == {"duplicate": True}

    from google.cloud import firestore

    client = firestore.Client(project=env["ERRAND_GCP_PROJECT"])
    assert client.collection("github_deliveries").document("d-emulated-1").get().exists
    assert (
        client.collection("api_tokens").document(token_hash(octo["authorization"][7:])).get().exists
    )
    assert not (server.home / "errand.db").exists()  # nothing of it went to SQLite
    deadline = time.monotonic() + 60  # let the task end (prepare fails: no such repository)
    while api.get(f"/api/tasks/{task_id}", headers=octo).json()["status"] != "failed":
        assert time.monotonic() < deadline, "the task did not end"
        time.sleep(0.3)
    while set(Path(tempfile.gettempdir()).glob("errand-execution-*")) - disks:
        assert time.monotonic() < deadline, "an execution's disk was not deleted"
        time.sleep(0.2)  # its executions end before the stack stops, and leave nothing
