"""Request hygiene for the local server, in front of everything else: the server must not be
held, crashed or filled by a hostile or broken client.

- `RequestGuard` (ASGI): headers must fit in MAX_HEADER_BYTES (431) and their values be UTF-8
  (400); a body larger than `max_body`
  is refused from its Content-Length before any of it is read (413), or as soon as it grows
  past the limit when it is chunked; a body that does not arrive within `body_timeout_s`
  (e.g. shorter than its Content-Length) is answered 408 and the connection closed. The body
  is read here, once, and handed on whole.
- `GuardedH11Protocol` (uvicorn's h11 protocol): a connection whose request headers are not
  complete `header_timeout_s` after its first byte (or after it opened) is closed, so slow or
  half-sent headers cannot pile up connections."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]

MAX_BODY_BYTES = 2 * 1024 * 1024
MAX_HEADER_BYTES = 32 * 1024  # as h11_max_incomplete_event_size in shared/up.py
BODY_TIMEOUT_S = 10.0
HEADER_TIMEOUT_S = 5.0


class RequestGuard:
    def __init__(
        self,
        app: App,
        *,
        max_body: int = MAX_BODY_BYTES,
        body_timeout_s: float = BODY_TIMEOUT_S,
    ) -> None:
        self._app = app
        self._max_body = max_body
        self._body_timeout_s = body_timeout_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        headers: list[tuple[bytes, bytes]] = list(scope.get("headers") or [])
        size = sum(len(name) + len(value) + 4 for name, value in headers)
        if size > MAX_HEADER_BYTES:
            # h11 bounds only headers that arrive in pieces; these came in one read
            message = f"the request headers are {size:,} bytes, more than {MAX_HEADER_BYTES:,}"
            await refuse(send, 431, "headers_too_large", message)
            return
        problem = header_problem(headers)
        if problem:
            await refuse(send, 400, "bad_header", problem)
            return
        values = dict(headers)
        length_text = values.get(b"content-length", b"").strip()
        chunked = b"chunked" in values.get(b"transfer-encoding", b"").lower()
        if not length_text and not chunked:
            await self._app(scope, receive, send)  # no body: streams keep the live receive
            return
        if length_text and not length_text.isdigit():
            await refuse(send, 400, "bad_header", "Content-Length must be a whole number")
            return
        if length_text and int(length_text) > self._max_body:
            await refuse(send, 413, "body_too_large", self._too_large(int(length_text)))
            return
        try:
            body = await asyncio.wait_for(self._read(receive), self._body_timeout_s)
        except TimeoutError:
            await refuse(
                send,
                408,
                "body_timeout",
                f"the request body did not arrive within {self._body_timeout_s:.0f} s "
                "(shorter than its Content-Length?); send it whole and at once",
            )
            return
        except _Disconnected:
            return
        except _TooLarge as exc:
            await refuse(send, 413, "body_too_large", self._too_large(exc.size))
            return
        await self._app(scope, _replay(body, receive), send)

    async def _read(self, receive: Receive) -> bytes:
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise _Disconnected
            body += message.get("body", b"")
            if len(body) > self._max_body:
                raise _TooLarge(len(body))
            if not message.get("more_body", False):
                return bytes(body)

    def _too_large(self, size: int) -> str:
        return (
            f"the request body is {size:,} bytes or more, more than the {self._max_body:,} "
            "allowed: shorten the prompt or plan"
        )


class _Disconnected(Exception):
    pass


class _TooLarge(Exception):
    def __init__(self, size: int) -> None:
        super().__init__(size)
        self.size = size


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()  # after the body: the disconnect, when it comes

    return replay


def header_problem(headers: list[tuple[bytes, bytes]]) -> str:
    """'' when every header value is UTF-8 text, else which one is not."""
    for name, value in headers:
        try:
            value.decode()
        except UnicodeDecodeError:
            return (
                f"the value of header {name.decode('latin-1')!r} is not UTF-8 text; "
                "send header values as ASCII (or UTF-8)"
            )
    return ""


async def refuse(send: Send, status: int, code: str, message: str) -> None:
    """An error in the API's shape; the connection closes (the client may still be sending)."""
    data = json.dumps({"error": {"code": code, "message": message}}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(data)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": data})


class GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with a deadline on request headers (uvicorn has none: its
    keep-alive timer stops at the first byte of a request)."""

    header_timeout_s = HEADER_TIMEOUT_S
    _header_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)  # type: ignore[arg-type]
        self._arm_header_timer()

    def data_received(self, data: bytes) -> None:
        waiting = self.cycle is None or self.cycle.response_complete
        if waiting and self._header_timer is None:
            self._arm_header_timer()
        cycle = self.cycle
        super().data_received(data)
        if self.cycle is not cycle or self.transport.is_closing():
            self._cancel_header_timer()  # the headers are in: a request cycle started

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_header_timer()
        super().connection_lost(exc)

    def on_response_complete(self) -> None:
        # the next request on this connection is timed from its first byte
        self._cancel_header_timer()
        super().on_response_complete()

    def _arm_header_timer(self) -> None:
        self._cancel_header_timer()
        self._header_timer = self.loop.call_later(self.header_timeout_s, self._headers_too_slow)

    def _cancel_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_too_slow(self) -> None:
        self._header_timer = None
        if self.transport.is_closing():
            return
        if self.cycle is not None and not self.cycle.response_complete:
            return  # a request is being served: not ours to cut
        text = f"request headers did not arrive within {self.header_timeout_s:g} s\n".encode()
        self.transport.write(
            b"HTTP/1.1 408 Request Timeout\r\ncontent-type: text/plain\r\n"
            + f"content-length: {len(text)}\r\nconnection: close\r\n\r\n".encode()
            + text
        )
        self.transport.close()
