"""What the fake API answers: a normal reply, or a scripted fault: a reset, a slow or dripping
answer, a truncated body, a redirect, a lying Content-Length, a compressed body or a
decompression bomb, a wrong Content-Type."""

from __future__ import annotations

import functools
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
    """Answer with the full Content-Length, then send the body `chunk` bytes every
    `interval_s` seconds (each arrives well within a read timeout; the whole never does).
    With `headers`, the status line and headers themselves are dripped."""

    interval_s: float = 0.1
    chunk: int = 1
    headers: bool = False


@dataclass(frozen=True)
class Redirect:
    """Answer `status` with `Location: location` (relative or absolute; empty: the request's
    own path and query), no body."""

    location: str
    status: int = 302


@dataclass(frozen=True)
class LyingLength:
    """Send the route's answer with a Content-Length `delta` bytes off (longer: the client
    waits for bytes that never come, then the connection closes; shorter: the tail is left
    unread)."""

    delta: int


@dataclass(frozen=True)
class Encoded:
    """Send the route's answer with `Content-Encoding: encoding` ("gzip", "deflate", or a
    list such as "gzip, gzip"), compressed accordingly; with `bomb_mb`, the body is instead
    that many MB of zeros, compressed (a decompression bomb of a few KB per MB)."""

    encoding: str = "gzip"
    bomb_mb: int | None = None


@dataclass(frozen=True)
class Retyped:
    """Send the route's answer under another Content-Type (an HTML or text type for JSON)."""

    content_type: str


@dataclass(frozen=True)
class Garbage:
    """Read the request, then answer `data` (not HTTP) and hang up: a receiver that lies
    about speaking HTTP."""

    data: bytes = b"SSH-2.0-OpenSSH_9.6\r\n"


Action = (
    Reply | Reset | Slow | Truncated | Drip | Garbage | Redirect | LyingLength | Encoded | Retyped
)


def compress(data: bytes, encoding: str) -> bytes:
    """`data` under a Content-Encoding list, applied in the order listed (as HTTP says)."""
    import gzip
    import zlib

    for name in [e.strip().lower() for e in encoding.split(",") if e.strip()]:
        if name == "gzip":
            data = gzip.compress(data, compresslevel=9, mtime=0)
        elif name == "deflate":
            data = zlib.compress(data, 9)
        else:
            raise ValueError(f"no such content coding in the fake: {name}")
    return data


@functools.lru_cache(maxsize=8)
def zero_bomb(decoded_mb: int, encoding: str) -> bytes:
    """`decoded_mb` MB of zeros under `encoding`, built a block at a time (memory stays at a
    block), e.g. 2048 MB of gzip is about 2 MB."""
    import gzip
    import zlib

    names = [e.strip().lower() for e in encoding.split(",") if e.strip()]
    block = b"\0" * (16 << 20)
    blocks = max(1, decoded_mb // 16)
    if names[0] == "gzip":
        member = gzip.compress(block, compresslevel=9, mtime=0)
        data = member * blocks  # concatenated gzip members decode as one stream
    else:
        packer = zlib.compressobj(9)
        data = b"".join(packer.compress(block) for _ in range(blocks)) + packer.flush()
    return compress(data, ", ".join(names[1:])) if len(names) > 1 else data
