"""One fake HTTP API (127.0.0.1 only) serving CoinGecko, Vast.ai and RunPod shapes, with scripted
faults, an optional server-enforced rate limit, generated records and snapshot replay.

Used by tests/, benchmarks/ and `capcover demo` (flows/demo.py); it imports none of capcover.
"""

from capcover.fakeapi.faults import (
    CLOUDFLARE_HTML,
    Action,
    Drip,
    Encoded,
    Garbage,
    LyingLength,
    Redirect,
    Reply,
    Reset,
    Retyped,
    Slow,
    Truncated,
)
from capcover.fakeapi.server import FakeAPI, RateLimit, Request

__all__ = [
    "CLOUDFLARE_HTML",
    "Action",
    "Drip",
    "Encoded",
    "FakeAPI",
    "Garbage",
    "LyingLength",
    "RateLimit",
    "Redirect",
    "Reply",
    "Request",
    "Reset",
    "Retyped",
    "Slow",
    "Truncated",
]
