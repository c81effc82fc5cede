"""The access suite: two users signed in through GitHub's OAuth flow (a local stand-in speaking
its wire protocol), every route of the API, each other's ids: nothing leaks, another user's
ids answer 404, and browser sessions are protected against CSRF."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from flask.testing import FlaskClient
from pydantic import SecretStr

from functions.app import create_app
from functions.handlers import TABLE
from shared.auth import CSRF_COOKIE
from shared.domain import StageRequest
from shared.settings import GitHubOAuth, Settings
from shared.wiring import Deps
from tests.support.github_oauth_standin import GitHubOAuthStandIn

ORIGIN = "http://localhost"


class RecordingJobs:
    def __init__(self) -> None:
        self.started: list[StageRequest] = []

    def run(self, request: StageRequest) -> str:
        self.started.append(request)
        return "exec"


@dataclass
class Browser:
    """A signed-in browser: the session cookie rides along, unsafe requests carry Origin and
    the CSRF token like the web app's fetch wrapper does."""

    client: FlaskClient
    login: str

    def csrf(self) -> str:
        cookie = self.client.get_cookie(CSRF_COOKIE)
        assert cookie is not None
        return cookie.value

    def call(self, method: str, path: str, body: object = None) -> tuple[int, str]:
        headers = {} if method == "GET" else {"Origin": ORIGIN, "X-CSRF-Token": self.csrf()}
        if body is None and method != "GET":
            body = {}
        resp = self.client.open(path, method=method, json=body, headers=headers)
        return resp.status_code, resp.get_data(as_text=True)


@pytest.fixture
def github() -> Iterator[GitHubOAuthStandIn]:
    with GitHubOAuthStandIn() as gh:
        gh.add_user(101, "alice", "Alice", repos={"alice/app": ["main", "dev", "x", "y"]})
        gh.add_user(202, "bob", "Bob", repos={"bob/tool": ["main"]})
        yield gh


@pytest.fixture
def deps(tmp_path: Path, github: GitHubOAuthStandIn) -> Deps:
    settings = Settings(
        home=tmp_path / "home",
        model="openai/default",
        internal_token=SecretStr("internal"),
        oauth=GitHubOAuth(
            client_id="Iv1.standin",
            client_secret=SecretStr("standin-secret"),
            web_url=github.url,
            api_url=github.url,
        ),
    )
    d = Deps(settings)
    d.jobs = RecordingJobs()  # type: ignore[misc]
    return d


def sign_in(deps: Deps, github: GitHubOAuthStandIn, login: str) -> Browser:
    client = create_app(deps).test_client()
    github.sign_in_as(login)
    start = client.get("/auth/github/login")
    assert start.status_code == 302, start.get_data(as_text=True)
    authorize = start.headers["Location"]
    assert authorize.startswith(github.url + "/login/oauth/authorize?")
    assert "code_challenge=" in authorize and "state=" in authorize
    back = httpx.get(authorize, follow_redirects=False)
    assert back.status_code == 302
    callback = urlsplit(back.headers["Location"])
    done = client.get(f"{callback.path}?{callback.query}")
    assert done.status_code == 302 and done.headers["Location"] == "/", done.get_data(as_text=True)
    cookies = done.headers.getlist("Set-Cookie")
    session = next(c for c in cookies if c.startswith("errand_session="))
    assert "HttpOnly" in session and "SameSite=Lax" in session
    assert "HttpOnly" not in next(c for c in cookies if c.startswith(CSRF_COOKIE + "="))
    return Browser(client, login)


