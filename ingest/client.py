"""What every API client shares: its HTTP options and one session.

`HttpOptions` is how a client talks HTTP (timeouts, the per-request deadline, the decoded body
cap, retries, an injectable clock and sleep, and the run's `Network` its sessions share);
flows/clients.py builds one from the `http_*` settings. `ApiClient` owns a client's
`HttpSession`. A request returns its `Exchange` (the response and the archive record of every
attempt that got an answer); a client's `fetch` returns the records it received, and a failure
carries the records received before it in `IngestError.raws`: nothing is handed back through a
side list.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from capcover.ingest.errors import IngestError, StatusMapping
from capcover.ingest.models import RawResponse
from capcover.ingest.network import Network, host_of
from capcover.ingest.ratelimit import Pace

if TYPE_CHECKING:  # the session (requests, urllib3) is imported when a client is made, so
    # the parsers beside each client import without the network stack (`capcover rebuild`)
    from capcover.ingest.http import Exchange, RetryPolicy


@dataclass(frozen=True)
class HttpOptions:
    connect_timeout_s: float = 5.0
    read_timeout_s: float = 30.0
    deadline_s: float = 60.0  # one request, connect to the last body byte, redirects included
    max_body_bytes: int = 50 * 1024 * 1024  # decoded
    retry: RetryPolicy | None = None  # None: RetryPolicy()
    clock: Callable[[], datetime] | None = None  # UTC wall clock; None: the real one
    sleep: Callable[[float], None] | None = None  # None: time.sleep (tests record instead)
    network: Network | None = None  # what the run's sessions share; None: a private one


class ApiClient:
    """A client with one `HttpSession`, paced at `pace` (its source's documented limit)."""

    source: str

    def __init__(
        self,
        *,
        source: str,
        base_url: str,
        pace: Pace,
        http: HttpOptions | None,
        status_mapping: StatusMapping,
        headers: dict[str, str] | None = None,
    ) -> None:
        from capcover.ingest.http import HttpSession

        http = http or HttpOptions()
        self.source = source
        self.session = HttpSession(
            source=source,
            base_url=base_url,
            pace=pace,
            headers=headers,
            connect_timeout_s=http.connect_timeout_s,
            read_timeout_s=http.read_timeout_s,
            deadline_s=http.deadline_s,
            max_body_bytes=http.max_body_bytes,
            retry=http.retry,
            status_mapping=status_mapping,
            clock=http.clock,
            sleep=http.sleep,
            network=http.network,
        )

    @property
    def host(self) -> str:
        """The host this client talks to: a run fetches each host on one worker."""
        return host_of(self.session.base_url)

    def _exchange(self, method: str, url: str, **kwargs: Any) -> Exchange:
        """One request through the session: the response and its records."""
        return self.session.fetch(method, url, **kwargs)


@contextmanager
def received(records: list[RawResponse]) -> Iterator[list[RawResponse]]:
    """Collect a fetch's records in `records`; a failure inside the block carries them (before
    its own) in `.raws`, so the run can archive everything that was received."""
    try:
        yield records
    except IngestError as exc:
        exc.raws = (*records, *exc.raws)
        raise


def rate_pace(documented: Pace, rate_per_minute: float | None) -> Pace:
    """The documented pace, or the user's own rate in its place (same spreading)."""
    if rate_per_minute is None:
        return documented
    return Pace(rate_per_minute, spread=documented.spread)
