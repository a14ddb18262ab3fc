"""One fake HTTP API on 127.0.0.1: a router over real sockets for tests, benchmarks and the demo.

Every request goes through the same steps: counted and logged, checked against the optional
server-enforced rate limit (429 with Retry-After), then the next scripted action queued for its
path (a Reply, or a fault: Reset, Slow, Truncated, Drip, Redirect, LyingLength, Encoded,
Retyped; fakeapi/faults.py), then the most specific matching route.
Routes are static answers (`add`, `mount` of a `{path: (status, headers, body_bytes)}` table from
any module) or handlers `fn(Request) -> Reply` (`handle`). Sources such as fakeapi.coingecko,
fakeapi.gpu and fakeapi.replay only install routes; this module knows no API.
"""

from __future__ import annotations

import json
import socket
import struct
import threading
import time
from collections import Counter, defaultdict, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from capcover.fakeapi.faults import (
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
    compress,
    zero_bomb,
)

RATE_LIMIT_BODY = {
    "status": {
        "error_code": 429,
        "error_message": (
            "You've exceeded the Rate Limit. Please visit "
            "https://www.coingecko.com/en/api/pricing to subscribe to our API plans for "
            "higher rate limits."
        ),
    }
}
NOT_FOUND = Reply({"error": "not in the fake API"}, status=404)
StaticTable = Mapping[str, tuple[int, Mapping[str, str], bytes]]


@dataclass(frozen=True)
class Request:
    """One request as the fake saw it: `query` is the decoded query string (last value wins)."""

    method: str
    path: str
    query: dict[str, str]
    headers: Message
    body: bytes
    url: str

    def json(self) -> Any:
        """The body decoded as JSON, or None when it is empty or not JSON."""
        try:
            return json.loads(self.body) if self.body else None
        except ValueError:
            return None


Handler = Callable[[Request], Reply]


@dataclass
class RateLimit:
    """At most `rate_per_s` requests per second to paths under `prefix`, enforced by the server.

    A sliding window of `window_s` seconds admits at most R x window_s requests; the rest get
    `body` with status 429 and `Retry-After: retry_after_s`. The window is shortened by
    `jitter_s` (default a tenth of one slot, 1/(10 R)): a client pacing at exactly R puts request
    k+R exactly one window after request k, and without that allowance a microsecond of network
    jitter would decide between 200 and 429.
    """

    rate_per_s: float
    window_s: float = 1.0
    jitter_s: float | None = None
    retry_after_s: int = 1
    prefix: str = ""
    body: Any = field(default_factory=lambda: RATE_LIMIT_BODY)

    def __post_init__(self) -> None:
        if self.jitter_s is None:
            self.jitter_s = 0.1 / self.rate_per_s
        self.allowed = max(1, round(self.rate_per_s * self.window_s))
        self._admitted: deque[float] = deque()

    def admit(self, path: str, now: float) -> bool:
        """Whether a request to `path` arriving at monotonic `now` (seconds) is let through."""
        if not path.startswith(self.prefix):
            return True
        jitter_s = self.jitter_s if self.jitter_s is not None else 0.0
        while self._admitted and self._admitted[0] <= now - (self.window_s - jitter_s):
            self._admitted.popleft()
        if len(self._admitted) >= self.allowed:
            return False
        self._admitted.append(now)
        return True

    def reset(self) -> None:
        self._admitted.clear()

    def reply(self) -> Reply:
        return Reply(self.body, status=429, headers={"Retry-After": str(self.retry_after_s)})


@dataclass
class _Route:
    path: str
    query: dict[str, str]
    method: str | None
    answer: Reply | Handler

    def matches(self, req: Request) -> bool:
        if self.path.endswith("*"):  # a prefix route, e.g. /api/v3/coins/*
            path_ok = req.path.startswith(self.path[:-1])
        else:
            path_ok = self.path == req.path
        return (
            (self.method is None or self.method == req.method)
            and path_ok
            and all(req.query.get(k) == v for k, v in self.query.items())
        )


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        """Faults and killed clients reset connections on purpose: not errors worth printing."""


