"""The client-side rate limit every session paces its requests with."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class TokenBucket:
    """Client-side rate limit: `rate_per_minute` sustained, bursts up to `burst` requests."""

    def __init__(
        self,
        rate_per_minute: float,
        *,
        burst: int = 1,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if rate_per_minute <= 0:
            raise ValueError("rate_per_minute must be positive")
        self.rate_per_s = rate_per_minute / 60.0
        self.capacity = float(max(1, burst))
        self._tokens = self.capacity
        self._clock = clock
        self._sleep = sleep
        self._last = clock()
        self._lock = threading.Lock()

    def _refill(self, now: float) -> None:
        self._tokens = min(
            self.capacity, self._tokens + max(0.0, now - self._last) * self.rate_per_s
        )
        self._last = max(self._last, now)

    def acquire(self) -> float:
        """Take one token, sleeping until one is available; returns the seconds waited.

        Waiters sleep holding the lock, so concurrent callers queue in order. After a sleep the
        bucket is re-anchored on the actual wake-up time: a late wake-up (a loaded machine) must
        not make the NEXT request early, or a strict server sees two requests closer than
        1/rate and answers 429.
        """
        with self._lock:
            now = max(self._clock(), self._last)
            self._refill(now)
            wait = 0.0 if self._tokens >= 1.0 else (1.0 - self._tokens) / self.rate_per_s
            if wait > 0:
                self._sleep(wait)
                self._refill(max(self._clock(), now + wait))
            self._tokens -= 1.0
        return wait
