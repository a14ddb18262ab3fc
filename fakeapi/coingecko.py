"""The fake CoinGecko: categories, paged markets and per-coin market charts on a FakeAPI.

Three kinds of data, one server (`CoinGecko`):
- `CoinGecko.reference()`: the reference shapes (docs examples in fakeapi/fixtures) with 260
  constituents over two pages, a repeated coin, a zero and a null cap (the fault suites);
- `CoinGecko.charts(n_coins)`: simple coins with market charts, a 365-day history limit,
  missing coins and scripted 429s (the backfill tests);
- `CoinGecko.generated({category: n})`: any number of categories and coins in the docs
  example's shape, random-walk charts, and simple GPU feeds on the same server (benchmarks).
`CoinGecko()` alone serves nothing until routes are added (the daily-pipeline tests).
"""

from __future__ import annotations

import copy
import json
import math
import random
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any

from capcover.fakeapi import fixtures
from capcover.fakeapi.faults import Action, Reply
from capcover.fakeapi.server import NOT_FOUND, FakeAPI, RateLimit, Request

API = "/api/v3"
AI = "artificial-intelligence"
AS_OF = "2024-04-03T06:40:12.345Z"
NOW = datetime(2024, 4, 3, 6, 40, 12, tzinfo=UTC)  # the fake's "now" (the article's day)
DAY_MS = 86_400_000
HISTORY_LIMIT_10012 = {
    "error": {
        "status": {
            "timestamp": NOW.isoformat(),
            "error_code": 10012,
            "error_message": "Your request exceeds the allowed time range. Public API users "
            "are limited to querying historical data within the past 365 days. Upgrade to a paid "
            "plan to enjoy full historical data access: https://www.coingecko.com/en/"
            "api/pricing. ",
        }
    }
}
Chart = Callable[[str, int], dict]


# -- reference shapes (the fault suites and the daily-pipeline tests) ---------------------------


def category_payload(
    cap: float = 25e9, updated_at: str = AS_OF, extra: list[dict[str, Any]] | None = None
) -> list[dict[str, Any]]:
    """`/coins/categories` built from the docs example, with the AI category added."""
    base = fixtures.coingecko("cgdocs_openapi__coins_categories.json")["payload"][0]
    ai = copy.deepcopy(base)
    ai.update(
        {
            "id": AI,
            "name": "Artificial Intelligence (AI)",
            "market_cap": cap,
            "market_cap_change_24h": 2.1,
            "volume_24h": 2.1e9,
            "updated_at": updated_at,
            "top_3_coins_id": ["render-token", "fetch-ai", "bittensor"],
        }
    )
    return [base, ai, *(extra or [])]


def coin(i: int, cap: float | None) -> dict[str, Any]:
    """A `/coins/markets` record in the docs example's shape."""
    markets = fixtures.coingecko("cgdocs_openapi__coins_markets.json")
    rec: dict[str, Any] = copy.deepcopy(markets["payload"][0])
    rec.update(
        {
            "id": f"ai-coin-{i:03d}",
            "symbol": f"ai{i}",
            "name": f"AI Coin {i}",
            "market_cap": cap,
            "market_cap_rank": i if cap else None,
            "fully_diluted_valuation": cap * 1.5 if cap else None,
            "total_volume": cap * 0.05 if cap else None,
            "last_updated": "2024-04-03T06:39:00.000Z",
        }
    )
    return rec


def market_pages(n_coins: int = 260, per_page: int = 250) -> list[list[dict]]:
    """Constituents over pages, with the last coin of page 1 repeated on page 2 (ranks shift),
    a zero cap with null rank and a null cap (real shapes, see the zero-mcap reference)."""
    coins = [coin(i, 1e8 / i) for i in range(1, n_coins + 1)]
    zero = fixtures.coingecko("real_coins_markets_with_zero_mcap_null_rank.json")["payload"][1]
    coins[-1] = {**coins[-1], "market_cap": zero["market_cap"], "market_cap_rank": None}
    coins[-2] = {**coins[-2], "market_cap": None, "market_cap_rank": None}
    pages = [coins[i : i + per_page] for i in range(0, len(coins), per_page)]
    if len(pages) > 1:
        pages[1] = [pages[0][-1], *pages[1]]
    return pages


