"""Live output coalescing on a fake clock: chunks, partial lines, silence, floods."""

from __future__ import annotations

import itertools

from shared.adapters.live_output import LiveOutput
from shared.ports import OutputChunk


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def live(max_chunk_bytes: int = 8192) -> tuple[LiveOutput, Clock, list[OutputChunk]]:
    clock, chunks = Clock(), []
    return LiveOutput(chunks.append, clock, max_chunk_bytes=max_chunk_bytes), clock, chunks


def test_lines_are_coalesced_into_one_chunk_per_interval() -> None:
    out, clock, chunks = live()
    for i in range(100):
        out.feed(f"line {i}\n".encode())
        clock.now += 0.005
        out.tick()
    assert chunks == []  # nothing waited 0.75 s yet
    clock.now += 0.3
    out.tick()
    assert len(chunks) == 1 and chunks[0].text.count("\n") == 100
    assert chunks[0].elapsed_s == 0.8


def test_a_partial_line_is_flushed_within_a_second() -> None:
    out, clock, chunks = live()
    out.feed(b"collecting ... ")
    clock.now += 0.5
    out.tick()
    assert chunks == []
    clock.now += 0.3
    out.tick()
    assert [c.text for c in chunks] == ["collecting ... "]


def test_a_silent_command_reports_its_elapsed_time() -> None:
    out, clock, chunks = live()
    for _ in range(40):  # 10 s of ticks
        clock.now += 0.25
        out.tick()
    assert all(c.text == "" for c in chunks)
    times = [100.0, *[100 + c.elapsed_s for c in chunks]]
    assert max(b - a for a, b in itertools.pairwise(times)) <= 2.0
    assert 5 <= len(chunks) <= 7  # not one per tick


def test_the_end_flushes_what_is_left_and_no_empty_chunk() -> None:
    out, _clock, chunks = live()
    out.tick(final=True)
    assert chunks == []
    out.feed(b"done")
    out.tick(final=True)
    assert [c.text for c in chunks] == ["done"]


def test_a_flood_keeps_the_latest_bytes_and_counts_the_rest() -> None:
    out, clock, chunks = live(max_chunk_bytes=100)
    out.feed(b"x" * 10_000 + "é".encode() * 100)
    clock.now += 1
    out.tick()
    (chunk,) = chunks
    assert chunk.skipped_bytes == 10_100 and chunk.text == "é" * 50


def test_a_character_split_across_feeds_is_whole() -> None:
    out, clock, chunks = live()
    data = "naïve\n".encode()
    out.feed(data[:3])
    clock.now += 1
    out.tick()
    out.feed(data[3:])
    out.tick(final=True)
    assert "".join(c.text for c in chunks) == "naïve\n"
