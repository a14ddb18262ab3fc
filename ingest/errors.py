"""The small exception tree every source raises.

Messages are one line, name the endpoint, and never contain a secret: URLs carry no keys (keys
travel as headers) and every message passes through `redact` before it is built.
"""

from __future__ import annotations


class IngestError(Exception):
    """Base class: something outside capcover did not give us what we need."""

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


class NotFound(StatusError):
    """404: unknown coin or category id."""


class BadPayload(IngestError):
    """A 2xx response whose body is not what the endpoint promises (HTML, truncated JSON, ...)."""
