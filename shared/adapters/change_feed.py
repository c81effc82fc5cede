"""Wakes waiters when the newest event id moves past their cursor.

One feed per store. Threads wait on a `threading.Condition`; asyncio tasks wait on futures that
the feed resolves through `loop.call_soon_threadsafe`, so hundreds of async waiters cost no
thread each. When the store can be written by other processes it passes `poll`, and ONE poller
thread calls it every `interval_s`, only while somebody is waiting."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

log = logging.getLogger(__name__)

RECHECKS = 4  # polls after a wake that found nothing new yet, RECHECK_S apart
RECHECK_S = 0.001


@dataclass(eq=False)
class _AsyncWaiter:
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[None]
    after: int

    def wake(self) -> None:
        with contextlib.suppress(RuntimeError):  # a closed loop: whoever waited is gone
            self.loop.call_soon_threadsafe(_resolve, self.future)


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


class Wake(Protocol):
    def wait(self, timeout_s: float) -> bool: ...

    def close(self) -> None: ...


class ChangeFeed:
    """`poll()` returns the newest event id when the underlying data may have changed since its
    previous call, else None; it is only ever called from the poller thread."""

    def __init__(
        self,
        latest: int,
        poll: Callable[[], int | None] | None = None,
        interval_s: float = 0.025,
        wake: Callable[[], Wake | None] | None = None,
    ) -> None:
        """`wake` makes the poller's wake-up source, on the poller thread (None: none)."""
        self._latest = latest
        self._poll = poll
        self._interval_s = interval_s
        self._make_wake = wake
        self._cond = threading.Condition()
        self._thread_waiters = 0
        self._async_waiters: set[_AsyncWaiter] = set()
        self._poller: threading.Thread | None = None
        self._stop = threading.Event()
        self._closed = False

    @property
    def latest(self) -> int:
        """The newest id seen so far (from in-process writes or the poller)."""
        with self._cond:
            return self._latest

    def publish(self, latest: int) -> None:
        """Record that events up to `latest` exist and wake whoever waits for them."""
        with self._cond:
            if latest <= self._latest:
                return
            self._latest = latest
            ready = [w for w in self._async_waiters if w.after < latest]
            self._async_waiters.difference_update(ready)
            self._cond.notify_all()
        for waiter in ready:
            waiter.wake()

    def wait(self, after: int, timeout_s: float) -> bool:
        with self._cond:
            if self._latest > after:
                return True
            self._thread_waiters += 1
            self._ensure_poller()
            try:
                self._cond.wait_for(
                    lambda: self._latest > after or self._closed, max(timeout_s, 0.0)
                )
                return self._latest > after
            finally:
                self._thread_waiters -= 1

    async def wait_async(self, after: int, timeout_s: float) -> bool:
        loop = asyncio.get_running_loop()
        waiter = _AsyncWaiter(loop, loop.create_future(), after)
        with self._cond:
            if self._latest > after:
                return True
            if timeout_s <= 0 or self._closed:
                return False
            self._async_waiters.add(waiter)
            self._ensure_poller()
        try:
            await asyncio.wait_for(waiter.future, timeout_s)
        except TimeoutError:
            return False
        finally:
            with self._cond:
                self._async_waiters.discard(waiter)
        return self.latest > after

    def close(self) -> None:
        """Stops the poller and releases every waiter (they report no new event)."""
        with self._cond:
            self._closed = True
            self._stop.set()
            waiters = list(self._async_waiters)
            self._async_waiters.clear()
            self._cond.notify_all()
            poller = self._poller
        for waiter in waiters:
            waiter.wake()
        if poller is not None and poller is not threading.current_thread():
            poller.join()

    def _ensure_poller(self) -> None:
        # called with self._cond held
        if self._poll is not None and self._poller is None and not self._closed:
            self._poller = threading.Thread(
                target=self._run, name="errand-change-feed", daemon=True
            )
            self._poller.start()
        self._cond.notify_all()  # an idle poller resumes polling

    def _run(self) -> None:
        wake = self._make_wake() if self._make_wake is not None else None
        try:
            self._poll_while_waited(wake)
        finally:
            if wake is not None:
                wake.close()

    def _poll_while_waited(self, wake: Wake | None) -> None:
        assert self._poll is not None
        recheck = 0
        while True:
            with self._cond:
                while not self._closed and not (self._thread_waiters or self._async_waiters):
                    self._cond.wait()
                if self._closed:
                    return
            try:
                latest = self._poll()
            except Exception:
                # keep serving waiters: a transient error (e.g. a locked or busy file) must not
                # silently end the feed for everyone; the next interval tries again
                log.exception("change feed poll failed; retrying in %.3f s", self._interval_s)
                latest = None
            if latest is not None:
                self.publish(latest)
                recheck = 0
            if recheck:
                # a wake can come before the write it announces is visible (SQLite writes
                # the WAL, then publishes the commit in shared memory): look again shortly
                recheck -= 1
                if self._stop.wait(RECHECK_S):
                    return
            elif wake is not None:
                recheck = RECHECKS if wake.wait(self._interval_s) else 0  # interval: backstop
                if self._stop.is_set():
                    return
            elif self._stop.wait(self._interval_s):
                return