# -- simple coins with linear charts (the backfill tests) ---------------------------------------


def coin_ids(n: int) -> list[str]:
    return [f"ai-coin-{i:03d}" for i in range(1, n + 1)]


def coin_cap(i: int) -> float:
    """Coin i's cap in USD in `CoinGecko.charts` (the first point of its chart)."""
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


# -- generated records (the benchmarks) ---------------------------------------------------------


def category_ids(n: int) -> list[str]:
    """The AI category first, then generated ones."""
    return [AI, *[f"ai-subsector-{i:02d}" for i in range(1, n)]]


def coin_record(template: dict, category: str, i: int) -> dict:
    cap = 2e9 / (i + 1) ** 1.1  # a long tail like the real category
    rec = copy.deepcopy(template)
    rec.update(
        {
            "id": f"{category}-coin-{i:05d}",
            "symbol": f"c{i}",
            "name": f"Coin {i} ({category})",
            "current_price": cap / 1e8,
            "market_cap": cap,
            "market_cap_rank": i + 1,
            "fully_diluted_valuation": cap * 1.4,
            "total_volume": cap * 0.06,
            "circulating_supply": 1e8,
            "total_supply": 1.4e8,
            "max_supply": None,
            "last_updated": "2024-04-03T06:39:00.000Z",
        }
    )
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


def generated_categories(
    categories: dict[str, int], updated_at: str = AS_OF
) -> tuple[list[dict], dict[str, list[dict]]]:
    """(`/coins/categories` answer, constituents per category) for `{category: n_coins}`."""
    template = fixtures.coingecko("cgdocs_openapi__coins_markets.json")["payload"][0]
    cat_template = fixtures.coingecko("cgdocs_openapi__coins_categories.json")["payload"][0]
    coins = {c: [coin_record(template, c, i) for i in range(n)] for c, n in categories.items()}
    cats = [copy.deepcopy(cat_template)]
    for c, members in coins.items():
        rec = copy.deepcopy(cat_template)
        rec.update(
            {
                "id": c,
                "name": c.replace("-", " ").title(),
                "market_cap": sum(x["market_cap"] for x in members),
                "market_cap_change_24h": 1.7,
                "volume_24h": sum(x["total_volume"] for x in members),
                "updated_at": updated_at,
                "top_3_coins_id": [x["id"] for x in members[:3]],
            }
        )
        cats.append(rec)
    return cats, coins


# -- the server ---------------------------------------------------------------------------------


