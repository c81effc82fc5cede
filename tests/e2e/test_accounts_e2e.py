"""Accounts against a real `errand up`: a canary model key set through the API is used for the
model calls and appears nowhere in plaintext; 50 simultaneous creates against a daily quota of
5 admit exactly 5; the one-time browser login link works once."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from shared import paths
from shared.accounts import ApiToken, token_hash
from shared.adapters.sqlite_accounts import SqliteAccounts
from tests.e2e.conftest import ERRAND, ROOT, errand_env, release_workspaces
from tests.e2e.test_server import Server, free_port
from tests.e2e.test_task_e2e import route
from tests.support.fake_openai import FakeOpenAI
from tests.support.gitrepo import make_python_repo_with_failing_test

pytestmark = pytest.mark.e2e

CANARY = "sk-canary-8f3a1c77d2e94b06a5c1"


def start(home: Path, extra: dict[str, str]) -> tuple[Server, list[str]]:
    port = free_port()
    proc = subprocess.Popen(
        [*ERRAND, "up", "--port", str(port)],
        env=errand_env(home, extra),
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    srv = Server(home, port, proc)
    assert proc.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        lines.append(line)
        if "mode" in line:  # printed once serving
            break
    else:
        proc.kill()
        raise AssertionError("".join(lines))
    while time.monotonic() < deadline:  # the line comes just before it starts listening
        try:
            if httpx.get(srv.url + "/api/health", timeout=1).status_code == 200:
                return srv, lines
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise AssertionError("errand up printed its mode but never listened:\n" + "".join(lines))


def stop(srv: Server) -> str:
    srv.proc.terminate()
    out, _ = srv.proc.communicate(timeout=30)
    release_workspaces(srv.home)
    return out


@pytest.fixture
def llm() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(router=route) as server:
        yield server


def test_canary_key_is_used_and_appears_nowhere_in_plaintext(
    tmp_path: Path, llm: FakeOpenAI
) -> None:
    home = tmp_path / "home"
    srv, lines = start(home, {})
    try:
        auth = srv.auth
        put = httpx.put(
            f"{srv.url}/api/me/keys/openai",
            json={"key": CANARY, "api_base": llm.base_url},
            headers=auth,
            timeout=60,  # the server's first look at litellm's provider list imports it
        )
        assert put.status_code == 200, put.text
        assert put.json()["last4"] == CANARY[-4:] and CANARY not in put.text
        repo = make_python_repo_with_failing_test(tmp_path / "calc")
        made = httpx.post(
            f"{srv.url}/api/tasks",
            json={
                "repo": str(repo),
                "prompt": "Fix the failing add test",
                "model": "openai/fake-coder",
                "auto_approve": True,
            },
            headers=auth,
            timeout=60,
        )
        assert made.status_code == 201, made.text
        task = made.json()
        assert task["key_source"] == "user:openai"
        deadline = time.monotonic() + 240
        while task["status"] not in ("completed", "failed", "cancelled"):
            assert time.monotonic() < deadline, task
            time.sleep(0.5)
            task = httpx.get(f"{srv.url}/api/tasks/{task['id']}", headers=auth).json()
        assert task["status"] == "completed", task.get("error")
        events = httpx.get(f"{srv.url}/api/tasks/{task['id']}/events", headers=auth).text
        keys = httpx.get(f"{srv.url}/api/me/keys", headers=auth).text
        usage = httpx.get(f"{srv.url}/api/me/usage", headers=auth).json()
    finally:
        out = "".join(lines) + stop(srv)
    # the model calls were paid with the user's key, sent only where it belongs
    sent = [{k.lower(): v for k, v in h.items()} for h in llm.request_headers]
    assert sent and all(h.get("authorization") == f"Bearer {CANARY}" for h in sent)
    assert CANARY not in json.dumps(llm.requests)  # the model request transcripts
    assert usage["month"]["usd"] > 0 and usage["month"]["tasks"] == 1
    for name, text in {"events": events, "keys": keys, "server log": out}.items():
        assert CANARY not in text, name
    # every byte the server and its jobs left on disk: database (and WAL), job logs, blobs,
    # workspaces, caches
    scanned = 0
    for root, _, files in os.walk(home):
        for file in files:
            path = Path(root, file)
            if path.is_symlink() or not path.is_file():
                continue
            data = path.read_bytes()
            scanned += 1
            assert CANARY.encode() not in data, path
            assert CANARY[3:].encode() not in data, path
    assert scanned > 5 and (paths.db(home)).exists()


def test_fifty_simultaneous_creates_against_a_daily_quota_of_five(tmp_path: Path) -> None:
    home = tmp_path / "home"
    srv, _ = start(home, {"ERRAND_TASKS_PER_DAY": "5", "ERRAND_CONCURRENT_TASKS": "0"})
    try:
        accounts = SqliteAccounts(paths.db(home))
        user = accounts.ensure_github_user(7, "octo", "Octo", "")
        raw = "errand_" + "q" * 40
        accounts.add_token(ApiToken(user_id=user.id, name="t", hash=token_hash(raw), last4="qqqq"))
        body = {"repo": str(tmp_path / "nowhere"), "prompt": "p", "model": "openai/x"}

        async def race() -> list[httpx.Response]:
            async with httpx.AsyncClient(
                base_url=srv.url, headers={"authorization": f"Bearer {raw}"}, timeout=60
            ) as client:
                return await asyncio.gather(
                    *(client.post("/api/tasks", json=body) for _ in range(50))
                )

        answers = asyncio.run(race())
        me = httpx.get(f"{srv.url}/api/tasks", headers={"authorization": f"Bearer {raw}"})
        deadline = time.monotonic() + 120  # the admitted ones fail in prepare (no such repo)
        while time.monotonic() < deadline:
            tasks = httpx.get(
                f"{srv.url}/api/tasks", headers={"authorization": f"Bearer {raw}"}
            ).json()["tasks"]
            if all(t["status"] == "failed" for t in tasks):
                break
            time.sleep(0.5)
    finally:
        stop(srv)
    codes = sorted(r.status_code for r in answers)
    assert codes == [201] * 5 + [429] * 45
    refused = next(r for r in answers if r.status_code == 429)
    assert int(refused.headers["retry-after"]) > 0 and refused.headers["x-quota-reset"]
    assert "resets at" in refused.json()["error"]["message"]
    assert len(me.json()["tasks"]) == 5


def test_one_time_login_link_works_once(tmp_path: Path) -> None:
    srv, lines = start(tmp_path / "home", {})
    try:
        line = next(ln for ln in lines if "?login=" in ln)
        link = line.split("Open ", 1)[1].split(" ", 1)[0]
        assert link.startswith(srv.url + "/?login=")
        first = httpx.get(link, follow_redirects=False)
        assert first.status_code == 302 and first.headers["location"] == "/"
        cookies = {c.name: c.value for c in first.cookies.jar}
        me = httpx.get(f"{srv.url}/api/me", cookies=cookies)
        assert me.status_code == 200 and me.json()["mode"] == "single"
        assert me.json()["user"]["admin"] is True
        again = httpx.get(link, follow_redirects=False)
        assert again.status_code == 401 and "errand open" in again.text
        # a cookie session may not post without the CSRF token, even from this origin
        post = httpx.post(
            f"{srv.url}/api/me/tokens",
            json={"name": "x"},
            cookies=cookies,
            headers={"origin": srv.url},
        )
        assert post.status_code == 403
        ok = httpx.post(
            f"{srv.url}/api/me/tokens",
            json={"name": "x"},
            cookies=cookies,
            headers={"origin": srv.url, "x-csrf-token": cookies["errand_csrf"]},
        )
        assert ok.status_code == 201, ok.text
    finally:
        stop(srv)


def test_login_to_a_server_makes_task_commands_use_it(tmp_path: Path) -> None:
    srv, _ = start(tmp_path / "server-home", {})
    laptop = tmp_path / "laptop-home"

    def cli(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*ERRAND, *args],
            env=errand_env(laptop),
            capture_output=True,
            text=True,
            timeout=120,
            cwd=ROOT,
            input=stdin,
        )

    try:
        made = httpx.post(
            f"{srv.url}/api/me/tokens", json={"name": "laptop"}, headers=srv.auth
        ).json()
        # (--token-stdin: the old name of --with-token, still accepted)
        bad = cli("login", "--server", srv.url, "--token-stdin", stdin="errand_wrong\n")
        assert bad.returncode != 0 and "unknown, revoked or expired" in bad.stderr
        ok = cli("login", "--server", srv.url, "--with-token", stdin=made["token"] + "\n")
        assert ok.returncode == 0, ok.stderr
        assert (laptop / "client.json").stat().st_mode & 0o777 == 0o600
        created = cli(
            "task",
            "create",
            "--repo",
            str(tmp_path / "gone"),
            "--prompt",
            "remote",
            "--model",
            "openai/x",
            "--json",
        )
        assert created.returncode == 0, created.stderr
        task_id = json.loads(created.stdout)["id"]
        on_server = httpx.get(f"{srv.url}/api/tasks/{task_id}", headers=srv.auth)
        assert on_server.status_code == 200 and on_server.json()["prompt"] == "remote"
        listed = cli("task", "list", "--json")
        assert task_id in listed.stdout
        assert not (laptop / "errand.db").exists()  # nothing ran on the laptop
        assert cli("logout").returncode == 0
        assert task_id not in cli("task", "list", "--json").stdout
    finally:
        stop(srv)


def test_a_call_that_would_pass_the_monthly_budget_is_never_made(
    tmp_path: Path, llm: FakeOpenAI
) -> None:
    repo = make_python_repo_with_failing_test(tmp_path / "calc")
    proc = subprocess.run(
        [
            *ERRAND,
            "task",
            "create",
            "--repo",
            str(repo),
            "--prompt",
            "Fix add",
            "--model",
            "openai/fake-coder",
            "--auto-approve",
            "--wait",
            "--json",
        ],
        env=errand_env(
            tmp_path / "home",
            {
                "ERRAND_MODEL_API_BASE": llm.base_url,
                # one call may cost up to 8192 output tokens at $6/M: about $0.05
                "ERRAND_MONTHLY_BUDGET_USD": "0.01",
            },
        ),
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )
    release_workspaces(tmp_path / "home")
    task = json.loads(proc.stdout)
    assert task["status"] == "failed", task
    assert task["error"]["code"] == "budget_exceeded"
    message = task["error"]["message"]
    assert "monthly budget of $0.01" in message and "would be passed by $0.0" in message
    assert llm.requests == []  # the call was not made