class FakeAPI:
    """`with FakeAPI() as api:` serves on 127.0.0.1 (a free port) until the block ends.

    `requests`/`rejected` count requests and 429s per path; `log` keeps every Request.
    """

    def __init__(
        self, *, rate_limit: RateLimit | None = None, unmatched: Reply = NOT_FOUND
    ) -> None:
        self.rate_limit = rate_limit
        self.unmatched = unmatched
        self.log: list[Request] = []
        self.requests: Counter[str] = Counter()
        self.rejected: Counter[str] = Counter()
        self.arrivals: list[float] = []
        self.dripped = 0  # bytes sent by Drip faults (to show the client hung up early)
        self._routes: list[_Route] = []
        self._script: dict[tuple[str, tuple], deque[Action]] = defaultdict(deque)
        self._lock = threading.Lock()
        self._httpd = _QuietServer(("127.0.0.1", 0), _handler_class(self))
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()
        self._closed = False

    # -- addresses ---------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The server's root, e.g. http://127.0.0.1:PORT (no trailing slash)."""
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def url_for(self, path: str) -> str:
        return self.url + path

    @property
    def server(self) -> FakeAPI:
        """This API (the name tests written for pytest-httpserver use: `fake_cg.server.log`)."""
        return self

    # -- routes ------------------------------------------------------------------------------

    def add(
        self,
        path: str,
        answer: Reply | Any,
        *,
        query: Mapping[str, Any] | None = None,
        method: str | None = None,
    ) -> None:
        """Answer requests to `path` (whose query contains `query`) with `answer`: a Reply, or
        any other value sent as JSON with status 200."""
        reply = answer if isinstance(answer, Reply) else Reply(answer)
        self._insert(_Route(path, _strs(query), method and method.upper(), reply))

    def handle(
        self,
        path: str,
        fn: Handler,
        *,
        query: Mapping[str, Any] | None = None,
        method: str | None = None,
    ) -> None:
        """Answer requests to `path` (or every path under it when it ends in `*`) with
        `fn(request)`."""
        self._insert(_Route(path, _strs(query), method and method.upper(), fn))

    def mount(self, table: StaticTable, prefix: str = "") -> None:
        """Serve a static route table `{path: (status, headers, body_bytes)}` under `prefix`."""
        for path, (status, headers, body) in table.items():
            headers = dict(headers)
            ctype = headers.pop("Content-Type", headers.pop("content-type", "application/json"))
            self.add(
                prefix + path,
                Reply(status=status, headers=headers, raw=bytes(body), content_type=ctype),
            )

    def _insert(self, route: _Route) -> None:
        with self._lock:
            self._routes.append(route)
            # Most specific first (exact paths before prefixes, page=2 before no page); equal
            # ones in the order added.
            self._routes.sort(key=lambda r: (r.path.endswith("*"), -len(r.query)))

    def script(self, path: str, *actions: Action, query: Mapping[str, Any] | None = None) -> None:
        """Queue `actions` for the next requests to `path` (whose query contains `query`): each
        request takes the next one; when the queue is empty the routes answer again."""
        with self._lock:
            self._script[(path, tuple(sorted(_strs(query).items())))].extend(actions)

    def clear(self) -> None:
        """Forget every route, scripted action, count and the log."""
        with self._lock:
            self._routes.clear()
            self._script.clear()
        self.clear_log()

    def clear_log(self) -> None:
        with self._lock:
            self.log.clear()
            self.requests.clear()
            self.rejected.clear()
            self.arrivals.clear()
            if self.rate_limit:
                self.rate_limit.reset()

    def count(self, path: str) -> int:
        """Requests seen for `path` (429s included)."""
        return self.requests[path]

    # -- serving -----------------------------------------------------------------------------

    def _next(self, req: Request) -> Action | None:
        now = time.monotonic()
        with self._lock:
            self.log.append(req)
            self.requests[req.path] += 1
            self.arrivals.append(now)
            if self.rate_limit and not self.rate_limit.admit(req.path, now):
                self.rejected[req.path] += 1
                return self.rate_limit.reply()
            for (path, query), queue in self._script.items():
                if queue and path == req.path and all(req.query.get(k) == v for k, v in query):
                    if query or not self._scripted_specific(req):
                        return queue.popleft()
        return None

    def _scripted_specific(self, req: Request) -> bool:
        """Whether a query-specific script also waits for this request (it goes first)."""
        return any(
            q and queue and path == req.path and all(req.query.get(k) == v for k, v in q)
            for (path, q), queue in self._script.items()
        )

    def answer(self, req: Request) -> Reply:
        """The route's answer to `req` (no faults, no rate limit)."""
        with self._lock:
            route = next((r for r in self._routes if r.matches(req)), None)
        if route is None:
            return self.unmatched
        return route.answer if isinstance(route.answer, Reply) else route.answer(req)

    # -- lifecycle ---------------------------------------------------------------------------

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._httpd.shutdown()
            self._httpd.server_close()

    def __enter__(self) -> FakeAPI:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _strs(query: Mapping[str, Any] | None) -> dict[str, str]:
    return {k: str(v) for k, v in (query or {}).items()}