def test_sign_in_makes_the_user_and_me_describes_them(
    deps: Deps, github: GitHubOAuthStandIn
) -> None:
    alice = sign_in(deps, github, "alice")
    status, body = alice.call("GET", "/api/me")
    me = json.loads(body)
    assert status == 200 and me["user"]["login"] == "alice" and me["mode"] == "multi"
    assert me["models"] == ["openai/default"] and me["limits"]["tasks_per_day"] == 5
    status, body = alice.call("GET", "/api/me/repos")
    assert json.loads(body)["repos"] == [
        {"full_name": "alice/app", "default_branch": "main", "private": True}
    ]
    status, body = alice.call("GET", "/api/repos/alice/app/branches")
    assert json.loads(body)["branches"] == ["main", "dev", "x", "y"]  # two pages followed
    assert alice.call("GET", "/api/repos/bob/tool/branches")[0] == 404
    # the GitHub token is stored encrypted, never listed as a key
    assert json.loads(alice.call("GET", "/api/me/keys")[1]) == {"keys": []}


def test_sign_in_refuses_a_state_from_another_browser(
    deps: Deps, github: GitHubOAuthStandIn
) -> None:
    victim = create_app(deps).test_client()
    attacker = create_app(deps).test_client()
    github.sign_in_as("bob")
    authorize = attacker.get("/auth/github/login").headers["Location"]
    back = urlsplit(httpx.get(authorize, follow_redirects=False).headers["Location"])
    # login CSRF: the attacker's callback URL opened in the victim's browser
    resp = victim.get(f"{back.path}?{back.query}")
    assert resp.status_code == 400 and "state" in resp.get_data(as_text=True)
    assert victim.get_cookie("errand_session") is None


def test_two_users_never_see_each_others_work(deps: Deps, github: GitHubOAuthStandIn) -> None:
    alice, bob = sign_in(deps, github, "alice"), sign_in(deps, github, "bob")
    status, body = alice.call(
        "POST", "/api/tasks", {"repo": "alice/app", "prompt": "secret alice plan"}
    )
    assert status == 201, body
    task_id = json.loads(body)["id"]
    assert alice.call("PUT", "/api/me/keys/openai", {"key": "sk-alice-key-9876"})[0] == 200
    status, body = alice.call("POST", "/api/me/tokens", {"name": "alice-ci"})
    alice_token = json.loads(body)
    assert status == 201 and alice_token["token"].startswith("errand_")
    # bob may not use alice's repository
    status, body = bob.call("POST", "/api/tasks", {"repo": "alice/app", "prompt": "x"})
    assert status == 400 and "cannot access" in body
    secrets_of_alice = [task_id, "secret alice plan", "9876", alice_token["id"], "alice/app"]

    ids = {
        "task_id": task_id,
        "provider": "openai",
        "token_id": alice_token["id"],
        "full_name": "alice/app",
        "local_path": "etc",  # a local path outside ERRAND_LOCAL_REPOS
        "login": "alice",
        "user_code": "BBBB-BBBB",  # a CLI sign-in nobody started (the code is its only key)
    }
    checked = 0
    for route in TABLE.routes:
        if route.public or route.path == "/api/session/logout":  # logout: its own test
            continue
        path = re.sub(r"<(?:\w+:)?(\w+)>", lambda m: ids[m.group(1)], route.path)
        for method in [route.method]:
            body = {"key": "x"} if method == "PUT" else {}
            status, text = bob.call(method, path, body)
            checked += 1
            hidden = ("<task_id>", "/api/users/", "<path:local_path>")
            if route.internal:
                assert status == 401, (method, path, status, text)
            if any(h in route.path for h in hidden):
                assert status == 404, (method, path, status, text)
                # exactly what an id that never existed gets
                missing = path.replace(task_id, "t_000000000000")
                _, text_missing = bob.call(method, missing, body)
                assert text.replace(task_id, "t_000000000000") == text_missing
            for secret in secrets_of_alice:
                if secret not in path:  # an error may repeat what was asked, nothing more
                    assert secret not in text, (method, path, secret, text)
            # and nobody signed out gets anything
            anon = create_app(deps).test_client().open(path, method=method, json=body)
            assert anon.status_code in (401, 404), (method, path, anon.status_code)
    assert checked >= 19  # every route but the public ones and logout
    # what is alice's is still hers, untouched by bob's attempts
    assert alice.call("GET", f"/api/tasks/{task_id}")[0] == 200
    keys = json.loads(alice.call("GET", "/api/me/keys")[1])["keys"]
    assert [(k["provider"], k["last4"]) for k in keys] == [("openai", "9876")]
    assert "sk-alice" not in json.dumps(keys)
    listed = json.loads(alice.call("GET", "/api/me/tokens")[1])["tokens"]
    assert [t["id"] for t in listed] == [alice_token["id"]] and "token" not in listed[0]
    # her personal token acts as her, and only as her
    cli = create_app(deps).test_client()
    auth = {"Authorization": f"Bearer {alice_token['token']}"}
    assert cli.get(f"/api/tasks/{task_id}", headers=auth).status_code == 200
    assert cli.get("/api/tasks", headers=auth).json["tasks"][0]["id"] == task_id  # type: ignore[index]
    # an admin sees everyone's tasks, for operators
    bob_user = deps.users.find_user("bob")
    deps.users.update_user(bob_user.model_copy(update={"admin": True}))
    assert bob.call("GET", f"/api/tasks/{task_id}")[0] == 200
    assert task_id not in bob.call("GET", "/api/tasks")[1]  # his own list stays his
    assert task_id in bob.call("GET", "/api/tasks?all=1")[1]


