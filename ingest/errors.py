"""The small exception tree every source raises.

Messages are one line, name the endpoint, and never contain a secret: URLs carry no keys (keys
travel as headers) and every message passes through `redact` before it is built.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


class IngestError(Exception):
    """Base class: something outside capcover did not give us what we need.

    `raws` holds the archive records of the attempts that got an answer before the failure
    (set by the HTTP layer), so a failed run can still archive what it received.
    """

    raws: tuple = ()

    def __init__(self, message: str, *, endpoint: str | None = None, attempts: int = 0) -> None:
        super().__init__(message)
        self.endpoint = endpoint
        self.attempts = attempts


class ConnectionFailed(IngestError):
    """The server could not be reached (refused, reset, DNS)."""


class TimedOut(IngestError):
    """Connect or read timeout."""


class RetryBudgetExhausted(IngestError):
    """Retries (429/5xx/connection) did not succeed within the configured time budget."""


class StatusError(IngestError):
    """The server answered with a non-2xx status."""

    def __init__(
        self,
        message: str,
        *,
        status: int,
        error_code: int | None = None,
        endpoint: str | None = None,
        attempts: int = 0,
    ) -> None:
        super().__init__(message, endpoint=endpoint, attempts=attempts)
        self.status = status
        self.error_code = error_code


class RateLimited(StatusError):
    """HTTP 429 (or CoinGecko error code 429) after the retry budget ran out."""


class AuthError(StatusError):
    """401/403: missing or wrong API key, or the key used against the wrong plan's root."""


class PlanLimited(StatusError):
    """The plan does not allow this request (CoinGecko 10005 pro-only, 10012 history > 365 days)."""


class CdnBlocked(StatusError):
    """403 from a CDN's firewall (Cloudflare error 1020, Access Denied): the address is blocked,
    whatever the key; waiting or another network helps, a new key does not."""


class NotFound(StatusError):
    """404: unknown coin or category id."""


class BadPayload(IngestError):
    """A 2xx response whose body is not what the endpoint promises (HTML, truncated JSON, ...)."""


class PartialFailure(BadPayload):
    """Some units of a feed could not be read (one of the curated files), others could: the
    feed is recorded as failed with this message, and the quotes of the units that were read
    still count (`quotes`, `quarantined`: what they gave)."""

    def __init__(self, message: str, *, quotes: list, quarantined: list) -> None:
        super().__init__(message)
        self.quotes = quotes
        self.quarantined = quarantined


@dataclass(frozen=True)
class StatusReply:
    """A non-2xx answer as the layer saw it, handed to the client's own status mapping."""

    source: str
    endpoint: str
    status: int
    body: str  # decoded and already scrubbed of the session's secrets
    attempts: int

    def error(
        self, cls: type[StatusError], message: str, *, code: int | None = None, advice: str = ""
    ) -> StatusError:
        """`cls` with the one-line text `<source> <endpoint>: HTTP <status> (error N): ...`."""
        code_txt = f" (error {code})" if code is not None and code != self.status else ""
        text = f"{self.source} {self.endpoint}: HTTP {self.status}{code_txt}: {message}"
        return cls(
            text + (f" — {advice}" if advice else ""),
            status=self.status,
            error_code=code,
            endpoint=self.endpoint,
            attempts=self.attempts,
        )


StatusMapping = Callable[[StatusReply], StatusError]


def body_summary(body: str) -> str:
    """A short one-line account of an error body that no envelope explains."""
    stripped = body.lstrip()[:200].lower()
    if stripped.startswith("<") or "<html" in stripped:
        return "HTML page instead of JSON (a CDN or proxy answered)"
    return " ".join(body.split())[:160] or "empty body"


def status_errors(*, auth_advice: str) -> StatusMapping:
    """The plain HTTP mapping (429, 401/403, 404, the rest), with a client's own advice for
    401/403: each client names its own settings, never another source's."""

    def mapping(reply: StatusReply) -> StatusError:
        message = body_summary(reply.body)
        if reply.status == 429:
            return reply.error(RateLimited, message)
        if reply.status in (401, 403):
            return reply.error(AuthError, message, advice=auth_advice)
        if reply.status == 404:
            return reply.error(NotFound, message)
        return reply.error(StatusError, message)

    return mapping
