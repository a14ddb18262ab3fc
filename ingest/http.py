"""The one HTTP layer every source uses: pacing, retries, timeouts, typed errors, raw archive.

Retrying happens here and nowhere else (no Prefect task retries, no urllib3 Retry adapters):
stacked retry loops multiply calls against a metered quota.

The sessions of one run share a `Network` (ingest/network.py): a pacer per source, a breaker
per host, a cancel flag, and where a wait longer than `ANNOUNCE_AFTER_S` is announced.
"""

from __future__ import annotations

import codecs
import email.utils
import json as jsonlib
import math
import random
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests
import urllib3.exceptions
from requests.exceptions import TooManyRedirects

from capcover.errors import one_line
from capcover.ingest.errors import (
    BadPayload,
    ConnectionFailed,
    IngestError,
    RetryBudgetExhausted,
    StatusError,
    StatusMapping,
    StatusReply,
    TimedOut,
    status_errors,
)
from capcover.ingest.models import RawResponse
from capcover.ingest.network import (  # noqa: F401 - Network and Breaker: part of this API
    Breaker,
    Cancelled,
    Network,
    announce_on_terminal,
    host_of,
)
from capcover.ingest.ratelimit import RATE_HEADROOM, Pace, Pacer, TokenBucket  # noqa: F401
from capcover.ingest.redact import (  # noqa: F401 - re-exported: the layer's public helpers
    _SECRET_HEADER_HINTS,
    REDACTED,
    SECRET_PARAM_NAMES,
    redact_url,
    scrub,
    secret_header_values,
)
from capcover.ingest.transport import (
    BodyTooLarge,
    Deadline,
    DeadlineExpired,
    DeadlineWatch,
    TrackedAdapter,
    read_body,
)

USER_AGENT = "capcover/0.1 (+https://github.com/capcover/capcover)"
ANNOUNCE_AFTER_S = 2.0  # a wait longer than this is announced (what, how long, why)


@dataclass(frozen=True)
class RetryPolicy:
    """Which failures are retried, and for how long in total."""

    budget_s: float = 120.0  # total time across all attempts of one request, sleeps included
    max_attempts: int = 8
    base_delay_s: float = 0.5
    max_delay_s: float = 30.0
    retry_statuses: frozenset[int] = frozenset({429, 500, 502, 503, 504})
    # A retry is made only if at least this much of the budget is left after its wait: an
    # attempt given a few milliseconds (a loaded machine woke late) can only time out, and its
    # "no complete answer" would hide the real failure (an HTTP 500, say).
    min_attempt_s: float = 0.25
    # A host that cannot be reached (DNS failure, connection refused, connect timeout) gets
    # this many attempts, not the whole budget: waiting minutes does not bring a name back.
    unreachable_attempts: int = 2


@dataclass
class HttpStats:
    """Counters for the run summary and the benchmarks."""

    requests: int = 0  # HTTP attempts actually sent
    retries: int = 0
    rate_limited: int = 0  # 429 answers seen
    throttle_wait_s: float = 0.0  # time spent waiting for the source's pacer
    retry_wait_s: float = 0.0  # time spent sleeping before retries
    by_endpoint: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Exchange:
    """One request's outcome: the final response and the archive record of every attempt that
    got an answer (the last one is the response's)."""

    response: requests.Response
    records: tuple[RawResponse, ...]

    @property
    def record(self) -> RawResponse:
        return self.records[-1]


