"""The local server behind `errand up`: every function on one port, plus the queue worker and
the warm job pool.

It is an asyncio (ASGI) server so that an open event stream costs a coroutine, not an OS
thread: the SSE route is served natively here, everything else runs the same Flask handlers as
the cloud functions through a small thread pool."""

from __future__ import annotations

import asyncio
import contextlib
import json
import mimetypes
import re
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, Protocol, runtime_checkable
from urllib.parse import parse_qsl, urlsplit

from functions.app import create_app
from functions.handlers import health
from shared import signing, sse
from shared.auth import Identity
from shared.domain import TERMINAL
from shared.errors import ConfigError, ErrandError, Forbidden, InvalidInput, NotFound, Unauthorized
from shared.event_hub import TICK, EventHub, Item, Tick
from shared.github.webhooks import WEBHOOK_PATH
from shared.web_static import WebStatic
from shared.wiring import Deps
from shared.wsgi_bridge import WsgiBridge

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


@runtime_checkable
class AsyncChangeFeed(Protocol):
    async def wait_for_events_async(self, after: int, timeout_s: float) -> bool: ...


# Authenticated by their own signature, sent by servers that cannot know the local token, Host
# or Origin: exempt from _refusal (and nothing else).
SIGNED_PATHS = frozenset({WEBHOOK_PATH})
EVENTS_PATH = re.compile(r"^/api/tasks/(?P<task_id>[A-Za-z0-9_\-]+)/events$")


