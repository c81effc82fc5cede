"""The embedded stack: store, queue worker and warm job pool, for `errand up` (deliveries over
HTTP to the server's dispatch route) and for CLI commands run without a server (deliveries to
the same dispatch handler in-process)."""

from __future__ import annotations

import logging
import os
import secrets
import threading
from collections.abc import Callable
from pathlib import Path

import httpx
from pydantic import SecretStr

from functions.app import create_app
from shared import leasing, paths
from shared.domain import TERMINAL, Model
from shared.errors import NotFound
from shared.settings import Settings
from shared.wiring import Background, Deps

log = logging.getLogger("errand.stack")


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
        self.deps = Deps(settings, job_env=env, dispatch_token=token)
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
    _sweeper: Sweeper | None = None
    _checkpointer: Background | None = None

    def start(self, deliveries: bool = True) -> None:
        """Idempotent. Resumes what a crash interrupted before taking new work: stages whose
        executions are gone are delivered again, workspaces of ended tasks are released.
        `deliveries=False` leaves the queue worker to `start_deliveries()` (a server starts
        it once it listens, since deliveries go to its own dispatch route)."""
        if self.started:
            return
        _ = self.deps.store  # creates the home and schema before workers race for them
        self._checkpointer = self.deps.checkpointer()
        if self._checkpointer is not None:
            self._checkpointer.start()
        self.deps.start_jobs()
        self._sweeper = Sweeper(self.deps)
        self._sweeper.start()
        if deliveries:
            self.start_deliveries()
        self.started = True

    def start_deliveries(self) -> None:
        if self.deps.uses_local_queue:  # else Cloud Tasks (or its emulator) delivers
            self.deps.local_queue.start()

    def stop(self) -> None:
        if self.started:
            if self._sweeper is not None:
                self._sweeper.stop()
            if self.deps.uses_local_queue:
                self.deps.local_queue.stop()
            self.deps.stop_jobs()
            if self._checkpointer is not None:
                self._checkpointer.stop()
            self.started = False


class Sweeper:
    """Sweeps expired leases on start (scanning every unfinished task once) and then every
    third of the lease time, on a background thread."""

    def __init__(self, deps: Deps) -> None:
        self._deps = deps
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="errand-sweeper", daemon=True)

    def start(self) -> None:
        report = leasing.sweep(self._deps, scan_tasks=True, restarted=True)
        released = release_orphan_workspaces(self._deps)
        resumed = [*report.redelivered, *report.resumed]
        if resumed or report.failed or released:
            log.warning(
                "after a restart: resumed %s, failed %s, released the workspaces of %s",
                resumed or "none",
                report.failed or "none",
                released or "none",
            )
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def _run(self) -> None:
        every = min(max(self._deps.settings.lease_ttl_s / 3, 0.2), 5.0)
        while not self._stop.wait(every):
            try:
                leasing.sweep(self._deps)
            except Exception:  # the next round tries again; never let the sweeper die
                log.exception("sweeping expired leases failed")


def release_orphan_workspaces(deps: Deps) -> list[str]:
    """Workspaces whose task ended (or no longer exists) while nothing was left to release
    them: a crash between the end of a task and its cleanup."""
    root = paths.workspace(deps.settings.home, "x").parent
    released = []
    for entry in sorted(root.iterdir()) if root.is_dir() else []:
        if entry.suffix == ".img" or not entry.is_dir():
            continue
        try:
            ended = deps.store.get_task(entry.name).status in TERMINAL
        except NotFound:
            ended = True
        if ended:
            deps.release_workspace(entry.name)
            released.append(entry.name)
    return released


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
