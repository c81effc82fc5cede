"""GitHub end to end: `errand up` with a GitHub App pointed at the local stand-in; signed webhook
deliveries (no local token, a tunnel's Host) → task → plan approved by a `/errand approve`
comment → draft pull request with the full body → a review comment `/errand …` → a new commit
on the same branch and pull request. Real git over HTTP, real PyGithub, real sandbox, litellm
over HTTP to the local OpenAI-compatible stand-in, real speech."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from shared.github.signature import sign
from shared.stack import read_server_file
from tests.e2e.conftest import ERRAND, ROOT, errand_env, release_workspaces
from tests.e2e.test_server import free_port
from tests.support.fake_openai import FakeOpenAI, Reply, offered_tools
from tests.support.github_fixtures import INSTALLATION, REPO
from tests.support.github_standin import GitHubStandIn
from tests.support.gitrepo import git, make_python_repo_with_failing_test

pytestmark = pytest.mark.e2e

FIXTURES = ROOT / "tests" / "fixtures" / "github"
SECRET = "e2e-webhook-secret"
FIX = {
    "path": "calc.py",
    "search": "def add(a: int, b: int) -> int:\n    return a - b",
    "replace": "def add(a: int, b: int) -> int:\n    return a + b",
}
DOCSTRING = {
    "path": "calc.py",
    "search": "def add(a: int, b: int) -> int:\n    return a + b",
    "replace": 'def add(a: int, b: int) -> int:\n    """Return the sum."""\n    return a + b',
}


def route(request: dict[str, Any]) -> Reply:
    text = json.dumps(request["messages"])
    follow_up = "docstring" in text
    tools = offered_tools(request)
    if "submit_plan" in tools:
        step = {"title": "Docstring for add" if follow_up else "Fix add", "files": ["calc.py"]}
        summary = "Document add()." if follow_up else "Make add() return the sum."
        return Reply(tool_calls=[("submit_plan", {"summary": summary, "steps": [step]})])
    if "bash" in tools:
        turns = sum(1 for m in request["messages"] if m["role"] == "assistant")
        if turns == 0:
            return Reply(tool_calls=[("view", {"path": "calc.py", "start_line": 1, "end_line": 8})])
        if turns == 1:
            return Reply(tool_calls=[("edit", DOCSTRING if follow_up else FIX)])
        return Reply(tool_calls=[("finish", {"summary": "done"})])
    return Reply(content="I fixed add so that it returns the sum; all three tests pass now.")


class Errand:
    def __init__(self, home: Path, port: int, proc: subprocess.Popen[str]) -> None:
        self.home, self.port, self.proc = home, port, proc
        self.url = f"http://127.0.0.1:{port}"
        self.deliveries = 0

    def deliver(self, event: str, payload: dict[str, Any]) -> httpx.Response:
        """As GitHub through a tunnel: signed, no local token, a foreign Host."""
        self.deliveries += 1
        body = json.dumps(payload).encode()
        return httpx.post(
            self.url + "/api/webhooks/github",
            content=body,
            headers={
                "Host": "errand-tunnel.example.com",
                "Content-Type": "application/json",
                "User-Agent": "GitHub-Hookshot/e2e",
                "X-GitHub-Event": event,
                "X-GitHub-Delivery": f"e2e-{self.deliveries}",
                "X-Hub-Signature-256": sign(SECRET, body),
            },
            timeout=10,
        )

    def task(self, task_id: str) -> dict[str, Any]:
        info = read_server_file(self.home)
        assert info is not None
        headers = {"authorization": f"Bearer {info.token}"}
        data: dict[str, Any] = httpx.get(
            f"{self.url}/api/tasks/{task_id}", headers=headers, timeout=10
        ).json()
        return data

    def wait(
        self, task_id: str, done: Callable[[dict[str, Any]], bool], timeout: float = 240
    ) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            task = self.task(task_id)
            if done(task):
                return task
            if task["status"] in ("failed", "cancelled"):
                raise AssertionError(f"task {task_id} ended {task['status']}: {task['error']}")
            time.sleep(0.3)
        raise AssertionError(f"task {task_id} stuck at {self.task(task_id)['status']}")


@pytest.fixture
def world(tmp_path: Path) -> Iterator[tuple[GitHubStandIn, FakeOpenAI, Errand]]:
    with GitHubStandIn(tmp_path / "github") as gh, FakeOpenAI(router=route) as llm:
        gh.add_repo(REPO, make_python_repo_with_failing_test(tmp_path / "calc-src"))
        gh.install(INSTALLATION, "octo-org", [REPO])
        gh.add_collaborator(REPO, "alice", "write")
        home, port = tmp_path / "home", free_port()
        env = errand_env(
            home,
            {
                "ERRAND_MODEL": "openai/fake-coder",
                "ERRAND_MODEL_API_BASE": llm.base_url,
                "ERRAND_GITHUB_APP_ID": str(gh.app_id),
                "ERRAND_GITHUB_PRIVATE_KEY": gh.private_key_pem,
                "ERRAND_GITHUB_API_URL": gh.api_url,
                "ERRAND_GITHUB_URL": gh.web_url,
                "ERRAND_GITHUB_WEBHOOK_SECRET": SECRET,
                "ERRAND_PUBLIC_URL": "https://errand.example.com",
            },
        )
        proc = subprocess.Popen(
            [*ERRAND, "up", "--port", str(port)],
            env=env,
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        errand = Errand(home, port, proc)
        deadline = time.monotonic() + 60
        while read_server_file(home) is None and time.monotonic() < deadline:
            time.sleep(0.2)
        try:
            yield gh, llm, errand
        finally:
            proc.terminate()
            try:
                errand.output = proc.communicate(timeout=20)[0]  # type: ignore[attr-defined]
            except subprocess.TimeoutExpired:
                proc.kill()
            release_workspaces(home)


def status_comment(gh: GitHubStandIn, number: int, containing: str, timeout: float = 30) -> str:
    """The bot's one comment on the conversation, once it says `containing` (it is edited
    right after the task's status changes)."""
    deadline = time.monotonic() + timeout
    while True:
        mine = [c for c in gh.comments(REPO, number) if c.user.type == "Bot"]
        assert len(mine) <= 1, [c.body for c in mine]
        if mine and containing in mine[0].body:
            return mine[0].body
        if time.monotonic() > deadline:
            raise AssertionError(f"no status comment with {containing!r}: {mine}")
        time.sleep(0.2)


