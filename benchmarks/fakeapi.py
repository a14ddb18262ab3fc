"""A generated CoinGecko on 127.0.0.1 for the benchmarks: any number of categories and coins,
per-coin market charts, and an optional server-side rate limit that answers 429 like the real one.

Payload shapes follow the reference examples in tests/fixtures/coingecko (CoinGecko's own docs
OpenAPI examples); values are generated deterministically from the coin's index.
"""

from __future__ import annotations

import copy
import json
import math
import random
import re
import socket
import threading
import time
from collections import Counter, deque
from datetime import UTC, date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from benchmarks.common import ROOT

FIXTURES = ROOT / "tests" / "fixtures" / "coingecko"
FEEDS = ROOT / "tests" / "fixtures" / "gpu-feeds"
API = "/api/v3"
UPDATED_AT = "2024-04-03T06:40:12.345Z"
DAY_MS = 86_400_000
_CHART = re.compile(rf"^{API}/coins/([^/]+)/market_chart(/range)?$")


def _example(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))["payload"]


def _feed(name: str) -> bytes:
    doc = json.loads((FEEDS / name).read_text(encoding="utf-8"))
    doc.pop("_source", None)
    return json.dumps(doc).encode()


def category_ids(n: int) -> list[str]:
    """The AI category first, then generated ones."""
    return ["artificial-intelligence", *[f"ai-subsector-{i:02d}" for i in range(1, n)]]


def coin_record(template: dict, category: str, i: int) -> dict:
    cap = 2e9 / (i + 1) ** 1.1  # a long tail like the real category
    rec = copy.deepcopy(template)
    rec.update({
        "id": f"{category}-coin-{i:05d}", "symbol": f"c{i}", "name": f"Coin {i} ({category})",
        "current_price": cap / 1e8, "market_cap": cap, "market_cap_rank": i + 1,
        "fully_diluted_valuation": cap * 1.4, "total_volume": cap * 0.06,
        "circulating_supply": 1e8, "total_supply": 1.4e8, "max_supply": None,
        "last_updated": "2024-04-03T06:39:00.000Z",
    })
    return rec


def market_chart(coin_id: str, days: int, end: date = date(2024, 4, 3)) -> dict[str, list]:
    """`/coins/{id}/market_chart` for `days` daily points at 00:00 UTC plus a last "now" point.

    A geometric random walk per coin (seeded by its id), so prices, caps and volumes move
    like real series: different magnitudes, daily noise, drift.
    """
    rng = random.Random(coin_id)
    price = math.exp(rng.uniform(-4, 6))
    supply = rng.uniform(1e7, 1e10)
    start = datetime(end.year, end.month, end.day, tzinfo=UTC) - timedelta(days=days)
    t0 = int(start.timestamp() * 1000)
    prices, caps, vols = [], [], []
    for d in range(days):
        price *= math.exp(rng.gauss(0.0005, 0.04))
        ts = t0 + d * DAY_MS
        prices.append([ts, price])
        caps.append([ts, price * supply])
        vols.append([ts, price * supply * rng.uniform(0.01, 0.2)])
    now = t0 + (days - 1) * DAY_MS + 23_482_000  # the last point is "now", not midnight
    prices.append([now, price])
    caps.append([now, price * supply])
    vols.append([now, vols[-1][1]])
    return {"prices": prices, "market_caps": caps, "total_volumes": vols}


