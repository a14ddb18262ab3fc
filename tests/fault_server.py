"""A fake CoinGecko with scripted faults, on a stdlib threading HTTP server (127.0.0.1 only).

pytest-httpserver cannot reset a connection or drop a body half-way, so the fault suites use
this: every endpoint answers from the reference shapes (tests/conftest.py) unless a scripted
fault is queued for it; each request takes the next queued action. A thread per request means
a handler that sleeps (read timeout) does not hold up the client's retry.
"""

from __future__ import annotations

import json
import socket
import struct
import threading
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from tests.conftest import API, category_payload, market_pages

CLOUDFLARE_HTML = ("<!DOCTYPE html><html><head><title>Just a moment...</title></head>"
                   "<body>Checking your browser before accessing api.coingecko.com."
                   "<div class=\"cf-browser-verification\">Ray ID: 7a1b2c3d4e5f</div>"
                   "</body></html>")


@dataclass(frozen=True)
class Reply:
    """An HTTP answer: `payload` is JSON-encoded unless `raw` (bytes/str) is given."""

    payload: Any = None
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    raw: str | None = None
    content_type: str = "application/json"


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


Action = Reply | Reset | Slow | Truncated


class FaultServer:
    """Serves `/coins/categories` and paged `/coins/markets`; `script()` queues faults."""

    def __init__(self) -> None:
        self.categories: Any = category_payload()
        self.pages: list[Any] = market_pages()
        self.log: list[tuple[str, dict[str, str]]] = []
        self._script: dict[tuple[str, str | None], deque[Action]] = defaultdict(deque)
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._httpd.daemon_threads = True
        self._httpd.handle_error = lambda request, client_address: None  # faults are on purpose
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()

    @property
    def base_url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}{API}"

    def script(self, endpoint: str, *actions: Action, page: int | None = None) -> None:
        """Queue `actions` for the next requests to `endpoint` (e.g. '/coins/markets', page=2)."""
        with self._lock:
            self._script[(endpoint, str(page) if page else None)].extend(actions)

    def attempts(self, endpoint: str) -> int:
        return sum(1 for path, _ in self.log if path == endpoint)

    def clear_log(self) -> None:
        with self._lock:
            self.log.clear()

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    # -- serving -----------------------------------------------------------------------------

    def _next(self, endpoint: str, query: dict[str, str]) -> Action | None:
        with self._lock:
            self.log.append((endpoint, query))
            for key in ((endpoint, query.get("page")), (endpoint, None)):
                if self._script.get(key):
                    return self._script[key].popleft()
        return None

    def _default(self, endpoint: str, query: dict[str, str]) -> Reply:
        if endpoint == "/coins/categories":
            return Reply(self.categories)
        if endpoint == "/coins/markets":
            page = int(query.get("page", "1"))
            return Reply(self.pages[page - 1] if page <= len(self.pages) else [])
        return Reply({"error": "Not Found"}, status=404)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # keep test output clean
                pass

            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                parts = urlsplit(self.path)
                endpoint = parts.path.removeprefix(API)
                query = dict(parse_qsl(parts.query))
                action = server._next(endpoint, query)
                if isinstance(action, Slow):
                    time.sleep(action.seconds)
                    action = None
                if isinstance(action, Reset):
                    self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                               struct.pack("ii", 1, 0))
                    self.connection.close()
                    self.close_connection = True
                    return
                reply = action if isinstance(action, Reply) else server._default(endpoint, query)
                body = (reply.raw if reply.raw is not None else json.dumps(reply.payload)).encode()
                self.send_response(reply.status)
                self.send_header("Content-Type", reply.content_type)
                self.send_header("Content-Length", str(len(body)))
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                if isinstance(action, Truncated):
                    self.wfile.write(body[: len(body) // 2])
                    self.wfile.flush()
                    self.connection.shutdown(socket.SHUT_RDWR)
                    self.close_connection = True
                    return
                self.wfile.write(body)

        return Handler
