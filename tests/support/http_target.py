"""A local HTTP endpoint that records the requests it gets and answers what it is told: the
dispatch function's place in queue tests."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float


@dataclass
class Target:
    url: str
    answer: Callable[[Received, int], int] = lambda r, n: 200
    received: list[Received] = field(default_factory=list)
    arrived: threading.Condition = field(default_factory=threading.Condition)

    def wait_for(self, count: int, timeout_s: float = 10) -> list[Received]:
        with self.arrived:
            self.arrived.wait_for(lambda: len(self.received) >= count, timeout_s)
            return list(self.received)


@contextmanager
def http_target(path: str = "/api/dispatch") -> Iterator[Target]:
    holder: list[Target] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            target = holder[0]
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            got = Received(
                self.path, {k.lower(): v for k, v in self.headers.items()}, body, time.time()
            )
            with target.arrived:
                target.received.append(got)
                count = len(target.received)
                target.arrived.notify_all()
            status = target.answer(got, count)
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    holder.append(Target(f"http://127.0.0.1:{server.server_address[1]}{path}"))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield holder[0]
    finally:
        server.shutdown()
        server.server_close()