class LocalServer:
    def __init__(
        self,
        deps: Deps,
        on_shutdown: Callable[[], None] = lambda: None,
        wsgi_workers: int = 16,
        web: WebStatic | None = None,
    ) -> None:
        self.deps = deps
        self._web = web or WebStatic()
        # uvicorn re-raises the signal that stopped it once it is done, so code after
        # server.run() never runs: cleanup belongs to the lifespan shutdown
        self._on_shutdown = on_shutdown
        store = deps.store
        if not isinstance(store, AsyncChangeFeed):
            raise ConfigError("the local server needs a store with an asyncio change feed")
        self._feed: AsyncChangeFeed = store
        self._hub = EventHub(store, self._feed.wait_for_events_async)
        self._wsgi = WsgiBridge(create_app(deps), workers=wsgi_workers)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        if self._web.owns(scope):  # the app shell and its assets: public, they hold no data
            await self._web(scope, send)
            return
        signed = scope["path"] in SIGNED_PATHS and scope["method"] == "POST"
        refusal = None if signed else self._refusal(scope)
        if refusal:
            status, code, message = refusal
            extra = [(b"www-authenticate", b"Bearer")] if status == 401 else []
            await _json(send, status, {"error": {"code": code, "message": message}}, extra)
            return
        path = scope["path"]
        match = EVENTS_PATH.match(path)
        if path == "/api/health" and scope["method"] == "GET":
            # answered on the event loop: a liveness probe must not queue behind the handlers
            await _json(send, 200, health(None, self.deps).model_dump())
        elif match and scope["method"] == "GET":
            await self._events(scope, receive, send, match["task_id"])
        elif path.startswith("/blobs/") and scope["method"] == "GET":
            await self._blob(scope, path.removeprefix("/blobs/"), send)  # paths arrive decoded
        else:
            await self._wsgi(scope, receive, send)

    def _refusal(self, scope: Scope) -> tuple[int, str, str] | None:
        """Any web page the user visits can make the browser call 127.0.0.1. Requests must name
        this server as their Host (which defeats DNS rebinding) and, when a browser sends an
        Origin, come from this server's own origin or one the operator allowed for CORS (else
        403). Who calls (the token `errand up` wrote to server.json, mode 0600, a personal
        token, or a browser session with its CSRF token) is decided per route: by the handlers
        (functions/access.py) and, for streams and blobs, here (else 401). Bodies must be JSON,
        which a cross-site form cannot send without a CORS preflight: the handlers answer 415
        otherwise (functions/handlers.py)."""
        headers = _headers(scope)
        port = (scope.get("server") or ("", 0))[1]
        allowed = {f"127.0.0.1:{port}", f"localhost:{port}", f"[::1]:{port}"}
        public = self.deps.settings.public_url
        if public:
            allowed.add(urlsplit(public).netloc)
        if headers.get("host", "") not in allowed:
            message = (
                f"Host {headers.get('host', '')!r} is not this server; use http://127.0.0.1:{port}"
            )
            return 403, "forbidden", message
        origin = headers.get("origin")
        cors = self.deps.settings.cors_origins
        if origin and origin.split("://", 1)[-1] not in allowed and origin not in cors:
            return 403, "forbidden", f"requests from {origin} are not allowed"
        return None

    def _identify(self, scope: Scope) -> Identity:
        headers = _headers(scope)
        host = headers.get("host", "")
        own = {f"http://{host}", f"https://{host}", *self.deps.settings.cors_origins}
        return self.deps.auth.identify(scope["method"], headers, own, rotate=False)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self._hub.close()
                self._wsgi.close()
                await asyncio.to_thread(self._on_shutdown)
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _blob(self, scope: Scope, key: str, send: Send) -> None:
        """A blob by signed URL (the browser's audio player), or for a caller who may see
        the task it belongs to. Anything else looks like a missing blob."""
        query = _query(scope)
        try:
            if not signing.verify_blob(
                self.deps.signing_key, key, query.get("exp", ""), query.get("sig", "")
            ):
                await asyncio.to_thread(self._check_blob_owner, scope, key)
            data = await asyncio.to_thread(self.deps.blobs.get, key)
        except (Unauthorized, Forbidden) as exc:
            await _error(send, exc)
            return
        except (NotFound, InvalidInput):
            shown = key if len(key) <= 200 else key[:200] + "…"
            await _json(send, 404, {"error": {"code": "not_found", "message": f"no blob {shown}"}})
            return
        ctype = mimetypes.guess_type(key)[0] or "application/octet-stream"
        headers = [(b"content-type", ctype.encode()), (b"content-length", str(len(data)).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": data})

    def _check_blob_owner(self, scope: Scope, key: str) -> None:
        found = self._identify(scope)
        parts = key.split("/")
        if len(parts) < 3 or parts[0] != "tasks":
            raise NotFound(f"no blob {key}")
        self.deps.task_service(found.user).get(parts[1])

    async def _events(self, scope: Scope, receive: Receive, send: Send, task_id: str) -> None:
        def authorize() -> None:
            found = self._identify(scope)
            self.deps.task_service(found.user).get(task_id)  # another user's: 404

        headers = dict(scope.get("headers") or [])
        query = _query(scope)
        try:
            await asyncio.to_thread(authorize)
            cursor = sse.parse_cursor(
                headers.get(b"last-event-id", b"").decode("latin-1"), query.get("after")
            )
        except ErrandError as exc:
            await _error(send, exc)
            return
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", b"text/event-stream"),
                    (b"cache-control", b"no-cache"),
                    (b"x-accel-buffering", b"no"),
                ],
            }
        )
        queue = await self._hub.subscribe(task_id)

        async def watch_disconnect() -> None:
            while (await receive())["type"] != "http.disconnect":
                pass
            queue.put_nowait(None)

        watcher = asyncio.create_task(watch_disconnect())
        try:
            await send({"type": "http.response.body", "body": sse.preamble(), "more_body": True})
            await self._stream(send, task_id, cursor, queue)
            with contextlib.suppress(OSError):
                await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            watcher.cancel()
            self._hub.unsubscribe(task_id, queue)

    async def _stream(
        self, send: Send, task_id: str, cursor: int, queue: asyncio.Queue[Item]
    ) -> None:
        """Sends the backlog after `cursor` (read here), then what the hub hands over, until
        the task's terminal status, the client leaves, or the task ended with nothing more."""
        store = self.deps.store
        while True:
            events = await asyncio.to_thread(store.read_events, task_id, cursor, sse.BATCH)
            for event in events:
                cursor = event.id
                await send(_body(sse.frame(event)))
                # a task retried after it ended goes on: only the last end ends the stream
                if sse.ends_stream(event) and await asyncio.to_thread(
                    sse.ends_stream, event, store
                ):
                    return
            if len(events) < sse.BATCH:
                break
        wait_s = await self._wait_time(task_id)
        if not wait_s:
            return
        # one timer per wait, which puts TICK: not a timeout around every get, which with
        # 1,000 streams cost more than the rest of handing an event over
        loop = asyncio.get_running_loop()
        timer = loop.call_later(wait_s, queue.put_nowait, TICK)
        try:
            while True:
                batch = [await queue.get()]
                while not queue.empty():  # what arrived meanwhile goes out in one write
                    batch.append(queue.get_nowait())
                frames = []
                ticked = False
                for item in batch:
                    if item is None:  # the client left, or the hub gave up on it
                        return
                    if isinstance(item, Tick):
                        ticked = True
                        continue
                    if item.event.id <= cursor:  # also in the backlog
                        continue
                    cursor = item.event.id
                    frames.append(item.frame)
                    if sse.ends_stream(item.event):
                        await send(_body(b"".join(frames)))
                        return
                if frames:
                    await send(_body(b"".join(frames)))
                if ticked:
                    if wait_s == sse.HEARTBEAT_S:
                        await send(_body(sse.heartbeat()))
                    wait_s = await self._wait_time(task_id)
                    if not wait_s:
                        return
                    timer = loop.call_later(wait_s, queue.put_nowait, TICK)
        finally:
            timer.cancel()

    async def _wait_time(self, task_id: str) -> float:
        """0 when the stream should end (the task ended and settled), else how long to wait
        for its next event."""
        task = await asyncio.to_thread(self.deps.store.get_task, task_id)
        if sse.finished(task):
            return 0.0
        return sse.SETTLE_S if task.status in TERMINAL else sse.HEARTBEAT_S


async def _error(send: Send, exc: ErrandError) -> None:
    extra = [(b"www-authenticate", b"Bearer")] if exc.http_status == 401 else []
    await _json(send, exc.http_status, {"error": {"code": exc.code, "message": exc.message}}, extra)


def _headers(scope: Scope) -> dict[str, str]:
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers") or []}


def _query(scope: Scope) -> dict[str, str]:
    return dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))


def _body(data: bytes) -> dict[str, Any]:
    return {"type": "http.response.body", "body": data, "more_body": True}


async def _json(
    send: Send, status: int, body: object, headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    data = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(data)).encode()),
                *(headers or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": data})
