"""`errand up`: the local server on 127.0.0.1."""

from __future__ import annotations

import errno
import gc
import logging
import os
import secrets
import socket
import threading
import time

import uvicorn

from shared import paths
from shared.account_wiring import local_login
from shared.errors import InvalidInput
from shared.github.webhooks import MAX_BODY_BYTES, WEBHOOK_PATH
from shared.http_guard import MAX_HEADER_BYTES, GuardedH11Protocol, RequestGuard
from shared.server import LocalServer
from shared.settings import Settings
from shared.stack import ServerInfo, Stack, write_server_file
from shared.up_log import TaskLog


def serve(settings: Settings, port: int) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # a line per delivery says nothing
    check_port_free(port)
    url = f"http://127.0.0.1:{port}"
    token = secrets.token_urlsafe(32)
    stack = Stack(settings, server_url=url, token=token)

    task_log = TaskLog(stack.deps.store)

    def shutdown() -> None:
        paths.server_file(settings.home).unlink(missing_ok=True)
        task_log.stop()
        stack.stop()

    config = uvicorn.Config(
        RequestGuard(
            LocalServer(stack.deps, on_shutdown=shutdown),
            path_limits={WEBHOOK_PATH: MAX_BODY_BYTES},  # GitHub's own cap
        ),
        host="127.0.0.1",
        port=port,
        log_level="warning",
        timeout_graceful_shutdown=3,
        http=GuardedH11Protocol,  # slow or unfinished request headers are cut off
        timeout_keep_alive=5,
        h11_max_incomplete_event_size=MAX_HEADER_BYTES,  # request line + headers
    )
    server = uvicorn.Server(config)
    stack.start(deliveries=False)
    task_log.start()
    # Everything built so far (modules, the app, the adapters) lives as long as the server:
    # out of the collector's reach, a full collection no longer walks it. Measured: API reads
    # at 400/s, p99 50 ms -> 5 ms (the tail was gen-2 collections over the startup heap).
    gc.collect()
    gc.freeze()
    threading.Thread(
        target=_deliver_once_listening, args=(server, stack), name="errand-start", daemon=True
    ).start()
    write_server_file(settings.home, ServerInfo(url=url, pid=os.getpid(), token=token))
    print(f"Errand is serving on {url} (home {settings.home})", flush=True)
    print(describe_mode(stack), flush=True)
    try:
        server.run()
    finally:
        shutdown()  # when startup failed (port taken) there was no lifespan shutdown
    return 0


def check_port_free(port: int) -> None:
    with socket.socket() as sock:
        # as uvicorn binds: connections of a server that just stopped (TIME_WAIT) do not count
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise InvalidInput(
                    f"port {port} is in use on 127.0.0.1 (another program, or `errand up` "
                    "already running): stop it, or pick another port with --port N or "
                    "ERRAND_PORT"
                ) from None
            raise InvalidInput(f"cannot listen on 127.0.0.1:{port}: {exc.strerror}") from None


def describe_mode(stack: Stack) -> str:
    """Says who may use the server, and for single-user mode the browser's one-time login."""
    deps = stack.deps
    s = deps.settings
    if s.multi_user:
        return (
            f"Multi-user mode: people sign in with GitHub at {s.public_url or s.server_url}; the "
            "CLI on this machine acts as the operator"
        )
    user = deps.users.ensure_local_user(local_login())
    code = deps.auth.login_code(user)
    return (
        f"Single-user mode (GitHub sign-in is not configured): serving {user.login}. Open "
        f"{s.server_url}/?login={code} in your browser (works once, for an hour; `errand open` "
        "makes a new one)"
    )


def _deliver_once_listening(server: uvicorn.Server, stack: Stack) -> None:
    """The queue delivers to this server's dispatch route: start it once the port is open."""
    while not server.started and not server.should_exit:
        time.sleep(0.02)
    if server.started:
        stack.start_deliveries()