class FakeCoinGecko:
    """`with FakeCoinGecko({cat: n_coins}, rate_per_s=R) as base_url:` serves until the block ends.

    Counts every request (`requests`, by path in `by_path`) and every 429 it answered.
    With `rate_per_s`, at most that many requests are accepted in any sliding 1-second window;
    the rest get CoinGecko's 429 envelope with `Retry-After: 1`.
    """

    def __init__(self, categories: dict[str, int], *, rate_per_s: float | None = None,
                 chart_days: int = 365, updated_at: str = UPDATED_AT
                 ) -> None:
        self.categories = categories
        self.rate_per_s = rate_per_s
        self.chart_days = chart_days
        self.requests = 0
        self.rejected = 0
        self.by_path: Counter[str] = Counter()
        self._window: deque[float] = deque()
        self._lock = threading.Lock()
        template = _example("cgdocs_openapi__coins_markets.json")[0]
        cat_template = _example("cgdocs_openapi__coins_categories.json")[0]
        self._coins = {c: [coin_record(template, c, i) for i in range(n)]
                       for c, n in categories.items()}
        cats = []
        for c, coins in self._coins.items():
            rec = copy.deepcopy(cat_template)
            rec.update({"id": c, "name": c.replace("-", " ").title(),
                        "market_cap": sum(x["market_cap"] for x in coins),
                        "market_cap_change_24h": 1.7,
                        "volume_24h": sum(x["total_volume"] for x in coins),
                        "updated_at": updated_at,
                        "top_3_coins_id": [x["id"] for x in coins[:3]]})
            cats.append(rec)
        self._categories_body = json.dumps([copy.deepcopy(cat_template), *cats]).encode()
        self._pages: dict[tuple[str, int, int], bytes] = {}
        self._charts: dict[tuple[str, int], bytes] = {}
        self._vastai_offer = json.loads(_feed("vastai_bundles_h100_sxm_2026-08-22.json"))[
            "offers"][0]
        self._runpod = _feed("runpod_graphql_gputypes_2026-08-22.json")
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    # -- routing -----------------------------------------------------------------------------

    def _admit(self, path: str) -> bool:
        with self._lock:
            self.requests += 1
            if self.rate_per_s is None or not path.startswith(API):  # CoinGecko's limit only
                return True
            now = time.monotonic()
            while self._window and self._window[0] <= now - 1.0:
                self._window.popleft()
            if len(self._window) >= self.rate_per_s:
                self.rejected += 1
                return False
            self._window.append(now)
            return True

    def _page(self, category: str, page: int, per_page: int) -> bytes:
        key = (category, page, per_page)
        if key not in self._pages:
            coins = self._coins.get(category, [])
            self._pages[key] = json.dumps(coins[(page - 1) * per_page: page * per_page]).encode()
        return self._pages[key]

    def route(self, path: str, query: dict[str, str]) -> tuple[int, bytes]:
        if path == f"{API}/coins/categories":
            return 200, self._categories_body
        if path == f"{API}/coins/categories/list":
            return 200, json.dumps([{"category_id": c, "name": c} for c in self._coins]).encode()
        if path == f"{API}/coins/markets":
            return 200, self._page(query.get("category", ""), int(query.get("page", 1)),
                                   min(250, int(query.get("per_page", 100))))
        if path == "/api/v0/bundles/":  # Vast.ai (a quote feed): a few verified offers
            name = json.loads(query.get("q", "{}")).get("gpu_name", {}).get("eq", "H100 SXM")
            offers = [{**self._vastai_offer, "id": 1000 + i, "gpu_name": name,
                       "verification": "verified", "dph_total": 1.5 + 0.25 * i}
                      for i in range(5)]
            return 200, json.dumps({"offers": offers}).encode()
        if path == "/graphql":  # RunPod (a quote feed)
            return 200, self._runpod
        m = _CHART.match(path)
        if m:
            days = self.chart_days
            if query.get("days", "").isdigit():
                days = int(query["days"])
            elif "from" in query and "to" in query:
                days = max(1, round((float(query["to"]) - float(query["from"])) / 86_400))
            key = (m.group(1), days)
            if key not in self._charts:
                self._charts[key] = json.dumps(market_chart(m.group(1), days)).encode()
            return 200, self._charts[key]
        return 404, b'{"error": "coin not found"}'

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, like the real API

            def setup(self) -> None:
                super().setup()
                # Headers and body go out in two writes: without TCP_NODELAY, Nagle plus the
                # client's delayed ACK adds ~40 ms to every keep-alive response.
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                parts = urlsplit(self.path)
                fake.by_path[parts.path] += 1
                if not fake._admit(parts.path):
                    body = json.dumps({"status": {
                        "error_code": 429,
                        "error_message": "You've exceeded the Rate Limit."}}).encode()
                    self._send(429, body, {"Retry-After": "1"})
                    return
                status, body = fake.route(parts.path, dict(parse_qsl(parts.query)))
                self._send(status, body, {})

            do_POST = do_GET

            def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                for k, v in headers.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        return Handler

    # -- lifecycle ---------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}{API}"

    @property
    def root_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def env(self, db: str | None = None) -> dict[str, str]:
        """capcover's settings pointing every source at this server, no key, no rate cap."""
        env = {
            "CAPCOVER_COINGECKO_BASE_URL": self.base_url,
            "CAPCOVER_COINGECKO_PLAN": "public",
            "CAPCOVER_COINGECKO_RATE_PER_MINUTE": str(
                self.rate_per_s * 60 if self.rate_per_s else 600_000),
            "CAPCOVER_VASTAI_BASE_URL": self.root_url,
            "CAPCOVER_VASTAI_RATE_PER_MINUTE": "600000",
            "CAPCOVER_RUNPOD_BASE_URL": self.root_url,
            "CAPCOVER_RUNPOD_RATE_PER_MINUTE": "600000",
            "CAPCOVER_GPUHUNT_PROVIDERS": "",  # the benchmarks serve no gpuhunt catalogs
            "CAPCOVER_CATEGORIES": ",".join(self.categories),
            "CAPCOVER_HTTP_RETRY_BUDGET_S": "30",
            "CAPCOVER_LOCK_BUDGET_S": "10",
        }
        if db:
            env["CAPCOVER_DB"] = db
        return env

    def quote_feed_requests(self) -> int:
        return self.by_path["/api/v0/bundles/"] + self.by_path["/graphql"]

    def coingecko_requests(self) -> int:
        return sum(n for p, n in self.by_path.items() if p.startswith(API))

    def prewarm_charts(self, days: int | None = None) -> None:
        """Generate every coin's chart body now, so serving costs the benchmark nothing."""
        days = days or self.chart_days
        for coins in self._coins.values():
            for c in coins:
                self._charts[(c["id"], days)] = json.dumps(market_chart(c["id"], days)).encode()

    def reset_counts(self) -> None:
        with self._lock:
            self.requests = self.rejected = 0
            self.by_path.clear()
            self._window.clear()

    def __enter__(self) -> FakeCoinGecko:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
