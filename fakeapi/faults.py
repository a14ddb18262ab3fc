"""What the fake API answers: a normal reply, or a scripted fault (reset, slow, truncated)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

CLOUDFLARE_HTML = (
    "<!DOCTYPE html><html><head><title>Just a moment...</title></head>"
    "<body>Checking your browser before accessing api.coingecko.com."
    '<div class="cf-browser-verification">Ray ID: 7a1b2c3d4e5f</div>'
    "</body></html>"
)


@dataclass(frozen=True)
class Reply:
    """An HTTP answer: `payload` is JSON-encoded unless `raw` (bytes/str) is given."""

    payload: Any = None
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    raw: str | bytes | None = None
    content_type: str = "application/json"

    def body(self) -> bytes:
        if self.raw is None:
            return json.dumps(self.payload).encode()
        return self.raw.encode() if isinstance(self.raw, str) else self.raw


@dataclass(frozen=True)
class Reset:
    """Accept the request, then close the socket with RST (ECONNRESET on the client)."""


@dataclass(frozen=True)
class Slow:
    """Sleep `seconds` before answering normally (longer than the client's read timeout)."""

    seconds: float


@dataclass(frozen=True)
class Truncated:
    """Promise the full body (Content-Length) but send half of it and hang up."""


@dataclass(frozen=True)
class Drip:
    """Answer normally, but one byte every `seconds` (status line and headers included): every
    read on the client side succeeds, so only a deadline over the whole answer ends it."""

    seconds: float


@dataclass(frozen=True)
class Garbage:
    """Read the request, then answer `data` (not HTTP) and hang up: a receiver that lies
    about speaking HTTP."""

    data: bytes = b"SSH-2.0-OpenSSH_9.6\r\n"


Action = Reply | Reset | Slow | Truncated | Drip | Garbage
