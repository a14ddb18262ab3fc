"""Webhook URLs are secrets: channels are known by `<scheme>:<sha256 prefix>`, and every text
that might carry a URL (log records, error messages) passes through one `Redactor`."""

from __future__ import annotations

import hashlib
import logging
import re
from urllib.parse import quote, unquote

from capcover.config.secrets import register_url, scrub


def channel_id(url: str) -> str:
    """A stable, non-secret name for an Apprise URL: its scheme and a SHA-256 prefix."""
    scheme = url.split("://", 1)[0].lower() if "://" in url else "?"
    return f"{scheme}:{hashlib.sha256(url.encode()).hexdigest()[:16]}"


def _secret_parts(url: str) -> list[str]:
    """The URL and every piece of it long enough to be (part of) a token."""
    rest = url.split("://", 1)[-1]
    pieces = [p for p in re.split(r"[/:@?&=#,]+", rest) if len(p) >= 4]
    # ... also as they appear in request lines, percent-encoded
    variants = {quote(p, safe="") for p in pieces} | {unquote(p) for p in pieces}
    return sorted({url, rest, *pieces, *variants}, key=len, reverse=True)


class Redactor(logging.Filter):
    """Rewrites log records (and texts) so that no configured alert URL, nor any piece of one,
    survives. Installed on Apprise's logger, which otherwise may print hosts and URLs."""

    def __init__(self) -> None:
        super().__init__()
        self.secrets: list[str] = []

    def add(self, url: str) -> None:
        self.secrets = sorted({*self.secrets, *_secret_parts(url)}, key=len, reverse=True)
        register_url(url)  # every other output scrubs it too, in any encoding

    def redact(self, text: str) -> str:
        text = scrub(text)  # the registered secrets, decoded forms included
        for s in self.secrets:
            text = text.replace(s, "***")
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            text = record.getMessage()
        except Exception:  # noqa: BLE001 - a malformed record: drop its arguments, keep going
            text = str(record.msg)
        record.msg, record.args = self.redact(text), ()
        return True


REDACTOR = Redactor()


# Loggers that see a webhook URL while Apprise sends: Apprise itself (URLs at DEBUG, hosts at
# WARNING) and urllib3 (request lines at DEBUG, whatever the application's level).
_URL_LOGGERS = ("apprise", "urllib3.connectionpool", "requests")


def _apprise_logger() -> logging.Logger:
    for name in _URL_LOGGERS:
        other = logging.getLogger(name)
        if REDACTOR not in other.filters:
            other.addFilter(REDACTOR)
    logger = logging.getLogger("apprise")
    logger.setLevel(logging.WARNING)  # its DEBUG lines are whole URLs and payloads
    return logger


class _Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())
