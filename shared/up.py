"""`errand up`: the local server on 127.0.0.1."""

from __future__ import annotations

import logging
import os
import secrets
import threading
import time

import uvicorn

from shared import paths
from shared.http_guard import MAX_HEADER_BYTES, GuardedH11Protocol, RequestGuard
from shared.server import LocalServer
from shared.settings import Settings
from shared.stack import ServerInfo, Stack, write_server_file


def serve(settings: Settings, port: int) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    url = f"http://127.0.0.1:{port}"
    token = secrets.token_urlsafe(32)
    stack = Stack(settings, server_url=url, token=token)

    def shutdown() -> None:
        paths.server_file(settings.home).unlink(missing_ok=True)
        stack.stop()

    config = uvicorn.Config(
        RequestGuard(LocalServer(stack.deps, token, on_shutdown=shutdown)),
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
    threading.Thread(
        target=_deliver_once_listening, args=(server, stack), name="errand-start", daemon=True
    ).start()
    write_server_file(settings.home, ServerInfo(url=url, pid=os.getpid(), token=token))
    print(f"Errand is serving on {url} (home {settings.home})", flush=True)
    try:
        server.run()
    finally:
        shutdown()  # when startup failed (port taken) there was no lifespan shutdown
    return 0


def _deliver_once_listening(server: uvicorn.Server, stack: Stack) -> None:
    """The queue delivers to this server's dispatch route: start it once the port is open."""
    while not server.started and not server.should_exit:
        time.sleep(0.02)
    if server.started:
        stack.start_deliveries()