def _is_read_timeout(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    for _ in range(6):
        if seen is None:
            return False
        if isinstance(seen, urllib3.exceptions.ReadTimeoutError | TimeoutError):
            return True
        nxt = seen.args[0] if seen.args and isinstance(seen.args[0], BaseException) else None
        seen = nxt or seen.__cause__ or seen.__context__
    return False


def _chain(exc: BaseException) -> list[BaseException]:
    """`exc` and what it wraps (requests -> urllib3 MaxRetryError -> its reason)."""
    seen: list[BaseException] = []
    item: BaseException | None = exc
    while item is not None and len(seen) < 8 and item not in seen:
        seen.append(item)
        inner = item.args[0] if item.args and isinstance(item.args[0], BaseException) else None
        reason = getattr(item, "reason", None)
        if inner is None and isinstance(reason, BaseException):
            inner = reason
        item = inner or item.__cause__ or item.__context__
    return seen


def _unreachable(exc: BaseException) -> bool:
    """Whether the attempt never reached the server: no address (DNS), no connection
    (refused, no route) or no answer to the connect within its timeout."""
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return True
    return any(isinstance(e, urllib3.exceptions.NewConnectionError) for e in _chain(exc))


def _connection_reason(exc: BaseException) -> str:
    text = str(exc)
    for needle, reason in (
        ("Connection refused", "refused"),
        ("reset by peer", "reset by peer"),
        ("IncompleteRead", "dropped mid-response"),
        ("RemoteDisconnected", "closed without a response"),
        ("Name or service not known", "DNS lookup failed"),
        ("Temporary failure in name resolution", "DNS lookup failed"),
        ("Failed to resolve", "DNS lookup failed"),
        ("No route to host", "no route to host"),
        ("Network is unreachable", "network unreachable"),
    ):
        if needle in text:
            return reason
    return type(exc).__name__


MAX_REDIRECTS = 5
_REDIRECTS = (301, 302, 303, 307, 308)


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    port = parts.port or {"http": 80, "https": 443}.get(parts.scheme)
    return parts.scheme, (parts.hostname or "").lower(), port


def _charset(response: requests.Response) -> str:
    """The body's encoding: the charset its Content-Type declares, else UTF-8 (JSON's, RFC
    8259, and what gpuhunt's text answers hold; requests would guess ISO-8859-1 for text/*
    without a charset and show UTF-8 text as mojibake)."""
    declared = "charset=" in response.headers.get("Content-Type", "").lower()
    if declared and response.encoding:
        try:
            codecs.lookup(response.encoding)
        except LookupError:
            return "utf-8"
        return response.encoding
    return "utf-8"


_DATE_FORMATS = ("%Y-%m-%d %H:%M:%S %z", "%Y-%m-%d %H:%M:%S.%f %z")


def wait_until_s(text: str) -> float | None:
    """Seconds from now until the date `text` names (0 for a date past), or None when it is no
    date: an HTTP-date (RFC 9110: IMF-fixdate, RFC 850, asctime), ISO 8601 with `Z`, an offset
    or none (UTC), with or without fractions of a second, or `YYYY-MM-DD HH:MM:SS +0000`."""
    when: datetime | None = None
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        try:
            when = datetime.fromisoformat(text)
        except ValueError:
            for fmt in _DATE_FORMATS:
                try:
                    when = datetime.strptime(text, fmt)
                    break
                except ValueError:
                    continue
    if when is None:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


class HttpSession(requests.Session):
    """A `requests.Session` that owns timeouts, pacing, retries and the raw archive records.

    `fetch` returns an `Exchange` (response plus archive records). Wrappers such as
    pycoingecko, which only call `session.get(...)`, get the same loop through `request`: the
    response carries its record as `response.capcover_record`, and every non-2xx answer is
    raised as the client's typed error before the wrapper sees it.

    Pacing: `pace` (or `rate_per_minute` and `spread`, the same thing spelt out) is the
    source's documented limit; `network` (default: a private one) is what the run's sessions
    share (see `Network`).
    """

    def __init__(
        self,
        *,
        source: str,
        base_url: str,
        rate_per_minute: float | None = None,
        spread: bool = False,
        pace: Pace | None = None,
        headers: dict[str, str] | None = None,
        connect_timeout_s: float = 5.0,
        read_timeout_s: float = 30.0,
        deadline_s: float = 60.0,
        max_body_bytes: int = 50 * 1024 * 1024,
        retry: RetryPolicy | None = None,
        status_mapping: StatusMapping | None = None,
        clock: Callable[[], datetime] | None = None,  # UTC wall clock; None: the real one
        sleep: Callable[[float], None] | None = None,  # tests record sleeps instead
        rng: random.Random | None = None,
        network: Network | None = None,
    ) -> None:
        super().__init__()
        self.source = source
        self.base_url = base_url.rstrip("/")
        self.headers.update({"User-Agent": USER_AGENT, "Accept": "application/json"})
        self.headers.update(headers or {})
        # Servers sometimes echo a rejected key back in their error body ("invalid key CG-...").
        self.secrets = secret_header_values(dict(self.headers))
        self.credential_headers = tuple(
            k for k in self.headers if any(h in k.lower() for h in _SECRET_HEADER_HINTS)
        )
        self.timeout = (connect_timeout_s, read_timeout_s)
        self.deadline_s = deadline_s
        self.max_body_bytes = max_body_bytes
        self.retry = retry or RetryPolicy()
        self.status_mapping = status_mapping or status_errors(auth_advice="")
        self.now = clock or (lambda: datetime.now(UTC))
        # Budgets run on a monotonic clock unless a test injects its own wall clock.
        self._clock: Callable[[], float] = (
            (lambda: self.now().timestamp()) if clock else time.monotonic
        )
        self.network = network if network is not None else Network()
        self._injected_sleep = sleep
        self.pace = pace if pace is not None else Pace(rate_per_minute, spread=spread)
        self.pacer = self.network.pacer(source, self.pace, clock=self._clock, sleep=self._sleep)
        self.stats = HttpStats()
        self._rng = rng or random.Random()
        # One watcher thread for every attempt's deadline (started when an attempt needs it,
        # gone when none is pending), not a timer thread per attempt.
        self._deadlines = DeadlineWatch(name=f"capcover-deadlines-{source}")
        adapter = TrackedAdapter()
        self.mount("http://", adapter)
        self.mount("https://", adapter)

    @property
    def bucket(self) -> Pacer:
        """The source's pacer (the name it had as a token bucket)."""
        return self.pacer

    # -- helpers -----------------------------------------------------------------------------

    def _sleep(self, seconds: float) -> None:
        """Sleep, unless the run is cancelled first (then raise `Cancelled`)."""
        if self._injected_sleep is not None:
            self._injected_sleep(seconds)
        elif self.network.cancelled.wait(seconds):
            raise Cancelled(f"{self.source}: stopped, the run failed elsewhere")
        if self.network.cancelled.is_set():
            raise Cancelled(f"{self.source}: stopped, the run failed elsewhere")

    def _announce(self, seconds: float, what: str, why: str) -> None:
        if seconds > ANNOUNCE_AFTER_S and self.network.announce is not None:
            self.network.announce(f"capcover: {what}: waiting {seconds:.0f} s — {why}")

    def endpoint_of(self, url: str) -> str:
        path = urlsplit(url).path
        base_path = urlsplit(self.base_url).path
        if base_path and path.startswith(base_path):
            path = path[len(base_path) :]
        return path or "/"

    def _backoff(self, attempt: int) -> float:
        # Full jitter (AWS architecture blog): spreads retries of many clients apart.
        cap = min(self.retry.max_delay_s, self.retry.base_delay_s * 2 ** (attempt - 1))
        return self._rng.uniform(cap / 2, cap)

    @staticmethod
    def server_wait_s(response: requests.Response) -> float | None:
        """Seconds the server asked us to wait (Retry-After, then x-ratelimit-reset), if any.
        Both take a date in any of the spellings `wait_until_s` reads; Retry-After seconds as
        digits, x-ratelimit-reset an epoch timestamp or a delta (any decimal number)."""
        value = response.headers.get("Retry-After")
        if value:
            value = value.strip()
            if value.isdigit():
                return float(value)
            wait = wait_until_s(value)
            if wait is not None:
                return wait
        reset = response.headers.get("x-ratelimit-reset")
        if reset:
            reset = reset.strip()
            try:
                number = float(reset)
            except ValueError:
                return wait_until_s(reset)
            if math.isnan(number):
                return None
            # Either an epoch timestamp or a delta in seconds.
            return max(0.0, number - time.time()) if number > 1e9 else max(0.0, number)
        return None

    def _status_error(self, endpoint: str, status: int, body: str, attempts: int) -> StatusError:
        error = self.status_mapping(StatusReply(self.source, endpoint, status, body, attempts))
        error.args = (scrub(str(error), self.secrets),)
        return error

    def _fail(self, error: IngestError, records: list[RawResponse]) -> IngestError:
        error.raws = tuple(records)
        return error

    # -- one attempt -------------------------------------------------------------------------

    def _send(
        self,
        method: str,
        url: str,
        *,
        params: dict,
        data: Any,
        json: Any,
        headers: dict | None,
        deadline: Deadline,
        **kwargs: Any,
    ) -> requests.Response:
        """One attempt: follow at most MAX_REDIRECTS redirects, dropping every credential
        header once the target leaves the first origin, then read the body under the cap."""
        first = _origin(url)
        headers = dict(headers or {})
        for _hop in range(MAX_REDIRECTS + 1):
            response = super().request(
                method,
                url,
                params=params,
                data=data,
                json=json,
                headers=headers,
                timeout=self.timeout,
                allow_redirects=False,
                stream=True,
                **kwargs,
            )
            if response.status_code not in _REDIRECTS or "location" not in response.headers:
                break
            response.close()  # a redirect's own body is never read
            url = urljoin(response.url, response.headers["location"])
            params = {}  # the Location carries the query
            if response.status_code == 303 or (
                response.status_code in (301, 302) and method.upper() == "POST"
            ):
                method, data, json = "GET", None, None
            if _origin(url) != first:
                # requests itself drops only Authorization; an API-key header would follow.
                headers.update({k: None for k in self.credential_headers})
                headers.update(
                    {
                        k: None
                        for k in list(headers)
                        if any(h in k.lower() for h in _SECRET_HEADER_HINTS)
                    }
                )
        else:
            response.close()
            raise TooManyRedirects
        try:
            body = read_body(response.raw, max_bytes=self.max_body_bytes, deadline=deadline)
        finally:
            response.close()
        response._content = body
        response._content_consumed = True
        return response

    # -- the request loop --------------------------------------------------------------------

    def request(  # type: ignore[override]  # requests' signature, loosely: the wrapper's calls
        self,
        method: str,
        url: str,
        params: Any = None,
        data: Any = None,
        headers: Any = None,
        timeout: Any = None,
        json: Any = None,
        **kwargs: Any,
    ) -> requests.Response:
        """requests' API over `fetch` (our timeouts always win: pycoingecko passes 120 s)."""
        kwargs.pop("allow_redirects", None)
        kwargs.pop("stream", None)
        exchange = self.fetch(
            method, url, params=params, data=data, headers=headers, json=json, **kwargs
        )
        # pycoingecko gets the response back, not the exchange: the record rides on it.
        exchange.response.capcover_record = exchange.record  # type: ignore[attr-defined]
        return exchange.response

    def _paced(self, where: str, served: float) -> None:
        """Wait for the source's pacer (announcing a long wait first), then count the send."""
        ahead = self.pacer.next_wait(served)
        self._announce(
            ahead,
            where,
            f"{self.source}'s limit of {self.pace.describe()} (CAPCOVER_*_RATE_PER_MINUTE)",
        )
        if self.network.cancelled.is_set():
            raise Cancelled(f"{where}: stopped, the run failed elsewhere")
        self.stats.throttle_wait_s += self.pacer.acquire(served)

    def fetch(
        self,
        method: str,
        url: str,
        *,
        params: dict | None = None,
        data: Any = None,
        headers: dict | None = None,
        json: Any = None,
        **kwargs: Any,
    ) -> Exchange:
        """Send with retries within the budget; the response and every attempt's record.

        Failures raise the client's typed `ingest.errors` exception (one line, scrubbed) with
        the records of the attempts that got an answer in `.raws`. A host that cannot be
        reached gets `retry.unreachable_attempts` attempts, then its breaker opens: every
        later request to it in this run fails at once with the same reason.
        """
        endpoint = self.endpoint_of(url)
        where = f"{self.source} {endpoint}"
        breaker = self.network.breaker(host_of(url))
        started = self._clock()
        attempt = 0
        unreachable = 0
        served = 0.0  # the pacer's hold (a Retry-After) this request already slept through
        records: list[RawResponse] = []
        clean_params = {
            k: v for k, v in (params or {}).items() if str(k).lower() not in SECRET_PARAM_NAMES
        }
        request_body = None
        if json is not None:
            request_body = jsonlib.dumps(json, sort_keys=True)
        budget = self.retry.budget_s
        while True:
            if breaker.open:
                raise self._fail(
                    ConnectionFailed(
                        f"{where}: {breaker.host} is unreachable in this run ({breaker.reason})"
                        f" — not tried again; is it reachable?",
                        endpoint=endpoint,
                        attempts=attempt,
                    ),
                    records,
                )
            attempt += 1
            self._paced(where, served)
            self.network.count(breaker.host, retry=attempt > 1)
            self.stats.requests += 1
            self.stats.by_endpoint[endpoint] = self.stats.by_endpoint.get(endpoint, 0) + 1
            fetched_at = self.now()
            t0 = time.perf_counter()
            failure: IngestError | None = None
            response = None
            # The whole attempt (connect, redirects, headers, body) ends by its deadline, and a
            # retry never outlives the retry budget.
            limit = self.deadline_s
            if attempt > 1 or budget > 0:
                limit = min(limit, max(0.0, budget - (self._clock() - started))) or limit
            try:
                with Deadline(limit, self._deadlines) as deadline:
                    try:
                        response = self._send(
                            method,
                            url,
                            params=clean_params,
                            data=data,
                            json=json,
                            headers=headers,
                            deadline=deadline,
                            **kwargs,
                        )
                    except DeadlineExpired:
                        raise
                    except Exception:
                        if deadline.expired:
                            raise DeadlineExpired from None
                        raise
            except DeadlineExpired:
                failure = TimedOut(
                    f"{where}: no complete answer within {limit:g} s (the "
                    f"deadline per request; raise CAPCOVER_HTTP_DEADLINE_S or "
                    f"try later)",
                    endpoint=endpoint,
                    attempts=attempt,
                )
            except BodyTooLarge:
                raise self._fail(
                    BadPayload(
                        f"{where}: response body over {self.max_body_bytes / 2**20:g} MB once "
                        f"decoded — refusing it (raise CAPCOVER_HTTP_MAX_BODY_MB if it is real)",
                        endpoint=endpoint,
                        attempts=attempt,
                    ),
                    records,
                ) from None
            except TooManyRedirects:
                raise self._fail(
                    IngestError(
                        f"{where}: more than {MAX_REDIRECTS} redirects — the server or a proxy "
                        f"loops; check the base URL",
                        endpoint=endpoint,
                        attempts=attempt,
                    ),
                    records,
                ) from None
            except requests.exceptions.Timeout as exc:
                kind = "connect" if isinstance(exc, requests.exceptions.ConnectTimeout) else "read"
                failure = self._timed_out(where, kind, endpoint, attempt)
                if kind == "connect":
                    unreachable += 1
            except requests.exceptions.RequestException as exc:
                if not isinstance(
                    exc,
                    requests.exceptions.ConnectionError | requests.exceptions.ChunkedEncodingError,
                ):
                    # Not retryable (bad URL, ...): one scrubbed line.
                    raise self._fail(
                        IngestError(
                            f"{where}: request failed ({type(exc).__name__}: "
                            f"{scrub(one_line(exc, 200), self.secrets)})",
                            endpoint=endpoint,
                            attempts=attempt,
                        ),
                        records,
                    ) from None
                failure = self._connection_failure(exc, where, endpoint, attempt)
                unreachable += _unreachable(exc)
            except (urllib3.exceptions.HTTPError, OSError, zlib.error) as exc:
                # Raised while reading the body ourselves: dropped, truncated, corrupt gzip.
                failure = self._connection_failure(exc, where, endpoint, attempt)

            if response is not None:
                body = scrub(
                    response.content.decode(_charset(response), errors="replace"),
                    self.secrets,
                )
                records.append(
                    RawResponse(
                        source=self.source,
                        endpoint=endpoint,
                        method=method.upper(),
                        url=scrub(redact_url(response.url), self.secrets),
                        params=clean_params,
                        request_body=request_body,
                        status=response.status_code,
                        body=body,
                        fetched_at=fetched_at,
                        elapsed_ms=(time.perf_counter() - t0) * 1000,
                        attempt=attempt,
                    )
                )
                status = response.status_code
                if status < 400:
                    return Exchange(response, tuple(records))
                if status == 429:
                    self.stats.rate_limited += 1
                    self.network.count_rate_limited(breaker.host)
                if status not in self.retry.retry_statuses:
                    raise self._fail(self._status_error(endpoint, status, body, attempt), records)
                failure = self._status_error(endpoint, status, body, attempt)

            assert failure is not None  # every path above set one or returned or raised
            if unreachable >= self.retry.unreachable_attempts:
                # A name that does not resolve or a port that refuses does not come back
                # within a retry budget: the host is out for the rest of the run.
                breaker.trip(f"{failure}".split(": ", 1)[-1])
                note = f" — gave up after {attempt} attempt(s); not retried for the budget"
                failure.args = (scrub(f"{failure.args[0]}{note}", self.secrets),)
                failure.attempts = attempt
                raise self._fail(failure, records) from None

            # Retryable failure: wait for the server's requested time or our backoff.
            server_wait = self.server_wait_s(response) if response is not None else None
            delay = max(server_wait or 0.0, self._backoff(attempt))
            spent = self._clock() - started
            if (
                attempt >= self.retry.max_attempts
                or spent + delay + self.retry.min_attempt_s > budget
            ):
                asked = f"; server asked to wait {server_wait:g} s" if server_wait else ""
                note = (
                    f" — gave up after {attempt} attempt(s) in {spent:.1f} s{asked} "
                    f"(retry budget {budget:g} s; raise "
                    f"CAPCOVER_HTTP_RETRY_BUDGET_S or try later)"
                )
                if isinstance(failure, StatusError):
                    failure.args = (failure.args[0] + note,)
                    failure.attempts = attempt
                    raise self._fail(failure, records) from None
                raise self._fail(
                    RetryBudgetExhausted(
                        scrub(f"{failure}{note}", self.secrets), endpoint=endpoint, attempts=attempt
                    ),
                    records,
                ) from None
            if server_wait:
                # Every session of this source holds until then, not only this request.
                served = self.pacer.defer(delay)
            self.stats.retries += 1
            self.stats.retry_wait_s += delay
            why = (
                f"the server asked (HTTP {response.status_code}, Retry-After)"
                if server_wait and response is not None
                else f"retry {attempt + 1} after: {str(failure).split(': ', 1)[-1][:120]}"
            )
            self._announce(delay, where, why)
            self._sleep(delay)

    def _connection_failure(
        self, exc: BaseException, where: str, endpoint: str, attempt: int
    ) -> IngestError:
        if _is_read_timeout(exc):  # a stalled body surfaces as a ConnectionError
            return self._timed_out(where, "read", endpoint, attempt)
        return ConnectionFailed(
            f"{where}: connection failed ({_connection_reason(exc)}) — is "
            f"{urlsplit(self.base_url).netloc} reachable?",
            endpoint=endpoint,
            attempts=attempt,
        )

    def _timed_out(self, where: str, kind: str, endpoint: str, attempt: int) -> TimedOut:
        limit = self.timeout[0 if kind == "connect" else 1]
        return TimedOut(
            f"{where}: {kind} timeout after {limit:g} s", endpoint=endpoint, attempts=attempt
        )
