"""Serves the Flask handlers (WSGI) from the local ASGI server.

Every response the handlers give here is finite (the event stream is served natively by
shared/server.py) and every request body is bounded (shared/http_guard.py), so a request is
simple: read the body, run the app on a worker thread, send the whole response at once. That
costs half the CPU of a general-purpose bridge that streams both ways between threads (a2wsgi,
measured in-process: a task read 1.4 ms → 0.7 ms, a list of 20 tasks 2.4 ms → 1.3 ms)."""

from __future__ import annotations

import asyncio
import io
import sys
from collections.abc import Callable, Iterable, MutableMapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
Response = tuple[int, list[tuple[bytes, bytes]], bytes]


class WsgiBridge:
    def __init__(self, app: WsgiApp, workers: int = 16) -> None:
        self._app = app
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="errand-wsgi")

    async def __call__(
        self,
        scope: Scope,
        receive: Callable[[], Any],
        send: Callable[[Message], Any],
    ) -> None:
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            if not message.get("more_body", False):
                break
        loop = asyncio.get_running_loop()
        status, headers, data = await loop.run_in_executor(
            self._pool, self._run, environ(scope, bytes(body))
        )
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": data})

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _run(self, env: dict[str, Any]) -> Response:
        started: list[Any] = []
        written: list[bytes] = []

        def start_response(
            status: str, headers: list[tuple[str, str]], exc_info: Any = None
        ) -> Any:
            started[:] = [status, headers]
            return written.append

        result = self._app(env, start_response)
        try:
            chunks = [*written, *result]
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
        status, headers = started
        encoded = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers]
        return int(status.split(" ", 1)[0]), encoded, b"".join(chunks)


def environ(scope: Scope, body: bytes) -> dict[str, Any]:
    """The WSGI environ of an ASGI HTTP scope (PEP 3333: strings carry bytes as latin-1)."""
    server = scope.get("server") or ("127.0.0.1", 80)
    client = scope.get("client") or ("", 0)
    env: dict[str, Any] = {
        "REQUEST_METHOD": scope["method"],
        "SCRIPT_NAME": scope.get("root_path", "").encode().decode("latin-1"),
        "PATH_INFO": scope["path"].encode().decode("latin-1"),
        "QUERY_STRING": scope.get("query_string", b"").decode("latin-1"),
        "SERVER_NAME": str(server[0]),
        "SERVER_PORT": str(server[1]),
        "SERVER_PROTOCOL": f"HTTP/{scope.get('http_version', '1.1')}",
        "REMOTE_ADDR": str(client[0]),
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": scope.get("scheme", "http"),
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }
    for raw_name, raw_value in scope.get("headers") or []:
        name = raw_name.decode("latin-1").upper().replace("-", "_")
        value = raw_value.decode("latin-1")
        if name == "CONTENT_TYPE":
            env["CONTENT_TYPE"] = value
            continue
        if name == "CONTENT_LENGTH":
            continue  # the body was read whole: its length is what it is
        key = f"HTTP_{name}"
        env[key] = f"{env[key]},{value}" if key in env else value
    env["CONTENT_LENGTH"] = str(len(body))
    return env
