"""The change feed's wake-up: a write to the store's files (by any process) makes its poller
look at once instead of on its next interval."""

from __future__ import annotations

import threading
from pathlib import Path

from shared.adapters.change_feed import ChangeFeed
from shared.adapters.file_wake import FileWake


def test_a_write_to_a_watched_file_wakes_and_others_do_not(tmp_path: Path) -> None:
    wake = FileWake.open(tmp_path, frozenset({"errand.db-wal"}))
    assert wake is not None
    try:
        (tmp_path / "server.json").write_text("{}")
        assert not wake.wait(0.2)  # not a name it watches
        (tmp_path / "errand.db-wal").write_bytes(b"x")
        assert wake.wait(10.0)
        assert not wake.wait(0.05)  # coalesced: one wake for what came before
    finally:
        wake.close()


class GatedWake:
    """A wake the test fires by hand."""

    def __init__(self) -> None:
        self.fired = threading.Event()

    def wait(self, timeout_s: float) -> bool:
        hit = self.fired.wait(timeout_s)
        self.fired.clear()
        return hit

    def close(self) -> None:
        pass


def test_a_wake_before_the_write_is_visible_is_looked_at_again() -> None:
    """SQLite writes the WAL (the wake) before it publishes the commit: the first poll after
    a wake may see nothing. The feed looks again shortly, not an interval (here 60 s) later."""
    wake = GatedWake()
    polled = threading.Event()
    values = iter([None, None, 7])  # before the wake; just after it; a moment later

    def poll() -> int | None:
        polled.set()
        return next(values, None)

    feed = ChangeFeed(0, poll, interval_s=60.0, wake=lambda: wake)
    result: list[bool] = []
    waiting = threading.Thread(target=lambda: result.append(feed.wait(0, 10.0)))
    try:
        waiting.start()
        assert polled.wait(10.0)
        wake.fired.set()
        waiting.join(15.0)
        assert result == [True] and feed.latest == 7
    finally:
        wake.fired.set()  # the poller waits on it for up to the interval before it sees close
        feed.close()
