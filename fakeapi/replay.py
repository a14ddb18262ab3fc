"""Replay of a recorded snapshot on the fake API, so the real clients run offline.

Used by `capcover demo`. A snapshot is `{"routes": [{"method"?, "path", "query"?, "status"?,
"headers"?, "body" | "body_base64"}]}`: each request gets the route whose path matches and whose
listed query parameters all match (the most specific first); anything else is a 404. A binary
answer (a zip) is given as `body_base64`.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

from capcover.fakeapi.faults import Reply
from capcover.fakeapi.server import FakeAPI


def install_snapshot(api: FakeAPI, snapshot: dict[str, Any]) -> None:
    """Add every route of `snapshot` to `api`. A str body is sent as is, anything else as JSON."""
    for r in snapshot["routes"]:
        headers = dict(r.get("headers", {}))
        ctype = headers.pop("Content-Type", "application/json")
        if "body_base64" in r:
            raw: str | bytes = base64.b64decode(r["body_base64"])
        else:
            body = r["body"]
            raw = body if isinstance(body, str) else json.dumps(body)
        reply = Reply(
            status=int(r.get("status", 200)), headers=headers, content_type=ctype, raw=raw
        )
        api.add(r["path"], reply, query=r.get("query"), method=r.get("method", "GET"))


class ReplayServer(FakeAPI):
    """`with ReplayServer(snapshot) as url:` serves the snapshot at `url` until the block ends."""

    def __init__(self, snapshot: dict[str, Any] | Path) -> None:
        super().__init__(unmatched=Reply({"error": "not in replay snapshot"}, status=404))
        if isinstance(snapshot, Path):
            snapshot = json.loads(snapshot.read_text(encoding="utf-8"))
        assert isinstance(snapshot, dict)
        install_snapshot(self, snapshot)

    def __enter__(self) -> str:  # type: ignore[override]  # the demo only needs the address
        return self.url
