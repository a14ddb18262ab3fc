"""What every API client shares: its HTTP options and its archive of what it received.

`HttpOptions` is how a client talks HTTP (timeouts, the per-request deadline, the decoded body
cap, retries, an injectable clock and sleep); ingest/clients.py builds one from the `http_*`
settings. `ArchivingClient` owns a client's `HttpSession` and the list of raw responses it got
(also those of a request that failed), which the run archives.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from capcover.ingest.errors import IngestError, StatusMapping
from capcover.ingest.http import Exchange, HttpSession, RetryPolicy
from capcover.ingest.models import RawResponse


@dataclass(frozen=True)
class HttpOptions:
    connect_timeout_s: float = 5.0
    read_timeout_s: float = 30.0
    deadline_s: float = 60.0  # one request, connect to the last body byte, redirects included
    max_body_bytes: int = 50 * 1024 * 1024  # decoded
    retry: RetryPolicy | None = None  # None: RetryPolicy()
    clock: Callable[[], datetime] | None = None  # UTC wall clock; None: the real one
    sleep: Callable[[float], None] | None = None  # None: time.sleep (tests record instead)


class ArchivingClient:
    """A client with one `HttpSession` and the archive of every response it received."""

    def __init__(
        self,
        *,
        source: str,
        base_url: str,
        rate_per_minute: float,
        http: HttpOptions | None,
        status_mapping: StatusMapping,
        headers: dict[str, str] | None = None,
    ) -> None:
        http = http or HttpOptions()
        self.archive: list[RawResponse] = []
        self.session = HttpSession(
            source=source,
            base_url=base_url,
            rate_per_minute=rate_per_minute,
            headers=headers,
            connect_timeout_s=http.connect_timeout_s,
            read_timeout_s=http.read_timeout_s,
            deadline_s=http.deadline_s,
            max_body_bytes=http.max_body_bytes,
            retry=http.retry,
            status_mapping=status_mapping,
            clock=http.clock,
            sleep=http.sleep,
        )

    @property
    def last_raws(self) -> list[RawResponse]:
        """Everything received so far, also when a fetch failed half-way (for the archive)."""
        return list(self.archive)

    def _fetch(self, method: str, url: str, **kwargs: Any) -> RawResponse:
        """One request through the session; its records (and a failure's) join the archive."""
        return self._exchange(method, url, **kwargs).record

    def _exchange(self, method: str, url: str, **kwargs: Any) -> Exchange:
        try:
            exchange = self.session.fetch(method, url, **kwargs)
        except IngestError as exc:
            self.archive.extend(exc.raws)
            raise
        self.archive.extend(exchange.records)
        return exchange
