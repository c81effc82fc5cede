"""A command's output as it is produced, coalesced for an event log: IO-free, clock injected.

The reader thread `feed()`s raw bytes; the waiting thread calls `tick()` a few times a second,
which hands on at most one chunk: whatever arrived (partial lines included) once the oldest of
it has waited `flush_s`, or, when the command printed nothing for `silent_s`, an empty chunk
that only says how long it has been running. A chatty command therefore costs about one event
per `flush_s`, never one per line; a flood keeps the latest `max_chunk` bytes of each chunk and
says how many it skipped (the command's result still has head and tail)."""

from __future__ import annotations

import codecs
import threading
import time
from collections.abc import Callable

from shared.ports import OutputChunk

FLUSH_S = 0.75  # with a tick every TICK_S, output is sent within a second
SILENT_S = 1.5  # a silent command reports its elapsed time at least every 2 s
TICK_S = 0.25
MAX_CHUNK_BYTES = 8192


class LiveOutput:
    def __init__(
        self,
        on_chunk: Callable[[OutputChunk], None],
        clock: Callable[[], float] = time.monotonic,
        flush_s: float = FLUSH_S,
        silent_s: float = SILENT_S,
        max_chunk_bytes: int = MAX_CHUNK_BYTES,
    ) -> None:
        self._on_chunk = on_chunk
        self._clock = clock
        self._flush_s, self._silent_s, self._max = flush_s, silent_s, max_chunk_bytes
        self._lock = threading.Lock()
        self._buf = bytearray()
        self._skipped = 0
        self._started = self._last_sent = clock()
        self._waiting_since: float | None = None
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")

    def feed(self, data: bytes) -> None:
        """From the reader thread."""
        with self._lock:
            if self._waiting_since is None:
                self._waiting_since = self._clock()
            self._buf += data
            excess = len(self._buf) - self._max
            if excess > 0:
                del self._buf[:excess]
                self._skipped += excess

    def tick(self, final: bool = False) -> None:
        """From the waiting thread: sends a chunk if one is due. `final` sends what is left
        (and no empty chunk) once the command has ended."""
        now = self._clock()
        with self._lock:
            waited = self._waiting_since is not None and now - self._waiting_since >= self._flush_s
            due = bool(self._buf) and (final or waited)
            silent = not final and not self._buf and now - self._last_sent >= self._silent_s
            if not (due or silent):
                return
            data, skipped = bytes(self._buf), self._skipped
            self._buf.clear()
            self._skipped, self._waiting_since, self._last_sent = 0, None, now
        if skipped:  # the cut may have split a character: restart decoding on a boundary
            self._decoder.reset()
            while data and data[0] & 0xC0 == 0x80:
                data = data[1:]
        text = self._decoder.decode(data, final=final)
        self._on_chunk(
            OutputChunk(text=text, elapsed_s=round(now - self._started, 1), skipped_bytes=skipped)
        )


class Tee:
    """Feeds the same bytes to several collectors."""

    def __init__(self, *sinks: Callable[[bytes], None]) -> None:
        self._sinks = sinks

    def feed(self, data: bytes) -> None:
        for sink in self._sinks:
            sink(data)
