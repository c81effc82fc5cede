"""`errand login --server URL`: signs the CLI in to a remote Errand server.

By default through the browser (the RFC 8628 device grant, as `gh auth login --web` does): the
server gives a short code and a page; the person approves there, signed in as themselves; the
CLI, polling meanwhile, receives a personal API token named after this machine. `--with-token`
reads a token from stdin instead (scripts, CI)."""

from __future__ import annotations

import argparse
import getpass
import platform
import socket
import sys
import time
import webbrowser
from typing import Any

import httpx

from shared.cli.common import EXIT_INTERRUPTED, EXIT_OK
from shared.client import ClientError, HttpClient
from shared.errors import InvalidInput, Unauthorized
from shared.settings import Settings

SLOW_DOWN_S = 5  # RFC 8628 §3.5: add this to the interval on every slow_down
# text-mode browsers would take over this terminal, which is showing the code
CONSOLE_BROWSERS = frozenset({"www-browser", "links", "elinks", "lynx", "w3m"})


def register(sub: Any) -> None:
    login = sub.add_parser(
        "login",
        help="sign in to a remote Errand server (in the browser, or with a token)",
        description="Signs this CLI in to a remote Errand server: task commands then go there. "
        "By default it shows a one-time code and opens the server's approval page in your "
        "browser; once you approve, the server gives this machine its own API token (see "
        "`errand token list`, revoke it with `errand token revoke`).",
    )
    login.add_argument("--server", required=True, help="e.g. https://errand.example.com")
    login.add_argument(
        "--no-browser", action="store_true", help="only print the page to open, elsewhere"
    )
    login.add_argument(
        "--with-token",
        action="store_true",
        help="read a personal API token from stdin instead (`errand token create` makes one)",
    )
    login.add_argument("--token-stdin", action="store_true", help=argparse.SUPPRESS)  # old name
    login.set_defaults(handler=run_login)


def run_login(args: argparse.Namespace, settings: Settings) -> int:
    from shared.client_login import ClientLogin, write_login

    server = args.server.rstrip("/")
    if not server.startswith(("http://", "https://")):
        raise InvalidInput(f"--server {server!r} must be a URL like https://errand.example.com")
    if args.with_token or args.token_stdin:
        token = _read_token()
    else:
        try:
            token = _browser_login(server, open_browser=not args.no_browser)
        except KeyboardInterrupt:
            print("\nCancelled; nothing was changed.", file=sys.stderr)
            return EXIT_INTERRUPTED
    me = HttpClient(server, token)._call("GET", "/api/me")
    login = str(me["user"]["login"])
    write_login(settings.home, ClientLogin(server=server, token=token, login=login))
    print(
        f"Signed in to {server} as {login}; task commands now go there (`errand logout` undoes it)"
    )
    return EXIT_OK


def _read_token() -> str:
    if sys.stdin.isatty():
        print(
            "Paste a personal API token (make one with `errand token create` where you are "
            "signed in, or in the web app under Settings).",
            file=sys.stderr,
        )
        token = getpass.getpass("Token: ").strip()
    else:
        token = sys.stdin.readline().strip()
    if not token:
        raise InvalidInput("no token given on stdin; nothing was changed")
    return token


def _browser_login(server: str, open_browser: bool) -> str:
    with httpx.Client(base_url=server, timeout=30.0) as http:
        started = _post(http, "/api/cli-login", {"host": _host(), "client": _client()})
        page, code = str(started["verification_uri_complete"]), str(started["user_code"])
        print(f"Your one-time code: {code}", file=sys.stderr)
        opened = open_browser and _open(page)
        verb = "Opened" if opened else "Open"
        print(
            f"{verb} {page} — check that it shows {code} and this machine ({_host()}), then "
            "approve.",
            file=sys.stderr,
        )
        minutes = int(started["expires_in"]) // 60
        print(f"Waiting for approval (the code works for {minutes} minutes; Ctrl-C to stop)…")
        sys.stdout.flush()
        return _poll(http, str(started["device_code"]), int(started["interval"]))


def _poll(http: httpx.Client, device_code: str, interval: int) -> str:
    while True:
        time.sleep(interval)
        try:
            got = _post(http, "/api/cli-login/token", {"device_code": device_code})
        except ClientError as exc:
            if exc.code == "authorization_pending":
                continue
            if exc.code == "slow_down":
                interval += SLOW_DOWN_S
                continue
            if exc.code == "access_denied":
                raise Unauthorized(
                    "the login was denied in the browser; nothing was changed"
                ) from None
            if exc.code == "expired_token":
                raise Unauthorized(
                    "the code expired before it was approved; run `errand login` again"
                ) from None
            if exc.code == "server_unreachable" or exc.http_status >= 500:
                print(f"({exc.message}; trying again)", file=sys.stderr)
                interval += SLOW_DOWN_S  # a struggling server gets more room
                continue
            raise
        print(f"Approved: this machine's token is {got['name']!r} ({got['token_id']}).")
        return str(got["token"])


def _post(http: httpx.Client, path: str, body: object) -> dict[str, Any]:
    try:
        resp = http.post(path, json=body)
    except httpx.HTTPError as exc:
        raise ClientError(
            "server_unreachable", f"could not reach {http.base_url}: {exc}", 503
        ) from exc
    try:
        data = resp.json()
        assert isinstance(data, dict)
    except (ValueError, AssertionError):
        raise ClientError(
            "not_errand",
            f"{http.base_url} answered {resp.status_code} with something other than Errand's "
            "JSON; check the --server URL",
            502,
        ) from None
    if resp.status_code == 404 and path == "/api/cli-login":
        raise InvalidInput(
            f"{http.base_url} does not offer browser sign-in (an older Errand?): sign in with "
            "a token instead, `errand token create` there and `errand login --with-token`"
        )
    if resp.status_code >= 400:
        err = data.get("error", {})
        raise ClientError(err.get("code", "error"), err.get("message", ""), resp.status_code)
    return data


def _open(url: str) -> bool:
    """Opens `url` in a graphical browser when this machine has one (and says nothing when it
    has none: the printed address is enough)."""
    try:
        browser = webbrowser.get()
    except webbrowser.Error:
        return False
    if getattr(browser, "name", "") in CONSOLE_BROWSERS:
        return False
    try:
        return bool(browser.open(url))
    except OSError:
        return False


def _host() -> str:
    return socket.gethostname() or "unknown host"


def _client() -> str:
    from shared.cli import version

    return f"errand-cli {version()} ({platform.system()} {platform.machine()})"[:100]
