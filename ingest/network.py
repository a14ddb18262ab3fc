"""What the HTTP sessions of one run share (no network code here: ingest/http.py sends).

- one `Pacer` per source: its documented limit, and a server's Retry-After held for every
  session of that source (ingest/ratelimit.py);
- one `Breaker` per host: a host that could not be reached (DNS, refused, connect timeout) is
  not tried again by every other request to it in the same run;
- a cancel flag: a run that failed stops its other sources at their next attempt or wait;
- `announce(line)`: where a wait longer than ANNOUNCE_AFTER_S (ingest/http.py) is told, what
  for, how long and why. The default writes one line on stderr only when stderr is a terminal
  or CAPCOVER_VERBOSE is set, so nothing reaches a pipe, a log file or a test's captured
  output unless asked.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from urllib.parse import urlsplit

from capcover.ingest.errors import IngestError
from capcover.ingest.ratelimit import Pace, Pacer


def host_of(url: str) -> str:
    """The host (and port) a URL is sent to: what one breaker and one fetch worker stand for."""
    return urlsplit(url).netloc.lower()


class Cancelled(IngestError):
    """The run this request belongs to was cancelled (another source failed it)."""


class Breaker:
    """One host's state in a run: once it could not be reached, every later request to it in
    the same run fails at once with the first failure's reason."""

    def __init__(self, host: str) -> None:
        self.host = host
        self.reason: str | None = None
        self._lock = threading.Lock()

    def trip(self, reason: str) -> None:
        with self._lock:
            if self.reason is None:
                self.reason = reason

    @property
    def open(self) -> bool:
        return self.reason is not None


def announce_on_terminal(line: str) -> None:
    """One line on stderr, only when stderr is a terminal (a person is watching) or
    CAPCOVER_VERBOSE is set (to 1, true or yes)."""
    stream = sys.stderr
    verbose = os.environ.get("CAPCOVER_VERBOSE", "").strip().lower() in ("1", "true", "yes")
    try:
        if stream is not None and (verbose or stream.isatty()):
            stream.write(line + "\n")
            stream.flush()
    except (OSError, ValueError):
        pass  # a closed or broken stderr is no reason to fail a run


class Network:
    """What the sessions of one run share: a pacer per source, a breaker per host, a cancel
    flag, and `announce(line)` for waits longer than ANNOUNCE_AFTER_S (default: one line on
    a terminal's stderr; tests pass their own to see the lines)."""

    def __init__(self, *, announce: Callable[[str], None] | None = announce_on_terminal) -> None:
        self.announce = announce
        self.cancelled = threading.Event()
        self.sent: Counter[str] = Counter()  # attempts sent per host in this run
        self.retried: Counter[str] = Counter()  # of which retries, per host
        self.limited: Counter[str] = Counter()  # 429 answers, per host
        self._pacers: dict[str, Pacer] = {}
        self._breakers: dict[str, Breaker] = {}
        self._lock = threading.Lock()

    def pacer(
        self,
        source: str,
        pace: Pace,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> Pacer:
        """The source's pacer, made on first ask (later asks share it, whatever they pass)."""
        with self._lock:
            if source not in self._pacers:
                self._pacers[source] = Pacer(pace, clock=clock, sleep=sleep)
            return self._pacers[source]

    def count(self, host: str, *, retry: bool = False) -> None:
        """One attempt sent to `host` (`retry`: after a failed one)."""
        with self._lock:
            self.sent[host] += 1
            self.retried[host] += retry

    def count_rate_limited(self, host: str) -> None:
        """One 429 answer from `host`."""
        with self._lock:
            self.limited[host] += 1

    def totals(self) -> tuple[int, int, int]:
        """(attempts sent, retries, 429 answers) of every session of the run, every source:
        what `runs.http_requests`, `http_retries` and `rate_limited` record."""
        with self._lock:
            return sum(self.sent.values()), sum(self.retried.values()), sum(self.limited.values())

    def breaker(self, host: str) -> Breaker:
        with self._lock:
            return self._breakers.setdefault(host, Breaker(host))

    def unreachable(self) -> dict[str, str]:
        """host -> why, for every host found unreachable in this run."""
        with self._lock:
            return {h: b.reason for h, b in self._breakers.items() if b.reason is not None}

    def cancel(self) -> None:
        """Stop every session of the run at its next attempt or wait."""
        self.cancelled.set()
