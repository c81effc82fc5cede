"""Attempt counters in the Sessions port's codes: a fixed window per key, shared by every
process and instance (the store is the one place they all see), compare-and-set so that
concurrent attempts are all counted."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from shared.accounts import token_hash
from shared.domain import now
from shared.errors import Conflict, NotFound, QuotaExceeded
from shared.ports import Sessions

KIND = "attempts"
_RETRIES = 50


class TooManyAttempts(QuotaExceeded):
    code = "too_many_attempts"


@dataclass
class Attempts:
    """At most `limit` attempts of `scope` per key in a `window` (from the key's first one)."""

    sessions: Sessions
    scope: str
    limit: int
    window: timedelta
    advice: str  # what to do, for the refusal

    def check(self, key: str) -> None:
        """Raises TooManyAttempts when `key` has none left; spends nothing."""
        count, ends, _ = self._read(key)
        if count >= self.limit:
            raise self._refusal(ends)

    def spend(self, key: str) -> None:
        """Counts one attempt; raises TooManyAttempts when there was none left."""
        hash_ = self._hash(key)
        for _ in range(_RETRIES):
            count, ends, current = self._read(key)
            if count >= self.limit:
                raise self._refusal(ends)
            data = f"{count + 1}|{ends.isoformat()}"
            if self.sessions.swap_code(KIND, hash_, current, "", data, ends):
                return
        raise Conflict(f"too many simultaneous {self.scope} attempts; try again")

    def _read(self, key: str) -> tuple[int, datetime, str | None]:
        try:
            _, data = self.sessions.find_code(KIND, self._hash(key))
        except NotFound:
            return 0, now() + self.window, None
        count, _, ends = data.partition("|")
        return int(count), datetime.fromisoformat(ends), data

    def _hash(self, key: str) -> str:
        return token_hash(f"{KIND}|{self.scope}|{key}")

    def _refusal(self, ends: datetime) -> TooManyAttempts:
        wait = max(1, int((ends - now()).total_seconds()) + 1)
        return TooManyAttempts(
            f"too many {self.scope} attempts: {self.limit} in {self.window.seconds // 60} "
            f"minutes; wait {wait} s ({self.advice})",
            retry_after_s=wait,
            resets_at=ends.isoformat(),
        )
