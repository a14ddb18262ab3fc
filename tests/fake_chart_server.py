"""A fake CoinGecko for backfills: categories, paged markets and per-coin market charts over real
HTTP (stdlib server on 127.0.0.1), with a server-ENFORCED rate limit.

The limit is "at most R requests per second": a sliding window of `window_s` seconds admits at
most R x window_s requests; anything beyond is answered 429 with `Retry-After`, in CoinGecko's
429 envelope. A shorter window is stricter (window_s = 1/R allows no two requests closer than
1/R apart). The window is shortened by `jitter_s` (default a tenth of one slot, 1/(10 R)): a
client pacing at exactly R puts request k+R exactly one window after request k, and without
that allowance a microsecond of network jitter would decide between 200 and 429.

Used by tests/test_backfill*.py and scripts/bench_backfill.py.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections import Counter, deque
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

API = "/api/v3"
AI = "artificial-intelligence"
DAY_MS = 86_400_000
NOW = datetime(2024, 4, 3, 6, 40, 12, tzinfo=UTC)  # the fake's "now" (the article's day)


def coin_ids(n: int) -> list[str]:
    return [f"ai-coin-{i:03d}" for i in range(1, n + 1)]


def coin_cap(i: int) -> float:
    return 1e9 / i


def chart(i: int, days: int, now: datetime = NOW) -> dict:
    """`days` daily points at 00:00 UTC ending today, plus the intraday "now" point."""
    today = datetime(now.year, now.month, now.day, tzinfo=UTC)
    stamps = [today - timedelta(days=d) for d in range(days - 1, -1, -1)]
    out: dict[str, list] = {"prices": [], "market_caps": [], "total_volumes": []}
    for k, at in enumerate([*stamps, now]):
        ms = int(at.timestamp() * 1000)
        cap = coin_cap(i) * (1 + 0.001 * k)
        out["market_caps"].append([ms, cap])
        out["prices"].append([ms, cap / 1e8])
        out["total_volumes"].append([ms, cap * 0.05])
    return out


class FakeChartServer:
    """`with FakeChartServer(n_coins=300, rate_per_s=50) as srv:` serves until the block ends."""

    def __init__(self, *, n_coins: int = 20, rate_per_s: float | None = None,
                 window_s: float = 1.0, jitter_s: float | None = None, delay_s: float = 0.0,
                 missing: tuple[str, ...] = (),
                 scripted_429: tuple[str, ...] = (), retry_after_s: int = 1) -> None:
        self.n_coins = n_coins
        self.rate_per_s = rate_per_s
        self.window_s = window_s
        if jitter_s is None:
            jitter_s = 0.1 / rate_per_s if rate_per_s else 0.0
        self.jitter_s = jitter_s
        self.allowed = max(1, round(rate_per_s * window_s)) if rate_per_s else 0
        self._admitted: deque[float] = deque()  # arrival times of admitted requests in window
        self.delay_s = delay_s
        self.missing = set(missing)
        self.scripted_429 = set(scripted_429)  # first request of these coins gets a 429 anyway
        self.retry_after_s = retry_after_s
        self.requests: Counter[str] = Counter()  # path -> requests (429s included)
        self.rejected: Counter[str] = Counter()  # path -> 429 answers
        self.arrivals: list[float] = []
        self._lock = threading.Lock()
        srv = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                super().setup()
                # Headers and body go out as two writes: without TCP_NODELAY, Nagle plus the
                # client's delayed ACK adds ~40 ms to every response.
                self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                status, body, headers = srv.answer(self.path)
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in headers.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        # A killed client resets its connection: expected in the resume tests, not an error.
        self._server.handle_error = lambda request, client_address: None
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    # -- routes ----------------------------------------------------------------------------

    def _admit(self, path: str) -> bool:
        now = time.monotonic()
        with self._lock:
            self.requests[path] += 1
            self.arrivals.append(now)
            if not self.rate_per_s:
                return True
            while self._admitted and self._admitted[0] <= now - (self.window_s - self.jitter_s):
                self._admitted.popleft()
            if len(self._admitted) >= self.allowed:
                self.rejected[path] += 1
                return False
            self._admitted.append(now)
            return True

    def answer(self, raw_path: str) -> tuple[int, object, dict[str, str]]:
        parts = urlsplit(raw_path)
        path, query = parts.path, dict(parse_qsl(parts.query))
        if not self._admit(path):
            return 429, {"status": {"error_code": 429, "error_message": "You've exceeded the "
                                    "Rate Limit. Please visit https://www.coingecko.com/en/api/"
                                    "pricing to subscribe to our API plans for higher rate "
                                    "limits."}}, {"Retry-After": str(self.retry_after_s)}
        if self.delay_s:
            time.sleep(self.delay_s)
        ids = coin_ids(self.n_coins)
        if path == f"{API}/coins/categories":
            return 200, [{"id": AI, "name": "Artificial Intelligence (AI)",
                          "market_cap": sum(coin_cap(i) for i in range(1, self.n_coins + 1)),
                          "market_cap_change_24h": 1.0, "content": "", "top_3_coins_id": ids[:3],
                          "volume_24h": 1e9, "updated_at": NOW.isoformat()}], {}
        if path == f"{API}/coins/markets":
            page, per = int(query.get("page", 1)), int(query.get("per_page", 250))
            chunk = ids[(page - 1) * per: page * per]
            return 200, [{"id": cid, "symbol": cid[-3:], "name": cid,
                          "market_cap": coin_cap(int(cid[-3:])),
                          "market_cap_rank": int(cid[-3:]),
                          "last_updated": NOW.isoformat()} for cid in chunk], {}
        if path.startswith(f"{API}/coins/") and path.endswith("/market_chart"):
            cid = path.split("/")[-2]
            days = int(query.get("days", "0"))
            if days > 365:
                return 401, {"error": {"status": {
                    "timestamp": NOW.isoformat(), "error_code": 10012,
                    "error_message": "Your request exceeds the allowed time range. Public API "
                                     "users are limited to querying historical data within the "
                                     "past 365 days. Upgrade to a paid plan to enjoy full "
                                     "historical data access: https://www.coingecko.com/en/api/"
                                     "pricing. "}}}, {}
            if cid in self.missing or cid not in ids:
                return 404, {"error": "coin not found"}, {}
            with self._lock:
                if cid in self.scripted_429:
                    self.scripted_429.discard(cid)
                    self.rejected[path] += 1
                    return 429, {"status": {"error_code": 429, "error_message": "rate limit"}}, \
                        {"Retry-After": str(self.retry_after_s)}
            return 200, chart(int(cid[-3:]), days), {}
        return 404, {"error": "not in the fake"}, {}

    def chart_requests(self) -> Counter[str]:
        """market_chart requests per coin id."""
        return Counter({p.split("/")[-2]: n for p, n in self.requests.items()
                        if p.endswith("/market_chart")})

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}{API}"

    def __enter__(self) -> FakeChartServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
