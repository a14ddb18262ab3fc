"""Client-side pacing: how many requests a source may send, and when.

Each source declares its documented limit as a `Pace` (ingest/coingecko.py, vastai.py,
runpod.py, gpuhunt.py say where each number comes from); `Pacer` enforces it for every session
of that source in a run:

- a quota per sliding 60-second window (`Pace(per_minute=N)`): any 60 s hold at most N sends,
  so a run's first calls go out at once (a burst inside the quota) and only a call past the
  quota waits, for the oldest send of the window to leave it;
- evenly spread sends (`spread=True`): at least 60 / N seconds apart, for a host that enforces
  a minimum interval between requests rather than a window (and for a long backfill, whose
  steady stream must never draw a 429 however the server counts);
- no client-side limit (`per_minute=None`), where the host documents none.

A server's own `Retry-After` holds every later send of the source until it has passed
(`defer`). The limit actually used is `RATE_HEADROOM` of the stated one: a server counting in
a sliding window sees arrival jitter, and at exactly the limit one early arrival costs a 429.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

RATE_HEADROOM = 0.95  # fraction of a stated rate limit the client actually uses
WINDOW_S = 60.0  # every documented quota here is per minute


@dataclass(frozen=True)
class Pace:
    """A source's documented request limit: `per_minute` requests (None: no client-side
    limit), in bursts inside a sliding 60-second window or, with `spread`, evenly spaced."""

    per_minute: float | None = None
    spread: bool = False

    def __post_init__(self) -> None:
        if self.per_minute is not None and not self.per_minute > 0:
            raise ValueError("per_minute must be positive (None: no client-side limit)")

    def describe(self) -> str:
        if self.per_minute is None:
            return "no client-side limit"
        how = "evenly spaced" if self.spread else "per sliding minute"
        return f"{self.per_minute:g} calls/min, {how}"


class Pacer:
    """Enforces one `Pace` for every session of a source; thread-safe (sessions of one source
    may run on different threads, e.g. the curated file's exchange-rate call to CoinGecko)."""

    def __init__(
        self,
        pace: Pace,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.pace = pace
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._sent: deque[float] = deque()  # send times inside the current window
        self._hold_until = 0.0  # a server's Retry-After, on this clock
        if pace.per_minute is None:
            self._quota, self._window, self._gap = 0, WINDOW_S, 0.0
        else:
            rate = pace.per_minute * RATE_HEADROOM
            # At most `quota` sends in any `window` seconds: the stated quota over a window
            # stretched by 1/RATE_HEADROOM (10/min -> 10 in any 63.2 s).
            self._quota = max(1, int(pace.per_minute))
            self._window = WINDOW_S * self._quota / rate
            self._gap = 60.0 / rate if pace.spread else 0.0

    def _wait(self, now: float, served: float) -> float:
        """Seconds until the next send is allowed (0: now); a hold up to `served` (a
        Retry-After the caller already slept through) does not count."""
        wait = max(0.0, self._hold_until - now) if self._hold_until > served else 0.0
        if self._quota:
            while self._sent and self._sent[0] <= now - self._window:
                self._sent.popleft()
            if len(self._sent) >= self._quota:
                wait = max(wait, self._sent[0] + self._window - now)
            if self._gap and self._sent:
                wait = max(wait, self._sent[-1] + self._gap - now)
        return wait

    def next_wait(self, served: float = 0.0) -> float:
        """Seconds the next `acquire` would wait now (for announcing a long wait first)."""
        with self._lock:
            return self._wait(self._clock(), served)

    def acquire(self, served: float = 0.0) -> float:
        """Wait until a send is allowed and record it; returns the seconds waited.

        Waiters sleep holding the lock, so concurrent callers queue in order. The send is
        recorded at the actual wake-up time: a late wake-up (a loaded machine) must not make
        the NEXT request early, or a strict server sees two requests closer than allowed."""
        waited = 0.0
        with self._lock:
            now = self._clock()
            while (wait := self._wait(now, served)) > 0:
                self._sleep(wait)
                waited += wait
                now = max(self._clock(), now + wait)
            if self._quota:
                self._sent.append(now)
        return waited

    def defer(self, seconds: float) -> float:
        """Hold every later send for `seconds` (a server's Retry-After); returns the hold's
        end, which the caller passes as `served` once it has slept through it itself."""
        with self._lock:
            self._hold_until = max(self._hold_until, self._clock() + max(0.0, seconds))
            return self._hold_until


class TokenBucket(Pacer):
    """Evenly spaced sends at `rate_per_minute` (a `Pacer` with `spread=True`); kept for
    callers that think in buckets."""

    def __init__(
        self,
        rate_per_minute: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if rate_per_minute <= 0:
            raise ValueError("rate_per_minute must be positive")
        super().__init__(Pace(rate_per_minute, spread=True), clock=clock, sleep=sleep)