def _handler_class(api: FakeAPI) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, like the real APIs

        def setup(self) -> None:
            super().setup()
            # Headers and body go out as two writes: without TCP_NODELAY, Nagle plus the
            # client's delayed ACK adds ~40 ms to every keep-alive response.
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            parts = urlsplit(self.path)
            req = Request(
                self.command,
                parts.path,
                dict(parse_qsl(parts.query)),
                self.headers,
                body,
                api.url + self.path,
            )
            action = api._next(req)
            if isinstance(action, Slow):
                time.sleep(action.seconds)
                action = None
            if isinstance(action, Garbage):
                self.wfile.write(action.data)
                self.wfile.flush()
                self.connection.shutdown(socket.SHUT_RDWR)
                self.close_connection = True
                return
            if isinstance(action, Reset):
                self.connection.setsockopt(
                    socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                )
                self.connection.close()
                self.close_connection = True
                return
            if isinstance(action, Redirect):  # an empty location: the same URL again
                where = action.location or self.path
                action = Reply(status=action.status, headers={"Location": where}, raw=b"")
            reply = action if isinstance(action, Reply) else api.answer(req)
            data = reply.body()
            ctype = reply.content_type
            length = len(data)
            extra: dict[str, str] = {}
            if isinstance(action, Encoded):
                if action.bomb_mb is not None:
                    data = zero_bomb(action.bomb_mb, action.encoding)
                else:
                    data = compress(data, action.encoding)
                extra["Content-Encoding"] = action.encoding
                length = len(data)
            if isinstance(action, Retyped):
                ctype = action.content_type
            if isinstance(action, LyingLength):
                length = max(0, len(data) + action.delta)
                self.close_connection = True
            head = self._head(reply.status, ctype, length, {**reply.headers, **extra})
            if isinstance(action, Drip):
                self._drip(head, data, action)
                return
            self.wfile.write(head)
            if isinstance(action, Truncated):
                self.wfile.write(data[: len(data) // 2])
                self.wfile.flush()
                self.connection.shutdown(socket.SHUT_RDWR)
                self.close_connection = True
                return
            self.wfile.write(data)
            if isinstance(action, LyingLength):
                self.wfile.flush()
                self.connection.shutdown(socket.SHUT_RDWR)

        def _head(self, status: int, ctype: str, length: int, headers: Mapping[str, str]) -> bytes:
            lines = [f"HTTP/1.1 {status} {self.responses.get(status, ('',))[0]}"]
            lines += [f"Content-Type: {ctype}", f"Content-Length: {length}"]
            lines += [f"{k}: {v}" for k, v in headers.items()]
            return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

        def _drip(self, head: bytes, data: bytes, drip: Drip) -> None:
            """The headers at once (or dripped too, with `drip.headers`), then the body a few
            bytes at a time until the client hangs up."""
            self.close_connection = True
            payload = head + data if drip.headers else data
            try:
                if not drip.headers:
                    self.wfile.write(head)
                    self.wfile.flush()
                for at in range(0, len(payload), drip.chunk):
                    self.wfile.write(payload[at : at + drip.chunk])
                    self.wfile.flush()
                    api.dripped += len(payload[at : at + drip.chunk])
                    time.sleep(drip.interval_s)
            except OSError:
                pass  # the client gave up: that is the point

        do_GET = do_POST = do_PUT = do_DELETE = _serve

        def log_message(self, *args: Any) -> None:  # quiet: tests and the demo print their own
            pass

    return Handler