def fixture(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text())
    return data


def test_label_to_draft_pull_request_to_follow_up_commit(
    world: tuple[GitHubStandIn, FakeOpenAI, Errand],
) -> None:
    gh, llm, errand = world
    number = gh.open_issue(
        REPO, "add() subtracts instead of adding", "calc.add(2, 3) returns -1", "alice", ["errand"]
    )
    labeled = fixture("issues.labeled")
    labeled["issue"].update(number=number, title="add() subtracts instead of adding")
    labeled["issue"]["body"] = "calc.add(2, 3) returns -1"
    res = errand.deliver("issues", labeled)
    assert res.status_code == 202, res.text
    task_id = res.json()["task_id"]
    assert errand.deliver("ping", fixture("ping")).json()["pong"] is True
    big = {**fixture("ping"), "padding": "x" * 5_000_000}  # over the server's usual 2 MB cap
    assert errand.deliver("ping", big).status_code == 200

    # the plan waits; the status comment shows it as a checklist with how to approve
    errand.wait(task_id, lambda t: t["status"] == "plan_review")
    status = status_comment(gh, number, "Plan ready for approval")
    assert "Plan ready for approval" in status and "- [ ] 1. Fix add (`calc.py`)" in status
    assert "/errand approve" in status
    assert f"https://errand.example.com/tasks/{task_id}" in status

    approve = gh.add_comment(REPO, number, "/errand approve", "alice")
    payload = fixture("issue_comment.created.approve")
    payload["issue"]["number"] = number
    payload["comment"].update(id=approve.id, body=approve.body)
    assert errand.deliver("issue_comment", payload).json() == {
        "approved": task_id,
        "status": "executing",
    }
    task = errand.wait(task_id, lambda t: t["status"] == "completed")

    # (the description is refreshed with the audio link before the status comment says Done)
    status = status_comment(gh, number, "**Done:**")
    # one draft pull request, its body complete
    (pull,) = gh.pulls(REPO)
    assert pull.draft and pull.base == "main" and pull.head == task["branch"]
    assert (
        task["pr_url"].endswith(f"/{REPO}/pull/{pull.number}") and task["pr_number"] == pull.number
    )
    assert pull.title.startswith(("fix", "feat")) and ":" in pull.title
    body = pull.body
    for expected in (
        "Task: ",
        f"Closes #{number}",
        "Make add() return the sum.",
        "1. Fix add (files: calc.py)",
        "- before: 2 passed, 1 failed",
        "- after: 3 passed, 0 failed",
        "- newly passing: ",
        "test_add",
        f"- task: https://errand.example.com/tasks/{task_id}",
        f"- spoken summary: https://errand.example.com/tasks/{task_id}#summary",
        "- tokens and cost: $",
    ):
        assert expected in body, (expected, body)
    bare = gh.bare_repo(REPO)
    first = git(bare, "rev-parse", task["branch"]).strip()
    assert "return a + b" in git(bare, "show", f"{first}:calc.py")

    # the status comment, edited in place, ends with the result
    assert status.startswith(f"<!-- errand:status:{task_id} -->")
    assert f"**Done:** {task['pr_url']}" in status
    assert "**Tests:** 2 passed, 1 failed → 3 passed (1 newly passing)" in status
    assert "**Audio summary:** [listen](" in status and "**Cost:** $" in status
    assert gh.state.comments[approve.id].reactions == []  # approve is not a trigger

    # a review comment on Errand's pull request → a new commit on the same branch and PR
    hunk = "@@ -1,5 +1,5 @@\n def add(a: int, b: int) -> int:\n-    return a - b\n+    return a + b"
    review = gh.add_review_comment(
        REPO, pull.number, "/errand add a docstring to add()", "alice", "calc.py", 5, hunk
    )
    payload = fixture("pull_request_review_comment.created")
    payload["pull_request"]["number"] = pull.number
    payload["pull_request"]["head"]["ref"] = task["branch"]
    payload["comment"].update(id=review.id, body=review.body, line=5, diff_hunk=hunk)
    res = errand.deliver("pull_request_review_comment", payload)
    assert res.status_code == 202, res.text
    follow_id = res.json()["task_id"]
    follow = errand.wait(follow_id, lambda t: t["status"] == "completed")
    assert follow["branch"] == task["branch"] and follow["pr_number"] == pull.number
    assert len(gh.pulls(REPO)) == 1 and gh.pulls(REPO)[0].body == body
    second = git(bare, "rev-parse", task["branch"]).strip()
    assert git(bare, "rev-parse", f"{second}~1").strip() == first
    assert '"""Return the sum."""' in git(bare, "show", f"{second}:calc.py")
    assert gh.state.review_comments[review.id].reactions == [("errand-test[bot]", "eyes")]
    follow_prompt = [r for r in llm.requests if "docstring" in json.dumps(r["messages"])]
    assert "`calc.py`, line 5" in json.dumps(follow_prompt[0]["messages"])
    pr_status = status_comment(gh, pull.number, "**Done:**")
    assert f"errand:status:{follow_id}" in pr_status

    # the installation tokens never appeared in a URL, a stored event, a file of the home
    tokens = gh.tokens()
    assert tokens and all(t.startswith("ghs_") for t in tokens)
    for r in gh.requests:
        assert not any(t in r.path or t in r.query for t in tokens)
    git_requests = [r for r in gh.requests if ".git/" in r.path]
    assert git_requests and {r.auth for r in git_requests} == {"basic"}
    with sqlite3.connect(errand.home / "errand.db") as db:
        stored = json.dumps(db.execute("SELECT data FROM events").fetchall())
        stored += json.dumps(db.execute("SELECT doc FROM tasks").fetchall())
    assert not any(t in stored for t in tokens)
    # what the trusted side writes: the database, blobs, job logs (workspace images and the
    # dependency cache are written only inside the sandbox, and are large)
    scanned = [*errand.home.glob("errand.db*"), *errand.home.glob("server.json")]
    for where in ("blobs", "jobs", "github"):
        scanned += [f for f in (errand.home / where).rglob("*") if f.is_file()]
    assert len(scanned) > 10
    for f in scanned:
        data = f.read_bytes()
        assert not any(t.encode() in data for t in tokens), f
