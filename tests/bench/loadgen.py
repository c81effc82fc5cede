"""A small open-loop HTTP/1.1 load generator and SSE watcher over raw asyncio streams, for the
load benchmark: cheap enough per request that one client process can drive the server harder
than the server can go, and honest about queueing (a request's latency counts from the moment
it was due, not from when a free connection picked it up)."""

from __future__ import annotations

import asyncio
import json
import re
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field

_STAMP = re.compile(rb'"t":([0-9.]+)')


@dataclass
class Target:
    host: str
    port: int
    token: str

    def request(self, method: str, path: str, body: bytes = b"") -> bytes:
        lines = [
            f"{method} {path} HTTP/1.1",
            f"Host: {self.host}:{self.port}",
            f"Authorization: Bearer {self.token}",
        ]
        if method == "POST":
            lines += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
        return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


class Conn:
    def __init__(self, target: Target) -> None:
        self._target = target
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def call(self, raw: bytes) -> int:
        """Sends one request, returns the status; reconnects once if the server had closed
        this keep-alive connection in the meantime."""
        for attempt in (0, 1):
            if self._writer is None:
                self._reader, self._writer = await asyncio.open_connection(
                    self._target.host, self._target.port
                )
            assert self._reader is not None
            try:
                self._writer.write(raw)
                head = await self._reader.readuntil(b"\r\n\r\n")
                status = int(head[9:12])
                match = re.search(rb"(?i)content-length: *([0-9]+)", head)
                await self._reader.readexactly(int(match.group(1)) if match else 0)
                if b"connection: close" in head.lower():
                    self.close()
                return status
            except (ConnectionError, asyncio.IncompleteReadError):
                self.close()
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
        self._reader = self._writer = None


@dataclass
class Step:
    rate: int
    latencies_ms: list[float] = field(default_factory=list)
    errors: int = 0

    def summary(self) -> dict[str, float | int]:
        return {"rate_per_s": self.rate, **summarize(self.latencies_ms), "errors": self.errors}


def summarize(values_ms: list[float]) -> dict[str, float | int]:
    if not values_ms:
        return {"n": 0}
    ordered = sorted(values_ms)
    return {
        "n": len(ordered),
        "p50_ms": round(statistics.median(ordered), 2),
        "p99_ms": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))], 2),
        "max_ms": round(ordered[-1], 2),
    }


async def open_loop(
    target: Target,
    rate: int,
    duration_s: float,
    make: Callable[[int], bytes],
    ok: frozenset[int] = frozenset({200}),
    connections: int = 32,
) -> Step:
    """`rate` requests a second for `duration_s`, request i built by `make(i)`, over a pool of
    keep-alive connections (opened before the clock starts)."""
    pool: asyncio.Queue[Conn] = asyncio.Queue()
    warm = [Conn(target) for _ in range(connections)]
    await asyncio.gather(*(c.call(target.request("GET", "/api/health")) for c in warm))
    for conn in warm:
        pool.put_nowait(conn)
    step = Step(rate)
    start = time.perf_counter() + 0.05

    async def one(i: int) -> None:
        due = start + i / rate
        await asyncio.sleep(max(0.0, due - time.perf_counter()))
        conn = await pool.get()
        try:
            status = await conn.call(make(i))
            if status not in ok:
                step.errors += 1
        except (OSError, asyncio.IncompleteReadError):
            step.errors += 1
        finally:
            pool.put_nowait(conn)
        step.latencies_ms.append((time.perf_counter() - due) * 1000)

    await asyncio.gather(*(one(i) for i in range(int(rate * duration_s))))
    for conn in warm:
        conn.close()
    return step


class Watcher:
    """One event-stream watcher: records, for each event carrying `"t": <unix time of its
    store write>`, the delay until it was read here."""

    def __init__(self, target: Target, task_id: str) -> None:
        self._target = target
        self._task_id = task_id
        self.delays_ms: list[float] = []
        self.connected = asyncio.Event()
        self.ended = False
        self.error = ""

    async def run(self, expected: int, timeout_s: float) -> None:
        try:
            await asyncio.wait_for(self._follow(expected), timeout_s)
        except TimeoutError:
            self.error = f"timed out with {len(self.delays_ms)}/{expected} events"
        except (OSError, asyncio.IncompleteReadError) as exc:
            self.error = f"{type(exc).__name__}: {exc}"

    async def _follow(self, expected: int) -> None:
        reader, writer = await asyncio.open_connection(self._target.host, self._target.port)
        try:
            path = f"/api/tasks/{self._task_id}/events"
            writer.write(self._target.request("GET", path))
            head = await reader.readuntil(b"\r\n\r\n")
            if head[9:12] != b"200":
                raise ConnectionError(f"stream answered {head[:12]!r}")
            self.connected.set()
            pending = b""
            while len(self.delays_ms) < expected:
                # whole reads, not a readline per line: with 1,000 watchers in this process
                # its own parsing would otherwise add milliseconds to the delays it measures
                chunk = await reader.read(256 * 1024)
                if not chunk:
                    self.ended = True
                    return
                seen = time.time()
                pending += chunk
                complete, _, pending = pending.rpartition(b"\n\n")
                for stamp in _STAMP.findall(complete):
                    self.delays_ms.append((seen - float(stamp)) * 1000)
        finally:
            writer.close()


async def probe(target: Target, path: str, rate: int, duration_s: float) -> Step:
    """`rate` GETs of `path` a second, started when a line arrives on stdin (after the
    connections are open and "ready" is printed)."""
    raw = target.request("GET", path)
    loop = asyncio.get_running_loop()
    print("ready", flush=True)
    await loop.run_in_executor(None, sys.stdin.readline)
    return await open_loop(target, rate, duration_s, lambda i: raw, connections=4)


def main(argv: list[str]) -> int:
    """`python -m tests.bench.loadgen PORT TOKEN PATH RATE SECONDS`: the probe in a process of
    its own, so that what it measures is the server and not a client busy with 1,000
    streams; prints its latencies and errors as JSON."""
    port, token, path, rate, seconds = argv
    step = asyncio.run(
        probe(Target("127.0.0.1", int(port), token), path, int(rate), float(seconds))
    )
    print(json.dumps({"latencies_ms": step.latencies_ms, "errors": step.errors}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
