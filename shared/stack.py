"""The embedded stack: store, queue worker and warm job pool, for `errand up` (deliveries over
HTTP to the server's dispatch route) and for CLI commands run without a server (deliveries to
the same dispatch handler in-process)."""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from pathlib import Path

import httpx
from pydantic import SecretStr

from functions.app import create_app
from shared import paths
from shared.domain import Model
from shared.settings import Settings
from shared.wiring import Deps


def http_delivery(url: str, token: str) -> Callable[[bytes], int]:
    client = httpx.Client(timeout=30.0)
    headers = {"content-type": "application/json", "authorization": f"Bearer {token}"}

    def deliver(body: bytes) -> int:
        return client.post(url, content=body, headers=headers).status_code

    return deliver


class Stack:
    def __init__(self, settings: Settings, server_url: str | None = None, token: str = "") -> None:
        # job processes read their settings from the environment, as Cloud Run Jobs do
        env = dict(os.environ)
        env["ERRAND_HOME"] = str(settings.home)
        env.pop("ERRAND_INTERNAL_TOKEN", None)  # jobs never need it
        if server_url:
            env["ERRAND_SERVER"] = server_url
            settings = settings.model_copy(update={"server_url": server_url})
        # the server's own token: queue deliveries to dispatch, and the CLI on this machine
        token = token or secrets.token_urlsafe(32)
        settings = settings.model_copy(update={"internal_token": SecretStr(token)})
        self.settings = settings
        self.deps = Deps(settings, job_env=env)
        if server_url:
            self.deps.deliver = http_delivery(server_url + "/api/dispatch", token)
        else:
            client = create_app(self.deps).test_client()

            def deliver(body: bytes) -> int:
                return client.post(
                    "/api/dispatch",
                    data=body,
                    content_type="application/json",
                    headers={"Authorization": f"Bearer {token}"},
                ).status_code

            self.deps.deliver = deliver

    started = False

    def start(self) -> None:
        """Idempotent."""
        if self.started:
            return
        _ = self.deps.store  # creates the home and schema before workers race for them
        self.deps.start_jobs()
        self.deps.local_queue.start()
        self.started = True

    def stop(self) -> None:
        if self.started:
            self.deps.local_queue.stop()
            self.deps.stop_jobs()
            self.started = False


class ServerInfo(Model):
    url: str
    pid: int
    token: str


def write_server_file(home: Path, info: ServerInfo) -> None:
    p = paths.server_file(home)
    paths.ensure_home(p.parent)
    fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(info.model_dump_json())


def read_server_file(home: Path) -> ServerInfo | None:
    try:
        return ServerInfo.model_validate_json(paths.server_file(home).read_bytes())
    except (OSError, ValueError):
        return None
