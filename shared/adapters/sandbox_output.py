"""Capping a command's output: bounded memory and time however much it prints, head and tail kept.

IO-free: bytes in, lines out (to a callback) and one text at the end."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

_TRIM_SLACK = 1 << 20  # the raw tail may grow this far past its cap before it is trimmed


class Feed(Protocol):
    def feed(self, data: bytes) -> None: ...


class CappedOutput:
    """Collects merged stdout+stderr bytes. Keeps about `limit_bytes`: the first half as it
    arrives, the last half as a rolling window, and one `[... N bytes truncated ...]` line
    between them. Lines longer than `max_line_chars` are cut with a note.

    `on_line` receives exactly the kept lines, in order, without their newline: the head as it
    arrives, the rest when `close()` is called (only then is it known what the tail is).

    Once the head is full, later output is only appended to a byte window (no per-line work),
    so a flood of hundreds of megabytes costs memcpy time, not Python time."""

    def __init__(
        self, limit_bytes: int, max_line_chars: int, on_line: Callable[[str], None] | None
    ) -> None:
        self._head_cap = limit_bytes // 2
        self._tail_cap = limit_bytes - self._head_cap
        self._max_line = max_line_chars
        self._on_line = on_line
        self._head: list[str] = []
        self._head_bytes = 0
        self._head_full = False
        self._tail_raw = bytearray()  # raw bytes after the head, at most about _tail_cap
        self._tail: list[str] = []  # the tail's lines, known once closed
        self._dropped = 0  # bytes dropped between head and tail
        self._notes: list[str] = []
        self._pending = bytearray()  # the current, unfinished line, at most _max_raw bytes
        self._pending_extra = 0  # bytes of the current line beyond _max_raw
        self._max_raw = max_line_chars * 4  # no more bytes than that can make max_line chars
        self._closed = False
        self.truncated = False

    def feed(self, data: bytes) -> None:
        start = 0
        while not self._head_full and (end := data.find(b"\n", start)) >= 0:
            self._append(data[start:end])
            self._line(bytes(self._pending), self._pending_extra, newline=True)
            self._pending.clear()
            self._pending_extra = 0
            start = end + 1
        if self._head_full:
            self._tail_raw += memoryview(data)[start:]
            if len(self._tail_raw) > self._tail_cap + _TRIM_SLACK:
                self._trim_tail()
        else:
            self._append(data[start:])

    def close(self) -> None:
        """Ends the output: the last unfinished line and the tail are kept and streamed."""
        if self._closed:
            return
        self._closed = True
        if not self._head_full and (self._pending or self._pending_extra):
            self._line(bytes(self._pending), self._pending_extra, newline=False)
            self._pending.clear()
        if self._head_full:
            self._split_tail()
        if self._dropped:
            self.truncated = True
            self._emit(f"[... {self._dropped} bytes truncated ...]")
        for line in self._tail:
            self._emit(line.removesuffix("\n"))

    def note(self, text: str) -> None:
        """A line of our own after the command's output (e.g. why it was killed)."""
        self.close()
        self._notes.append(text)
        self._emit(text)

    def text(self) -> str:
        middle = [f"[... {self._dropped} bytes truncated ...]\n"] if self._dropped else []
        body = "".join([*self._head, *middle, *self._tail])
        if self._notes:
            body = (body + "\n" if body and not body.endswith("\n") else body) + "".join(
                f"{n}\n" for n in self._notes
            )
        return body

    def _append(self, chunk: bytes) -> None:
        room = self._max_raw - len(self._pending)
        self._pending += chunk[:room]
        self._pending_extra += max(0, len(chunk) - room)

    def _line(self, raw: bytes, extra: int, newline: bool) -> None:
        text = self._cut(raw, extra)
        line = text + "\n" if newline else text
        size = len(line.encode("utf-8", errors="replace"))
        if self._head_bytes + size <= self._head_cap:
            self._head.append(line)
            self._head_bytes += size
            self._emit(text)
            return
        self._head_full = True  # this line and everything after it belong to the tail
        self._tail_raw += raw + (b"\n" if newline else b"")
        self._dropped += extra

    def _cut(self, raw: bytes, extra: int) -> str:
        text = raw.decode("utf-8", errors="replace")
        if len(text) > self._max_line or extra:
            kept = text[: self._max_line]
            cut = len(raw) + extra - len(kept.encode("utf-8", errors="replace"))
            text = f"{kept} [... line cut: {max(cut, 1)} more bytes ...]"
            self.truncated = True
        return text

    def _trim_tail(self) -> None:
        excess = len(self._tail_raw) - self._tail_cap
        if excess > 0:
            del self._tail_raw[:excess]
            self._dropped += excess

    def _split_tail(self) -> None:
        """The raw tail as lines: a line whose start was dropped is dropped whole (unless it is
        the only one), and the rest are cut like any other line."""
        self._trim_tail()
        raw = self._tail_raw
        if self._dropped and (first := raw.find(b"\n")) >= 0 and first + 1 < len(raw):
            del raw[: first + 1]
            self._dropped += first + 1
        pieces = bytes(raw).split(b"\n")
        ends_in_newline = pieces[-1] == b""
        if ends_in_newline:
            pieces.pop()
        for i, piece in enumerate(pieces):
            last = i == len(pieces) - 1
            self._tail.append(self._cut(piece, 0) + ("" if last and not ends_in_newline else "\n"))
        self._tail_raw = bytearray()

    def _emit(self, line: str) -> None:
        if self._on_line is not None:
            self._on_line(line)
