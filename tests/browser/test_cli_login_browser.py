"""`errand login` through a real browser: the CLI opens the approval page (a recording BROWSER
stands in for the desktop's), headless Chromium opens it, signs in with the one-time link,
comes back to the page, sees the code the CLI printed and approves; the CLI then succeeds and
task commands reach the server with the token it was given."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.browser.conftest import ARTIFACTS
from tests.e2e.conftest import ERRAND, ROOT
from tests.support.errand_server import ErrandServer, errand_env

pytestmark = pytest.mark.e2e


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ErrandServer]:
    srv = ErrandServer(tmp_path / "server-home")
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()


@pytest.mark.timeout(300)
def test_approving_in_the_browser_signs_the_cli_in(
    web_ready: Path, server: ErrandServer, tmp_path: Path
) -> None:
    laptop, opened = tmp_path / "laptop-home", tmp_path / "opened.txt"
    recorder = tmp_path / "record-browser"
    recorder.write_text(f'#!/bin/sh\nprintf "%s" "$1" > {opened}\n')
    recorder.chmod(0o755)
    env = errand_env(laptop, {"BROWSER": str(recorder)})
    login = subprocess.Popen(
        [*ERRAND, "login", "--server", server.url],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not opened.exists() and login.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert opened.exists(), f"the CLI opened no browser: {login.communicate(timeout=5)}"
        device_url = opened.read_text()
        link = re.search(r"(http://\S+/\?login=\S+)", server.log.read_text())
        assert link, server.log.read_text()[-2000:]
        run = subprocess.run(
            ["node", "e2e/device.mjs"],
            cwd=web_ready,
            env={
                "PATH": "/usr/local/bin:/usr/bin:/bin",
                "DEVICE_URL": device_url,
                "LOGIN_LINK": link.group(1),
                "ARTIFACTS": str(ARTIFACTS),
            },
            capture_output=True,
            text=True,
            timeout=180,
        )
        lines = [ln for ln in run.stdout.splitlines() if ln.startswith("{")]
        assert lines, f"no result from the browser:\n{run.stdout[-2000:]}\n{run.stderr[-2000:]}"
        result = json.loads(lines[-1])
        assert "error" not in result, f"{result['error']}\nproblems: {result['problems']}"
        assert result["problems"] == [], "\n".join(result["problems"])
        out, err = login.communicate(timeout=60)
    finally:
        if login.poll() is None:
            login.kill()
            login.wait()
    assert login.returncode == 0, err
    printed = re.search(r"one-time code: (\S+)", err)
    assert printed and result["code"] == printed.group(1)
    assert device_url == f"{server.url}/device?code={printed.group(1)}"
    assert result["resumedAt"] == device_url  # back on the page after signing in
    assert result["host"] == socket.gethostname() and f"Opened {device_url}" in err
    assert "Signed in to" in out

    # the CLI now works against the server with the token it was given
    made = server.api(
        "POST",
        "/api/tasks",
        json={"repo": str(tmp_path / "gone"), "prompt": "on the server", "model": "openai/x"},
    )
    listed = subprocess.run(
        [*ERRAND, "task", "list", "--json"], env=env, capture_output=True, text=True, timeout=60
    )
    assert listed.returncode == 0, listed.stderr
    assert [t["id"] for t in json.loads(listed.stdout)["tasks"]] == [made["id"]]
    assert not (laptop / "errand.db").exists()
    tokens = [t["name"] for t in server.api("GET", "/api/me/tokens")["tokens"]]
    assert tokens == [f"errand login on {socket.gethostname()}"]
    for name in ("cli-login-signed-out", "cli-login", "cli-login-approved"):
        assert (ARTIFACTS / f"{name}.png").stat().st_size > 5_000
