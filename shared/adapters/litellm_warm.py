"""Warming a process for its first model call: litellm loads its provider code and the HTTP
stack on the first `completion()` (~1 s), which a forked job execution would otherwise pay on
every stage. `warm_completion()` makes one real OpenAI-compatible call, through the same code
path as every call, against a responder forked for the purpose on a loopback port: no network,
no key, no thread left behind."""

from __future__ import annotations

import json
import os
import socket
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from shared.adapters.litellm_model import LitellmModel, import_litellm
from shared.ports import Message, ToolSpec

_ANSWER = {
    "id": "errand-warmup",
    "object": "chat.completion",
    "created": 0,
    "model": "errand-warmup",
    # A tool call, as stages get: litellm's tool-call code path is loaded on first use too.
    "choices": [
        {
            "index": 0,
            "message": {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "call_warm",
                        "type": "function",
                        "function": {"name": "finish", "arguments": '{"summary": "ok"}'},
                    }
                ],
            },
            "finish_reason": "tool_calls",
        }
    ],
    "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
}


_FINISH = ToolSpec(
    name="finish",
    description="Warm-up tool.",
    parameters={
        "type": "object",
        "properties": {"summary": {"type": "string"}},
        "required": ["summary"],
    },
)


def warm_completion() -> None:
    """One completion against a local one-shot responder. Call before forking workers only
    (it forks the responder, and the process must hold no threads when it does)."""
    import_litellm()
    with _responder() as base_url:
        model = LitellmModel("openai/errand-warmup", api_base=base_url, retries=0, timeout_s=30)
        model.complete([Message(role="user", content="warm up")], [_FINISH])
    _restart_logging_pool()


@contextmanager
def _responder() -> Iterator[str]:
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    port = listener.getsockname()[1]
    pid = os.fork()
    if pid == 0:  # the responder: answers one request, then exits without cleanup handlers
        code = 0
        try:
            _answer_once(listener)
        except BaseException:
            code = 1
        finally:
            os._exit(code)
    listener.close()
    try:
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        os.waitpid(pid, 0)


def _answer_once(listener: socket.socket) -> None:
    listener.settimeout(30)
    conn, _ = listener.accept()
    with conn:
        conn.settimeout(30)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = conn.recv(65536)
            if not chunk:
                return
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value.strip())
        while len(body) < length:
            chunk = conn.recv(65536)
            if not chunk:
                break
            body += chunk
        payload = json.dumps(_ANSWER).encode()
        conn.sendall(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
            + f"Content-Length: {len(payload)}\r\nConnection: close\r\n\r\n".encode()
            + payload
        )


def _restart_logging_pool() -> None:
    """litellm's first call starts the thread of its logging pool (a module-level executor).
    The pool is shut down, its thread joined, and every module holding it gets a new unstarted
    pool, which starts its own thread on first use in each forked child."""
    from litellm.constants import LOGGING_EXECUTOR_MAX_PENDING_TASKS
    from litellm.litellm_core_utils import thread_pool_executor as pools

    old = pools.executor
    old.shutdown(wait=True)
    new = pools.BoundedLoggingThreadPoolExecutor(
        max_workers=pools.MAX_THREADS, max_pending_tasks=LOGGING_EXECUTOR_MAX_PENDING_TASKS
    )
    for module in list(sys.modules.values()):
        # The module's own namespace only: getattr() would run lazy-import hooks (litellm has
        # them) for every module in the process.
        namespace = getattr(module, "__dict__", {})
        if namespace.get("executor") is old:
            namespace["executor"] = new
