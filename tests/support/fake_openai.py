"""A real OpenAI-compatible chat completions server on localhost, for tests.

It speaks HTTP only, so clients in other processes (the e2e pipeline runs stages as separate
processes) use it exactly like a hosted endpoint:

    with FakeOpenAI() as server:
        server.push(tool_calls=[("bash", {"command": "ls"})])
        server.push(content="done")
        model = LitellmModel("openai/fake", api_base=server.base_url, api_key="k")
        ...
        assert "secret" not in json.dumps(server.requests)

Replies come from the queue filled by `push()`, oldest first; when the queue is empty and a
`router` was given, the router answers by looking at the request (for example at the tools
offered: `submit_plan` during planning, `bash`/`finish` while executing). With neither, the
server answers 500 with a message saying the test ran out of scripted replies.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

ToolCallSpec = tuple[str, dict[str, Any] | str]  # (name, arguments as a dict or raw text)


@dataclass
class Reply:
    """One scripted answer. `status` other than 200 turns it into an HTTP error whose body
    carries `error` in the OpenAI error format. Raw-string tool arguments are sent verbatim,
    which is how tests feed malformed JSON."""

    content: str | None = None
    tool_calls: Sequence[ToolCallSpec] = ()
    status: int = 200
    error: str = ""
    prompt_tokens: int = 11
    completion_tokens: int = 7
    delay_s: float = 0.0  # answer this late (a model that times out)


@dataclass
class _State:
    queue: deque[Reply] = field(default_factory=deque)
    requests: list[dict[str, Any]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    served: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


Router = Callable[[dict[str, Any]], Reply]


def offered_tools(request: dict[str, Any]) -> list[str]:
    """The names of the tools a recorded request offered the model (a router helper)."""
    return [t["function"]["name"] for t in request.get("tools") or []]


class FakeOpenAI:
    """Context manager running the server in a daemon thread on 127.0.0.1 (port 0 = any).
    `requests` holds every request body received, `request_headers` their headers."""

    def __init__(self, router: Router | None = None, port: int = 0) -> None:
        self._state = _State()
        self._router = router
        self._server = ThreadingHTTPServer(("127.0.0.1", port), _handler_class(self))
        self._server.daemon_threads = True
        # A short poll interval makes shutdown (and so each test) fast.
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    @property
    def requests(self) -> list[dict[str, Any]]:
        with self._state.lock:
            return list(self._state.requests)

    @property
    def request_headers(self) -> list[dict[str, str]]:
        with self._state.lock:
            return list(self._state.headers)

    def push(
        self,
        content: str | None = None,
        tool_calls: Sequence[ToolCallSpec] = (),
        *,
        status: int = 200,
        error: str = "",
        prompt_tokens: int = 11,
        completion_tokens: int = 7,
    ) -> None:
        reply = Reply(content, tuple(tool_calls), status, error, prompt_tokens, completion_tokens)
        with self._state.lock:
            self._state.queue.append(reply)

    def pending(self) -> int:
        """Scripted replies not yet served."""
        with self._state.lock:
            return len(self._state.queue)

    def __enter__(self) -> FakeOpenAI:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def _next_reply(self, body: dict[str, Any], headers: dict[str, str]) -> tuple[Reply, int]:
        with self._state.lock:
            self._state.requests.append(body)
            self._state.headers.append(headers)
            self._state.served += 1
            serial = self._state.served
            if self._state.queue:
                return self._state.queue.popleft(), serial
        if self._router is not None:
            try:
                return self._router(body), serial
            except Exception as exc:  # a broken router must show up in the test, not hang it
                return Reply(status=500, error=f"FakeOpenAI router failed: {exc!r}"), serial
        return Reply(status=500, error="FakeOpenAI has no scripted reply left: push() more"), serial


def _completion_body(reply: Reply, model: str, serial: int) -> dict[str, Any]:
    calls = [
        {
            "id": f"call_{serial}_{i}",
            "type": "function",
            "function": {
                "name": name,
                "arguments": args if isinstance(args, str) else json.dumps(args),
            },
        }
        for i, (name, args) in enumerate(reply.tool_calls)
    ]
    message: dict[str, Any] = {"role": "assistant", "content": reply.content}
    if calls:
        message["tool_calls"] = calls
    return {
        "id": f"chatcmpl-{serial}",
        "object": "chat.completion",
        "created": 1_700_000_000 + serial,
        "model": model,
        "choices": [
            {"index": 0, "message": message, "finish_reason": "tool_calls" if calls else "stop"}
        ],
        "usage": {
            "prompt_tokens": reply.prompt_tokens,
            "completion_tokens": reply.completion_tokens,
            "total_tokens": reply.prompt_tokens + reply.completion_tokens,
        },
    }


def _handler_class(server: FakeOpenAI) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            if self.path.rstrip("/") not in ("/v1/chat/completions", "/chat/completions"):
                self._send(404, {"error": {"message": f"no route {self.path}"}})
                return
            length = int(self.headers.get("Content-Length") or 0)
            try:
                body = json.loads(self.rfile.read(length) or b"{}")
            except json.JSONDecodeError as exc:
                self._send(400, {"error": {"message": f"request body is not JSON: {exc}"}})
                return
            if body.get("stream"):
                self._send(400, {"error": {"message": "FakeOpenAI does not stream"}})
                return
            reply, serial = server._next_reply(body, dict(self.headers.items()))
            if reply.delay_s:
                time.sleep(reply.delay_s)
            if reply.status != 200:
                error = {"message": reply.error or "scripted error", "type": "fake", "code": None}
                self._send(reply.status, {"error": error})
                return
            self._send(200, _completion_body(reply, str(body.get("model", "")), serial))

        def _send(self, status: int, payload: dict[str, Any]) -> None:
            data = json.dumps(payload).encode()
            # The client may have given up already (a timeout test); nothing left to tell it.
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # keep test output clean; requests are recorded on the server instead

    return Handler
