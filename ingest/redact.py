"""Keeping credentials out of URLs, error texts and archived bodies.

The scrubbing itself is config/secrets.py's (one definition for the HTTP layer, the warehouse,
the logs and the command line): every encoding a secret can take, decoded forms too. Here: which
header values are credentials, and URLs without credential parameters.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from capcover.config import secrets

# Query parameters that carry credentials in some APIs. capcover never sends them (keys go in
# headers), but URLs are scrubbed anyway so nothing a caller passes can leak into the archive.
SECRET_PARAM_NAMES = frozenset(
    {"x_cg_demo_api_key", "x_cg_pro_api_key", "api_key", "apikey", "key", "token", "access_token"}
)

# Header names whose values are credentials: scrubbed from every error text and archived body.
_SECRET_HEADER_HINTS = ("key", "token", "secret", "auth", "cookie", "password")
REDACTED = secrets.REDACTED


def secret_header_values(headers: dict[str, str]) -> list[str]:
    """The values of credential-looking headers (longest first, so substrings scrub last).
    Each is also registered, so that every other output of the process scrubs it too."""
    values = [
        str(v)
        for k, v in headers.items()
        if v and any(h in k.lower() for h in _SECRET_HEADER_HINTS)
    ]
    found = sorted({v for v in values if len(v) >= 4}, key=len, reverse=True)
    for value in found:
        secrets.register_key(value)
    return found


def scrub(text: str, values: list[str]) -> str:
    """`text` with `values` and every registered secret replaced by a marker, in any encoding
    (errors, bodies and URLs pass through it)."""
    return secrets.scrub(text, values)


def redact_url(url: str) -> str:
    """Return `url` with credential-looking query parameters removed."""
    parts = urlsplit(url)
    query = [
        (k, v)
        for k, v in parse_qsl(parts.query, keep_blank_values=True)
        if k.lower() not in SECRET_PARAM_NAMES
    ]
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query), ""))
