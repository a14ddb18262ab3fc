"""A local HTTP server that replays a recorded snapshot, so the real clients run offline.

Used by `capcover demo`. It serves on 127.0.0.1 only, on a free port, and answers each request
with the snapshot route whose path matches and whose listed query parameters all match.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    query: dict[str, str]
    status: int
    body: Any  # JSON-serialisable, or a str sent as is
    headers: dict[str, str]

    def matches(self, method: str, path: str, query: dict[str, str]) -> bool:
        return (self.method == method and self.path == path
                and all(query.get(k) == v for k, v in self.query.items()))


def load_routes(snapshot: dict) -> list[Route]:
    routes = []
    for r in snapshot["routes"]:
        routes.append(Route(
            method=r.get("method", "GET").upper(), path=r["path"],
            query={k: str(v) for k, v in r.get("query", {}).items()},
            status=int(r.get("status", 200)), body=r["body"], headers=r.get("headers", {}),
        ))
    # Most specific first, so page=2 wins over a route without a page parameter.
    return sorted(routes, key=lambda rt: -len(rt.query))


class ReplayServer:
    """`with ReplayServer(snapshot) as url:` serves the snapshot at `url` until the block ends."""

    def __init__(self, snapshot: dict | Path) -> None:
        if isinstance(snapshot, Path):
            snapshot = json.loads(snapshot.read_text(encoding="utf-8"))
        self.routes = load_routes(snapshot)
        self.requests: list[str] = []
        routes, seen = self.routes, self.requests

        class Handler(BaseHTTPRequestHandler):
            def _serve(self) -> None:
                parts = urlsplit(self.path)
                query = dict(parse_qsl(parts.query))
                seen.append(self.path)
                for rt in routes:
                    if rt.matches(self.command, parts.path, query):
                        body = rt.body if isinstance(rt.body, str) else json.dumps(rt.body)
                        self._send(rt.status, body.encode(), rt.headers)
                        return
                self._send(404, json.dumps({"error": "not in replay snapshot"}).encode(), {})

            def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
                self.send_response(status)
                self.send_header("Content-Type", headers.get("Content-Type", "application/json"))
                for k, v in headers.items():
                    if k != "Content-Type":
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = _serve
            do_POST = _serve

            def log_message(self, *args: Any) -> None:  # quiet: the demo prints its own story
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> str:
        self._thread.start()
        return self.url

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
