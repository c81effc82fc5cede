"""The WSGI bridge of the local server: environ per PEP 3333, whole responses."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from typing import Any

from shared.wsgi_bridge import WsgiBridge, environ


def scope(**extra: Any) -> dict[str, Any]:
    return {
        "type": "http",
        "method": "POST",
        "path": "/api/tâches",
        "query_string": b"a=1&b=%C3%A9",
        "headers": [
            (b"content-type", b"application/json"),
            (b"content-length", b"999"),
            (b"x-many", b"one"),
            (b"x-many", b"two"),
        ],
        "server": ("127.0.0.1", 8080),
        "client": ("127.0.0.1", 5000),
        **extra,
    }


def test_environ() -> None:
    env = environ(scope(), b'{"x": 1}')
    assert env["PATH_INFO"] == "/api/tâches".encode().decode("latin-1")
    assert env["QUERY_STRING"] == "a=1&b=%C3%A9"
    assert env["CONTENT_TYPE"] == "application/json"
    assert env["CONTENT_LENGTH"] == "8"  # the body as read, not as declared
    assert env["HTTP_X_MANY"] == "one,two"
    assert env["wsgi.input"].read() == b'{"x": 1}'


def test_a_request_through_the_bridge() -> None:
    def app(env: dict[str, Any], start: Callable[..., Any]) -> Iterable[bytes]:
        start("418 I'm a teapot", [("Content-Type", "text/plain"), ("X-Seen", env["PATH_INFO"])])
        return [b"short ", env["wsgi.input"].read()]

    bridge = WsgiBridge(app, workers=2)
    sent: list[dict[str, Any]] = []
    chunks = [{"type": "http.request", "body": b"and ", "more_body": True}]
    chunks.append({"type": "http.request", "body": b"stout", "more_body": False})

    async def receive() -> dict[str, Any]:
        return chunks.pop(0)

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(bridge(scope(path="/pot"), receive, send))
    bridge.close()
    assert sent[0]["status"] == 418
    assert (b"x-seen", b"/pot") in sent[0]["headers"]
    assert sent[1]["body"] == b"short and stout"