class CoinGecko(FakeAPI):
    """A FakeAPI with CoinGecko routes under /api/v3. Endpoints given to `script`, `attempts`
    are relative to /api/v3 ('/coins/markets'); paths given to `add` and `handle` are full."""

    def __init__(
        self,
        *,
        categories: Any = None,
        pages: list[list[dict]] | None = None,
        coins: dict[str, list[dict]] | None = None,
        chart: Chart | None = None,
        default_days: int = 0,
        max_days: int | None = None,
        missing: Iterable[str] = (),
        scripted_429: Iterable[str] = (),
        retry_after_s: int = 1,
        delay_s: float = 0.0,
        rate_limit: RateLimit | None = None,
        unmatched: Reply = NOT_FOUND,
        page_size: int = 250,
    ) -> None:
        super().__init__(rate_limit=rate_limit, unmatched=unmatched)
        # Rows per /coins/markets page, whatever `per_page` asks: CoinGecko once sent 50 for
        # 250 asked with `category` (hummingbot #5806).
        self.page_size = page_size
        self.categories = categories  # mutable: a test changes the day's answer in place
        self.pages = pages  # when set, page n of any category is pages[n - 1]
        self.coins = coins or {}
        self.chart = chart
        self.default_days = default_days
        self.max_days = max_days
        self.missing = set(missing)
        self.scripted_429 = set(scripted_429)  # the first chart request of these gets a 429
        self.retry_after_s = retry_after_s
        self.delay_s = delay_s
        self._known = {c["id"] for members in self.coins.values() for c in members}
        self._charts: dict[tuple[str, int], bytes] = {}
        if categories is not None:
            self.handle(API + "/coins/categories", self._categories)
            self.handle(API + "/coins/categories/list", self._category_list)
            self.handle(API + "/coins/markets", self._markets)
        if chart is not None:
            self.handle(API + "/coins/*", self._chart)

    @classmethod
    def reference(cls, **kw: Any) -> CoinGecko:
        """The reference shapes: the AI category at $25B, 260 constituents over two pages."""
        return cls(categories=category_payload(), pages=market_pages(), **kw)

    @classmethod
    def charts(
        cls,
        n_coins: int = 20,
        *,
        rate_per_s: float | None = None,
        window_s: float = 1.0,
        jitter_s: float | None = None,
        **kw: Any,
    ) -> CoinGecko:
        """`n_coins` coins (cap 1e9 / i) with linear charts and CoinGecko's 365-day limit."""
        ids = coin_ids(n_coins)
        cats = [
            {
                "id": AI,
                "name": "Artificial Intelligence (AI)",
                "market_cap": sum(coin_cap(i) for i in range(1, n_coins + 1)),
                "market_cap_change_24h": 1.0,
                "content": "",
                "top_3_coins_id": ids[:3],
                "volume_24h": 1e9,
                "updated_at": NOW.isoformat(),
            }
        ]
        coins = {
            AI: [
                {
                    "id": cid,
                    "symbol": cid[-3:],
                    "name": cid,
                    "market_cap": coin_cap(int(cid[-3:])),
                    "market_cap_rank": int(cid[-3:]),
                    "last_updated": NOW.isoformat(),
                }
                for cid in ids
            ]
        }
        limit = RateLimit(rate_per_s, window_s=window_s, jitter_s=jitter_s) if rate_per_s else None
        return cls(
            categories=cats,
            coins=coins,
            chart=lambda cid, d: chart(int(cid[-3:]), d),
            max_days=365,
            rate_limit=limit,
            **kw,
        )

    @classmethod
    def generated(
        cls,
        categories: dict[str, int],
        *,
        rate_per_s: float | None = None,
        chart_days: int = 365,
        updated_at: str = AS_OF,
    ) -> CoinGecko:
        """`{category: n_coins}` generated in the docs example's shape, random-walk charts, and
        simple Vast.ai/RunPod answers on the same server (root paths) for the quote feeds.
        The rate limit (CoinGecko's only) is a strict 1-second window, like the real one."""
        from capcover.fakeapi.gpu import install_simple_feeds

        cats, coins = generated_categories(categories, updated_at)
        limit = RateLimit(rate_per_s, jitter_s=0.0, prefix=API) if rate_per_s else None
        fake = cls(
            categories=cats,
            coins=coins,
            chart=market_chart,
            default_days=chart_days,
            rate_limit=limit,
        )
        install_simple_feeds(fake)
        return fake

    # -- addresses and counts ----------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """The API root clients are configured with (…/api/v3)."""
        return self.url + API

    @property
    def root_url(self) -> str:
        return self.url

    def script(
        self,
        path: str,
        *actions: Action,
        page: int | None = None,
        query: Mapping[str, Any] | None = None,
    ) -> None:
        """Queue faults for the next requests to endpoint `path` (relative to /api/v3, e.g.
        '/coins/markets', page=2)."""
        query = {**(query or {}), **({"page": page} if page else {})}
        super().script(_full(path), *actions, query=query)

    def attempts(self, endpoint: str) -> int:
        return self.count(_full(endpoint))

    def market_requests(self) -> int:
        return self.count(API + "/coins/markets")

    def chart_requests(self) -> Counter[str]:
        """market_chart requests per coin id (429s included)."""
        return Counter(
            {p.split("/")[-2]: n for p, n in self.requests.items() if p.endswith("/market_chart")}
        )

    def coingecko_requests(self) -> int:
        return sum(n for p, n in self.requests.items() if p.startswith(API))

    def prewarm_charts(self, days: int | None = None) -> None:
        """Generate every coin's chart body now, so serving costs a benchmark nothing."""
        days = days or self.default_days
        for cid in self._known:
            self._chart_body(cid, days)

    def serve(
        self, categories: Any = None, pages: list[list[dict]] | None = None, category: str = AI
    ) -> None:
        """Static routes for one day: the categories and each page of the constituents, matched
        on the exact query the client sends (anything else is `unmatched`)."""
        self.add(
            API + "/coins/categories", categories if categories is not None else category_payload()
        )
        pages = pages if pages is not None else market_pages()
        # ... and the empty page past the last one, where the client's paging ends.
        for n, page in enumerate([*pages, []], start=1):
            self.add(
                API + "/coins/markets",
                page,
                query={
                    "vs_currency": "usd",
                    "category": category,
                    "per_page": "250",
                    "page": str(n),
                    "order": "market_cap_desc",
                },
            )

    # -- handlers ----------------------------------------------------------------------------

    def _pause(self) -> None:
        if self.delay_s:
            time.sleep(self.delay_s)

    def _categories(self, req: Request) -> Reply:
        self._pause()
        return Reply(self.categories)

    def _category_list(self, req: Request) -> Reply:
        self._pause()
        return Reply(
            [
                {"category_id": c["id"], "name": c.get("name", c["id"])}
                for c in self.categories
                if isinstance(c, dict) and "id" in c
            ]
        )

    def _markets(self, req: Request) -> Reply:
        self._pause()
        page = int(req.query.get("page", "1"))
        if self.pages is not None:
            return Reply(self.pages[page - 1] if page <= len(self.pages) else [])
        per = min(250, int(req.query.get("per_page", "250")), self.page_size)
        members = self.coins.get(req.query.get("category", ""), [])
        return Reply(members[(page - 1) * per : page * per])

    def _chart(self, req: Request) -> Reply:
        parts = req.path.removeprefix(API + "/coins/").split("/")
        if len(parts) < 2 or parts[1] != "market_chart" or len(parts) > 3:
            return self.unmatched
        self._pause()
        cid, query = parts[0], req.query
        if query.get("days", "").isdigit():
            days = int(query["days"])
        elif "from" in query and "to" in query:
            days = max(1, round((float(query["to"]) - float(query["from"])) / 86_400))
        else:
            days = self.default_days
        if self.max_days is not None and days > self.max_days:
            return Reply(HISTORY_LIMIT_10012, status=401)
        if cid in self.missing or cid not in self._known:
            return Reply({"error": "coin not found"}, status=404)
        with self._lock:
            if cid in self.scripted_429:
                self.scripted_429.discard(cid)
                self.rejected[req.path] += 1
                return Reply(
                    {"status": {"error_code": 429, "error_message": "rate limit"}},
                    status=429,
                    headers={"Retry-After": str(self.retry_after_s)},
                )
        return Reply(raw=self._chart_body(cid, days))

    def _chart_body(self, cid: str, days: int) -> bytes:
        key = (cid, days)
        if key not in self._charts:  # deterministic: generated once, served from memory
            assert self.chart is not None  # the route is mounted only with a chart
            self._charts[key] = json.dumps(self.chart(cid, days)).encode()
        return self._charts[key]


def _full(endpoint: str) -> str:
    return endpoint if endpoint.startswith(API + "/") else API + endpoint
