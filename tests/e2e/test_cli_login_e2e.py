"""`errand login --server URL` through the browser flow (RFC 8628 device grant), with the real
CLI against a real `errand up`: the person's side is done over HTTP with the session cookie the
one-time login link gives, as the web app does it (CSRF token included)."""

from __future__ import annotations

import re
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from shared.device_login import GUESS_LIMIT
from tests.e2e.conftest import ERRAND, ROOT
from tests.support.errand_server import ErrandServer, errand_env

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ErrandServer]:
    srv = ErrandServer(tmp_path_factory.mktemp("cli-login") / "server-home")
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture(scope="module")
def browser(server: ErrandServer) -> Iterator[httpx.Client]:
    """A browser's session: the one-time link `errand up` printed, exchanged for cookies."""
    link = re.search(r"(http://\S+/\?login=\S+)", server.log.read_text())
    assert link, server.log.read_text()[-2000:]
    first = httpx.get(link.group(1), follow_redirects=False)
    assert first.status_code == 302, first.text
    with httpx.Client(base_url=server.url, cookies=first.cookies, timeout=30) as client:
        yield client


def csrf(browser: httpx.Client, server: ErrandServer) -> dict[str, str]:
    return {"origin": server.url, "x-csrf-token": browser.cookies["errand_csrf"]}


class Login:
    """`errand login` running on "the laptop": its code and page, read from its stderr."""

    def __init__(self, laptop: Path, server: ErrandServer, *extra: str) -> None:
        self.proc = subprocess.Popen(
            [*ERRAND, "login", "--server", server.url, "--no-browser", *extra],
            env=errand_env(laptop),
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stderr is not None
        self.seen: list[str] = []
        while not any(line.startswith("Open ") for line in self.seen):
            line = self.proc.stderr.readline()
            assert line, f"errand login ended early: {self.seen}"
            self.seen.append(line)
        self.code = next(ln.split(": ")[1].strip() for ln in self.seen if "one-time code" in ln)
        self.page = next(ln.split()[1] for ln in self.seen if ln.startswith("Open "))

    def finish(self) -> tuple[int, str, str]:
        out, err = self.proc.communicate(timeout=60)
        return self.proc.returncode, out, "".join(self.seen) + err


def cli(laptop: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*ERRAND, *args], env=errand_env(laptop), capture_output=True, text=True, timeout=120
    )


@pytest.mark.timeout(300)
def test_browser_login_gives_the_cli_its_own_revocable_token(
    server: ErrandServer, browser: httpx.Client, tmp_path: Path
) -> None:
    laptop = tmp_path / "laptop-home"
    login = Login(laptop, server)
    assert re.fullmatch(r"[B-DF-HJ-NP-TV-XZ]{4}-[B-DF-HJ-NP-TV-XZ]{4}", login.code)
    assert login.page == f"{server.url}/device?code={login.code}"

    # the page's data: this machine and the code; a cookie POST needs the CSRF token
    shown = browser.get(f"/api/cli-login/{login.code}")
    assert shown.status_code == 200, shown.text
    assert shown.json()["host"] == socket.gethostname()
    assert "errand-cli" in shown.json()["client"]
    no_csrf = browser.post(f"/api/cli-login/{login.code}/approve", json={})
    assert no_csrf.status_code == 403
    approved = browser.post(
        f"/api/cli-login/{login.code}/approve", json={}, headers=csrf(browser, server)
    )
    assert approved.status_code == 200, approved.text
    assert approved.json() == {
        "status": "approved",
        "user_code": login.code,
        "host": socket.gethostname(),
    }
    again = browser.post(
        f"/api/cli-login/{login.code}/approve", json={}, headers=csrf(browser, server)
    )
    assert again.status_code == 404  # a code works once

    code, out, err = login.finish()
    assert code == 0, err
    assert "Signed in to" in out and "Approved" in out
    assert (laptop / "client.json").stat().st_mode & 0o777 == 0o600

    # the token is an ordinary personal token: listed (by the CLI, remotely) and revocable
    listed = cli(laptop, "token", "list")
    assert listed.returncode == 0, listed.stderr
    name = f"errand login on {socket.gethostname()}"
    assert name in listed.stdout
    token_id = next(ln.split()[0] for ln in listed.stdout.splitlines() if name in ln)
    tasks = cli(laptop, "task", "list", "--json")
    assert tasks.returncode == 0, tasks.stderr
    assert not (laptop / "errand.db").exists()  # it went to the server
    revoked = cli(laptop, "token", "revoke", token_id)
    assert revoked.returncode == 0, revoked.stderr
    after = cli(laptop, "task", "list", "--json")
    assert after.returncode != 0 and "unknown, revoked or expired" in after.stderr


@pytest.mark.timeout(300)
def test_denial_expiry_and_back_off_over_http(
    server: ErrandServer, browser: httpx.Client, tmp_path: Path
) -> None:
    laptop = tmp_path / "laptop-home"
    login = Login(laptop, server)
    denied = browser.post(
        f"/api/cli-login/{login.code}/deny", json={}, headers=csrf(browser, server)
    )
    assert denied.status_code == 200 and denied.json()["status"] == "denied"
    code, _, err = login.finish()
    assert code != 0 and "denied in the browser" in err
    assert not (laptop / "client.json").exists()
    minted = [t["name"] for t in server.api("GET", "/api/me/tokens")["tokens"]]
    assert not any(n.startswith("errand login on") for n in minted)  # nothing was minted

    # the wire protocol as any client sees it
    start = httpx.post(f"{server.url}/api/cli-login", json={"host": "ci"})
    assert start.status_code == 200 and start.headers["cache-control"] == "no-store"
    device = start.json()["device_code"]
    poll = {"device_code": device}
    first = httpx.post(f"{server.url}/api/cli-login/token", json=poll)
    assert first.status_code == 400
    assert first.json()["error"]["code"] == "authorization_pending"
    fast = httpx.post(f"{server.url}/api/cli-login/token", json=poll)
    assert fast.json()["error"]["code"] == "slow_down"
    assert "wait 10 s" in fast.json()["error"]["message"]
    bogus = httpx.post(f"{server.url}/api/cli-login/token", json={"device_code": "nope"})
    assert bogus.json()["error"]["code"] == "expired_token"
    # the person's side needs a sign-in; a wrong code is a 404, and guessing is cut off
    assert httpx.get(f"{server.url}/api/cli-login/{start.json()['user_code']}").status_code == 401
    # (the other test may have spent one of the ten wrong codes allowed)
    answers = [browser.get(f"/api/cli-login/BBBB-BBB{c}").status_code for c in "BCDFGHJKLMN"]
    cut = answers.index(429)
    assert cut >= GUESS_LIMIT - 1 and set(answers[:cut]) == {404} and set(answers[cut:]) == {429}
    limited = browser.get(f"/api/cli-login/{start.json()['user_code']}")
    assert limited.status_code == 429 and int(limited.headers["retry-after"]) > 0
