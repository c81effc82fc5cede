"""`errand github setup`: register the GitHub App and store its id, private key and webhook
secret through the Secrets port.

The manifest flow (GitHub's "Registering a GitHub App from a manifest"): a page served on
127.0.0.1 posts `app-manifest.json`, filled with this Errand's webhook URL, to GitHub; the
person names the App and clicks Create; GitHub redirects back to 127.0.0.1 with a one-time code,
which is exchanged for the App's id, private key and webhook secret. Without a browser on this
machine, `--manual` prints the steps and `--app-id/--private-key-file` stores what they gave.
`installation` and `installation_repositories` events reach every App without subscribing."""

from __future__ import annotations

import hmac
import html
import json
import secrets
import sys
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

from shared.errors import ConfigError, InvalidInput
from shared.github import config
from shared.ports import Secrets
from shared.settings import Settings

WEBHOOK_PATH = "/api/webhooks/github"


def manifest(public_url: str, redirect_url: str, name: str = "Errand") -> dict[str, Any]:
    data: dict[str, Any] = json.loads(
        resources.files("shared.github").joinpath("app-manifest.json").read_text()
    )
    data["name"] = name
    data["url"] = public_url
    data["hook_attributes"]["url"] = public_url.rstrip("/") + WEBHOOK_PATH
    data["redirect_url"] = redirect_url
    return data


def manual_steps(settings: Settings, public_url: str) -> str:
    m = manifest(public_url, "")
    perms = ", ".join(f"{k}: {v}" for k, v in m["default_permissions"].items())
    return "\n".join(
        [
            f"1. Open {settings.github.web_url}/settings/apps/new (or "
            f"{settings.github.web_url}/organizations/<org>/settings/apps/new).",
            f"2. Webhook URL: {m['hook_attributes']['url']}; choose a webhook secret "
            "(e.g. `openssl rand -hex 32`).",
            f"3. Repository permissions: {perms}.",
            f"4. Subscribe to events: {', '.join(m['default_events'])}.",
            "5. Create the App, note its App ID, and generate a private key (.pem).",
            "6. Store them: errand github setup --app-id <ID> --private-key-file app.pem "
            "--webhook-secret-file secret.txt",
            "7. Install the App on your repositories (the App's page → Install App).",
        ]
    )


def store_manual(
    settings: Settings, secrets_port: Secrets, app_id: int, key_file: Path, secret_file: Path
) -> Path:
    try:
        key = key_file.read_text()
        secret = secret_file.read_text().strip()
    except OSError as exc:
        raise InvalidInput(f"cannot read {exc.filename}: {exc.strerror}") from None
    if "PRIVATE KEY" not in key:
        raise InvalidInput(f"{key_file} is not a PEM private key; download the App's .pem file")
    if len(secret) < 16:
        raise InvalidInput("the webhook secret is shorter than 16 characters; use a long one")
    return config.save(
        settings.home,
        secrets_port,
        app_id=app_id,
        private_key=key,
        webhook_secret=secret,
        api_url=settings.github.api_url,
        web_url=settings.github.web_url,
    )


