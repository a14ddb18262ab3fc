"""The one HTTP layer every source uses: rate limit, retries, timeouts, typed errors, raw archive.

Retrying happens here and nowhere else (no Prefect task retries, no urllib3 Retry adapters):
stacked retry loops multiply calls against a metered quota.
"""

from __future__ import annotations

import email.utils
import json as jsonlib
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import requests

from ingest.errors import (
    AuthError,
    ConnectionFailed,
    IngestError,
    NotFound,
    PlanLimited,
    RateLimited,
    RetryBudgetExhausted,
    StatusError,
    TimedOut,
)
from ingest.models import RawResponse

# Query parameters that carry credentials in some APIs. capcover never sends them (keys go in
# headers), but URLs are scrubbed anyway so nothing a caller passes can leak into the archive.
SECRET_PARAM_NAMES = frozenset(
    {"x_cg_demo_api_key", "x_cg_pro_api_key", "api_key", "apikey", "key", "token", "access_token"}
)

USER_AGENT = "capcover/0.1 (+https://github.com/capcover/capcover)"

# Header names whose values are credentials: scrubbed from every error text and archived body.
_SECRET_HEADER_HINTS = ("key", "token", "secret", "auth", "cookie", "password")
REDACTED = "[redacted]"


def secret_header_values(headers: dict[str, str]) -> list[str]:
    """The values of credential-looking headers (longest first, so substrings scrub last)."""
    values = [str(v) for k, v in headers.items()
              if v and any(h in k.lower() for h in _SECRET_HEADER_HINTS)]
    return sorted({v for v in values if len(v) >= 4}, key=len, reverse=True)


def scrub(text: str, secrets: list[str]) -> str:
    """`text` with every secret replaced by a marker (errors, bodies and URLs pass through it)."""
    for value in secrets:
        if value in text:
            text = text.replace(value, REDACTED)
    return text