def test_cookie_sessions_need_origin_and_csrf_token(deps: Deps, github: GitHubOAuthStandIn) -> None:
    alice = sign_in(deps, github, "alice")
    body = {"repo": "alice/app", "prompt": "p"}
    c = alice.client
    no_token = c.post("/api/tasks", json=body, headers={"Origin": ORIGIN})
    wrong = c.post("/api/tasks", json=body, headers={"Origin": ORIGIN, "X-CSRF-Token": "x" * 64})
    other_site = c.post(
        "/api/tasks",
        json=body,
        headers={"Origin": "http://evil.example", "X-CSRF-Token": alice.csrf()},
    )
    no_origin = c.post("/api/tasks", json=body, headers={"X-CSRF-Token": alice.csrf()})
    assert [r.status_code for r in (no_token, wrong, other_site, no_origin)] == [403] * 4
    assert "CSRF" in no_token.get_data(as_text=True)
    assert alice.call("POST", "/api/tasks", body)[0] == 201
    # a token in the query string is never accepted on API routes
    _, text = alice.call("POST", "/api/me/tokens", {"name": "t"})
    raw = json.loads(text)["token"]
    fresh = create_app(deps).test_client()
    assert fresh.get(f"/api/tasks?token={raw}").status_code == 401
    assert fresh.get(f"/api/tasks?access_token={raw}").status_code == 401
    # logout ends the session on the server, not only in the browser
    cookie = c.get_cookie("errand_session")
    assert cookie is not None
    assert alice.call("POST", "/api/session/logout")[0] == 200
    replay = create_app(deps).test_client()
    replay.set_cookie("errand_session", cookie.value)
    assert replay.get("/api/me").status_code == 401


def test_revoked_and_expired_tokens_stop_working(deps: Deps, github: GitHubOAuthStandIn) -> None:
    alice = sign_in(deps, github, "alice")
    made = json.loads(alice.call("POST", "/api/me/tokens", {"name": "ci", "expires_days": 1})[1])
    cli = create_app(deps).test_client()
    auth = {"Authorization": f"Bearer {made['token']}"}
    assert cli.get("/api/me", headers=auth).status_code == 200
    assert made["expires_at"]
    assert alice.call("DELETE", f"/api/me/tokens/{made['id']}")[0] == 200
    assert cli.get("/api/me", headers=auth).status_code == 401
    # the server's internal token only drives dispatch in multi-user mode... and acts as the
    # operator on this machine: it is not a user's token
    assert cli.get("/api/me", headers={"Authorization": "Bearer guess"}).status_code == 401