class ManifestFlow:
    """One run of the manifest flow on 127.0.0.1; `url` is the page to open."""

    def __init__(self, settings: Settings, public_url: str, org: str = "") -> None:
        self._settings = settings
        self._state = secrets.token_urlsafe(24)
        self._code: str | None = None
        self._done = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/"
        web = settings.github.web_url
        target = (
            f"{web}/organizations/{org}/settings/apps/new" if org else f"{web}/settings/apps/new"
        )
        self.action = f"{target}?state={self._state}"
        self.manifest = manifest(public_url, self.url + "callback")

    def run(self, secrets_port: Secrets, timeout_s: float = 900.0) -> dict[str, Any]:
        """Serves the page until GitHub redirects back, then stores the App. Returns GitHub's
        answer without its secrets (id, slug, html_url)."""
        thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        thread.start()
        try:
            if not self._done.wait(timeout_s) or self._code is None:
                raise ConfigError("no answer from GitHub in time; run `errand github setup` again")
        finally:
            self._server.shutdown()
            self._server.server_close()
        return self._convert(self._code, secrets_port)

    def _convert(self, code: str, secrets_port: Secrets) -> dict[str, Any]:
        gh = self._settings.github
        try:
            res = httpx.post(
                f"{gh.api_url}/app-manifests/{code}/conversions",
                headers={"Accept": "application/vnd.github+json", "User-Agent": "errand"},
                timeout=30,
            )
        except httpx.HTTPError as exc:
            raise ConfigError(f"could not reach GitHub at {gh.api_url}: {exc}") from None
        if res.status_code != 201:
            raise ConfigError(
                f"GitHub refused the manifest code ({res.status_code}): it is single-use and "
                "expires after an hour; run `errand github setup` again"
            )
        data: dict[str, Any] = res.json()
        config.save(
            self._settings.home,
            secrets_port,
            app_id=int(data["id"]),
            private_key=str(data["pem"]),
            webhook_secret=str(data["webhook_secret"]),
            slug=str(data.get("slug", "")),
            api_url=gh.api_url,
            web_url=gh.web_url,
        )
        return {k: data.get(k) for k in ("id", "slug", "html_url")}

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        flow = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                if parts.path == "/":
                    self._page(flow.page())
                elif parts.path == "/callback":
                    query = parse_qs(parts.query)
                    state = query.get("state", [""])[0]
                    code = query.get("code", [""])[0]
                    if not code or not hmac.compare_digest(state, flow._state):
                        self._page("<p>This answer does not belong to this setup.</p>", 400)
                        return
                    flow._code = code
                    self._page("<p>Errand received the App. You can close this tab.</p>")
                    flow._done.set()
                else:
                    self._page("<p>Not found</p>", 404)

            def _page(self, body: str, status: int = 200) -> None:
                data = f"<!doctype html><meta charset=utf-8><title>Errand</title>{body}".encode()
                self.send_response(status)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        return Handler

    def page(self) -> str:
        value = html.escape(json.dumps(self.manifest), quote=True)
        return (
            f'<form id="f" method="post" action="{html.escape(self.action, quote=True)}">'
            f'<input type="hidden" name="manifest" value="{value}">'
            "<p>Create the Errand GitHub App on GitHub:</p>"
            '<button type="submit">Create the GitHub App</button></form>'
            "<script>document.getElementById('f').submit()</script>"
        )


def run_setup(
    settings: Settings,
    secrets_port: Secrets,
    *,
    public_url: str,
    org: str = "",
    manual: bool = False,
    app_id: int = 0,
    key_file: Path | None = None,
    secret_file: Path | None = None,
    out: Callable[[str], None] = print,
) -> int:
    if not public_url:
        raise InvalidInput(
            "pass --public-url: the HTTPS address GitHub delivers webhooks to (your tunnel or "
            "cloud URL); Errand appends /api/webhooks/github"
        )
    if manual:
        out(manual_steps(settings, public_url))
        return 0
    if app_id or key_file or secret_file:
        if not (app_id and key_file and secret_file):
            raise InvalidInput("--app-id, --private-key-file and --webhook-secret-file go together")
        path = store_manual(settings, secrets_port, app_id, key_file, secret_file)
        out(f"stored the GitHub App {app_id} in {path} (secrets encrypted)")
        out("Restart `errand up` if it is running, so that it reads the App.")
        return 0
    flow = ManifestFlow(settings, public_url, org)
    out(f"Open {flow.url} in a browser on this machine and click 'Create GitHub App'.")
    out("(No browser here? Run `errand github setup --manual --public-url ...`.)")
    sys.stdout.flush()
    app = flow.run(secrets_port)
    out(f"stored the GitHub App {app['slug']} (id {app['id']}); secrets encrypted")
    out(f"Now install it on your repositories: {app['html_url']}/installations/new")
    out("Restart `errand up` if it is running, so that it reads the App.")
    return 0