def redact_url(url: str) -> str:
    """Return `url` with credential-looking query parameters removed."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True)
             if k.lower() not in SECRET_PARAM_NAMES]
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query), ""))


RATE_HEADROOM = 0.95  # fraction of a configured rate limit the client actually uses


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
        self._tokens = min(self.capacity,
                           self._tokens + max(0.0, now - self._last) * self.rate_per_s)
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


@dataclass(frozen=True)
class RetryPolicy:
    """Which failures are retried, and for how long in total."""

    budget_s: float = 120.0  # total time across all attempts of one request, sleeps included
    max_attempts: int = 8
    base_delay_s: float = 0.5
    max_delay_s: float = 30.0
    retry_statuses: frozenset[int] = frozenset({429, 500, 502, 503, 504})


@dataclass
class HttpStats:
    """Counters for the run summary and the benchmarks."""

    requests: int = 0  # HTTP attempts actually sent
    retries: int = 0
    rate_limited: int = 0  # 429 answers seen
    throttle_wait_s: float = 0.0  # time spent in the client-side token bucket
    retry_wait_s: float = 0.0  # time spent sleeping before retries
    by_endpoint: dict[str, int] = field(default_factory=dict)


ErrorParser = Callable[[int, str], tuple[int | None, str | None]]


def _no_error_details(status: int, body: str) -> tuple[int | None, str | None]:
    return None, None


def _is_read_timeout(exc: BaseException) -> bool:
    import urllib3.exceptions

    seen: BaseException | None = exc
    for _ in range(6):
        if seen is None:
            return False
        if isinstance(seen, urllib3.exceptions.ReadTimeoutError | TimeoutError):
            return True
        nxt = seen.args[0] if seen.args and isinstance(seen.args[0], BaseException) else None
        seen = nxt or seen.__cause__ or seen.__context__
    return False


def _connection_reason(exc: BaseException) -> str:
    text = str(exc)
    for needle, reason in (("Connection refused", "refused"), ("reset by peer", "reset by peer"),
                           ("IncompleteRead", "dropped mid-response"),
                           ("RemoteDisconnected", "closed without a response"),
                           ("Name or service not known", "DNS lookup failed"),
                           ("Failed to resolve", "DNS lookup failed")):
        if needle in text:
            return reason
    return type(exc).__name__


class HttpSession(requests.Session):
    """A `requests.Session` that owns timeouts, the rate limit, retries and the raw archive.

    It can be handed to wrappers such as pycoingecko, which only call `session.get(...)`:
    every non-2xx answer is raised as a typed `ingest.errors` exception before the wrapper sees
    it, so the status code is never lost.
    """

    def __init__(
        self,
        *,
        source: str,
        base_url: str,
        rate_per_minute: float,
        headers: dict[str, str] | None = None,
        connect_timeout_s: float = 5.0,
        read_timeout_s: float = 30.0,
        retry: RetryPolicy | None = None,
        error_parser: ErrorParser = _no_error_details,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] | None = None,  # tests record sleeps instead
        rng: random.Random | None = None,
    ) -> None:
        super().__init__()
        self.source = source
        self.base_url = base_url.rstrip("/")
        self.headers.update({"User-Agent": USER_AGENT, "Accept": "application/json"})
        self.headers.update(headers or {})
        # Servers sometimes echo a rejected key back in their error body ("invalid key CG-...").
        self.secrets = secret_header_values(dict(self.headers))
        self.timeout = (connect_timeout_s, read_timeout_s)
        self.retry = retry or RetryPolicy()
        # Pace a little under the stated limit: a server counting requests in a sliding window
        # sees arrival jitter, and at exactly the limit one early arrival costs a 429 (and on
        # CoinGecko a Retry-After of up to two minutes). 5% is cheap insurance.
        sleep = sleep or time.sleep
        self.bucket = TokenBucket(rate_per_minute * RATE_HEADROOM, clock=clock, sleep=sleep)
        self.error_parser = error_parser
        self.archive: list[RawResponse] = []
        self.stats = HttpStats()
        self._clock = clock
        self._sleep = sleep
        self._rng = rng or random.Random()

    # -- helpers -----------------------------------------------------------------------------

    def endpoint_of(self, url: str) -> str:
        path = urlsplit(url).path
        base_path = urlsplit(self.base_url).path
        if base_path and path.startswith(base_path):
            path = path[len(base_path):]
        return path or "/"

    def _backoff(self, attempt: int) -> float:
        # Full jitter (AWS architecture blog): spreads retries of many clients apart.
        cap = min(self.retry.max_delay_s, self.retry.base_delay_s * 2 ** (attempt - 1))
        return self._rng.uniform(cap / 2, cap)

    @staticmethod
    def server_wait_s(response: requests.Response) -> float | None:
        """Seconds the server asked us to wait (Retry-After, then x-ratelimit-reset), if any."""
        value = response.headers.get("Retry-After")
        if value:
            value = value.strip()
            if value.isdigit():
                return float(value)
            try:
                when = email.utils.parsedate_to_datetime(value)
                return max(0.0, (when - datetime.now(UTC)).total_seconds())
            except (TypeError, ValueError):
                pass
        reset = response.headers.get("x-ratelimit-reset")
        if reset:
            reset = reset.strip()
            try:
                number = float(reset)
                # Either an epoch timestamp or a delta in seconds.
                return max(0.0, number - time.time()) if number > 1e9 else number
            except ValueError:
                pass
            for fmt in ("%Y-%m-%d %H:%M:%S %z", "%Y-%m-%dT%H:%M:%S%z"):
                try:
                    when = datetime.strptime(reset, fmt)
                    return max(0.0, (when - datetime.now(UTC)).total_seconds())
                except ValueError:
                    continue
        return None

    def _describe(self, status: int, body: str) -> tuple[int | None, str]:
        code, message = self.error_parser(status, body)
        if message is not None:
            message = scrub(message, self.secrets)
        if message is None:
            stripped = body.lstrip()[:200].lower()
            if stripped.startswith("<") or "<html" in stripped:
                message = "HTML page instead of JSON (a CDN or proxy answered)"
            else:
                message = scrub(" ".join(body.split()), self.secrets)[:160] or "empty body"
        return code, message

    def _status_error(
        self, endpoint: str, status: int, body: str, attempts: int, note: str = ""
    ) -> StatusError:
        code, message = self._describe(status, body)
        where = f"{self.source} {endpoint}"
        code_txt = f" (error {code})" if code is not None and code != status else ""
        text = f"{where}: HTTP {status}{code_txt}: {message}{note}"
        kwargs = dict(status=status, error_code=code, endpoint=endpoint, attempts=attempts)
        if status == 429 or code == 429:
            return RateLimited(text, **kwargs)
        if code in (10005, 10012):
            return PlanLimited(text, **kwargs)
        if status in (401, 403) or code in (10002, 10010, 10011):
            return AuthError(text + " — check CAPCOVER_COINGECKO_PLAN and the API key", **kwargs)
        if status == 404:
            return NotFound(text, **kwargs)
        return StatusError(text, **kwargs)

    def _timed_out(self, where: str, kind: str, endpoint: str, attempt: int) -> TimedOut:
        limit = self.timeout[0 if kind == "connect" else 1]
        return TimedOut(f"{where}: {kind} timeout after {limit:g} s", endpoint=endpoint,
                        attempts=attempt)

    # -- the request loop --------------------------------------------------------------------

    def request(self, method, url, params=None, data=None, headers=None, timeout=None,
                json=None, **kwargs):  # noqa: A002 - requests' own signature
        endpoint = self.endpoint_of(url)
        where = f"{self.source} {endpoint}"
        started = self._clock()
        attempt = 0
        clean_params = {k: v for k, v in (params or {}).items()
                        if str(k).lower() not in SECRET_PARAM_NAMES}
        request_body = None
        if json is not None:
            request_body = jsonlib.dumps(json, sort_keys=True)
        while True:
            attempt += 1
            self.stats.throttle_wait_s += self.bucket.acquire()
            self.stats.requests += 1
            self.stats.by_endpoint[endpoint] = self.stats.by_endpoint.get(endpoint, 0) + 1
            fetched_at = datetime.now(UTC)
            t0 = time.perf_counter()
            failure: Exception | None = None
            response = None
            try:
                # Our timeout always wins: wrappers like pycoingecko pass a fixed 120 s.
                response = super().request(
                    method, url, params=clean_params, data=data, headers=headers,
                    timeout=self.timeout, json=json, **kwargs,
                )
            except requests.exceptions.Timeout as exc:
                kind = "connect" if isinstance(exc, requests.exceptions.ConnectTimeout) else "read"
                failure = self._timed_out(where, kind, endpoint, attempt)
            except (requests.exceptions.ConnectionError,
                    requests.exceptions.ChunkedEncodingError) as exc:
                if _is_read_timeout(exc):  # a stalled body surfaces as a ConnectionError
                    failure = self._timed_out(where, "read", endpoint, attempt)
                else:
                    failure = ConnectionFailed(
                        f"{where}: connection failed ({_connection_reason(exc)}) — is "
                        f"{urlsplit(self.base_url).netloc} reachable?",
                        endpoint=endpoint, attempts=attempt)
            except requests.exceptions.RequestException as exc:
                # Not retryable (bad URL, too many redirects, ...): one scrubbed line.
                first = (str(exc).splitlines() or [type(exc).__name__])[0][:200]
                raise IngestError(f"{where}: request failed ({type(exc).__name__}: "
                                  f"{scrub(first, self.secrets)})", endpoint=endpoint,
                                  attempts=attempt) from None

            if response is not None:
                body = scrub(response.content.decode(response.encoding or "utf-8",
                                                     errors="replace"), self.secrets)
                self.archive.append(RawResponse(
                    source=self.source, endpoint=endpoint, method=method.upper(),
                    url=scrub(redact_url(response.url), self.secrets), params=clean_params,
                    request_body=request_body, status=response.status_code, body=body,
                    fetched_at=fetched_at, elapsed_ms=(time.perf_counter() - t0) * 1000,
                    attempt=attempt,
                ))
                status = response.status_code
                if status < 400:
                    return response
                if status == 429:
                    self.stats.rate_limited += 1
                if status not in self.retry.retry_statuses:
                    raise self._status_error(endpoint, status, body, attempt)
                failure = self._status_error(endpoint, status, body, attempt)

            # Retryable failure: wait for the server's requested time or our backoff.
            server_wait = self.server_wait_s(response) if response is not None else None
            delay = max(server_wait or 0.0, self._backoff(attempt))
            spent = self._clock() - started
            if attempt >= self.retry.max_attempts or spent + delay > self.retry.budget_s:
                asked = f"; server asked to wait {server_wait:g} s" if server_wait else ""
                note = (f" — gave up after {attempt} attempt(s) in {spent:.1f} s{asked} "
                        f"(retry budget {self.retry.budget_s:g} s; raise "
                        f"CAPCOVER_HTTP_RETRY_BUDGET_S or try later)")
                if isinstance(failure, StatusError):
                    failure.args = (failure.args[0] + note,)
                    failure.attempts = attempt
                    raise failure from None
                raise RetryBudgetExhausted(scrub(f"{failure}{note}", self.secrets),
                                           endpoint=endpoint,
                                           attempts=attempt) from None
            self.stats.retries += 1
            self.stats.retry_wait_s += delay
            self._sleep(delay)
