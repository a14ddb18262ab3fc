"""Shared fixtures: a fake CoinGecko over real HTTP (pytest-httpserver), settings pointing at it,
and a real DuckDB file in a temp dir. Payload shapes come from tests/fixtures (copied from
../shared/reference, each with its `_source`)."""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer

# Offline and quiet, whatever the developer's shell says.
os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
os.environ["DO_NOT_TRACK"] = "1"
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
os.environ["PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL"] = "CRITICAL"

FIXTURES = Path(__file__).parent / "fixtures"
API = "/api/v3"
AI = "artificial-intelligence"
AS_OF = "2024-04-03T06:40:12.345Z"


def reference(name: str) -> dict:
    """A reference payload file: {'_source': ..., 'payload': ..., 'http_status'?: ...}."""
    return json.loads((FIXTURES / "coingecko" / name).read_text(encoding="utf-8"))


def category_payload(cap: float = 25e9, updated_at: str = AS_OF, extra: list | None = None):
    """`/coins/categories` built from the docs example, with the AI category added."""
    base = reference("cgdocs_openapi__coins_categories.json")["payload"][0]
    ai = copy.deepcopy(base)
    ai.update({"id": AI, "name": "Artificial Intelligence (AI)", "market_cap": cap,
               "market_cap_change_24h": 2.1, "volume_24h": 2.1e9, "updated_at": updated_at,
               "top_3_coins_id": ["render-token", "fetch-ai", "bittensor"]})
    return [base, ai, *(extra or [])]


def coin(i: int, cap: float | None) -> dict:
    """A `/coins/markets` record in the docs example's shape."""
    rec = copy.deepcopy(reference("cgdocs_openapi__coins_markets.json")["payload"][0])
    rec.update({"id": f"ai-coin-{i:03d}", "symbol": f"ai{i}", "name": f"AI Coin {i}",
                "market_cap": cap, "market_cap_rank": i if cap else None,
                "fully_diluted_valuation": cap * 1.5 if cap else None,
                "total_volume": cap * 0.05 if cap else None,
                "last_updated": "2024-04-03T06:39:00.000Z"})
    return rec


def market_pages(n_coins: int = 260, per_page: int = 250) -> list[list[dict]]:
    """Constituents over pages, with the last coin of page 1 repeated on page 2 (ranks shift),
    a zero cap with null rank and a null cap (real shapes, see the zero-mcap reference)."""
    coins = [coin(i, 1e8 / i) for i in range(1, n_coins + 1)]
    zero = reference("real_coins_markets_with_zero_mcap_null_rank.json")["payload"][1]
    coins[-1] = {**coins[-1], "market_cap": zero["market_cap"], "market_cap_rank": None}
    coins[-2] = {**coins[-2], "market_cap": None, "market_cap_rank": None}
    pages = [coins[i:i + per_page] for i in range(0, len(coins), per_page)]
    if len(pages) > 1:
        pages[1] = [pages[0][-1], *pages[1]]
    return pages


class FakeCoinGecko:
    """Installs CoinGecko routes on a pytest-httpserver."""

    def __init__(self, server: HTTPServer) -> None:
        self.server = server
        self.base_url = server.url_for(API)

    def serve(self, categories=None, pages=None, category: str = AI) -> None:
        self.server.expect_request(f"{API}/coins/categories").respond_with_json(
            categories if categories is not None else category_payload())
        pages = pages if pages is not None else market_pages()
        for n, page in enumerate(pages, start=1):
            self.server.expect_request(
                f"{API}/coins/markets", query_string={"vs_currency": "usd", "category": category,
                                                      "per_page": "250", "page": str(n),
                                                      "order": "market_cap_desc"},
            ).respond_with_json(page)

    def market_requests(self) -> int:
        return sum(1 for req, _ in self.server.log if req.path.endswith("/coins/markets"))


@pytest.fixture
def fake_cg(httpserver: HTTPServer) -> FakeCoinGecko:
    return FakeCoinGecko(httpserver)


@pytest.fixture(scope="session")
def _feeds_server():
    server = HTTPServer(host="127.0.0.1", port=0)
    server.start()
    yield server
    server.clear()
    if server.is_running():
        server.stop()


@pytest.fixture
def fake_feeds(_feeds_server):
    """Fake Vast.ai and RunPod (tests/gpu_fakes.py), fresh offers for every test."""
    from tests.gpu_fakes import FakeFeeds

    _feeds_server.clear()
    return FakeFeeds(_feeds_server)


@pytest.fixture
def env(tmp_path, monkeypatch, fake_cg, fake_feeds):
    """Settings in the environment: a temp warehouse, the fake CoinGecko and fake GPU feeds
    (so no test ever reaches the real Vast.ai or RunPod)."""
    for key in list(os.environ):
        if key.startswith("CAPCOVER_"):
            monkeypatch.delenv(key)
    values = {
        "CAPCOVER_DB": str(tmp_path / "capcover.duckdb"),
        "CAPCOVER_COINGECKO_BASE_URL": fake_cg.base_url,
        "CAPCOVER_COINGECKO_RATE_PER_MINUTE": "60000",
        "CAPCOVER_VASTAI_BASE_URL": fake_feeds.vast_base_url,
        "CAPCOVER_VASTAI_RATE_PER_MINUTE": "60000",
        "CAPCOVER_RUNPOD_BASE_URL": fake_feeds.runpod_base_url,
        "CAPCOVER_RUNPOD_RATE_PER_MINUTE": "60000",
        # No gpuhunt catalogs unless a test serves them (tests/test_quotes_gpuhunt.py).
        "CAPCOVER_GPUHUNT_PROVIDERS": "",
        "CAPCOVER_HTTP_RETRY_BUDGET_S": "5",
        "CAPCOVER_HTTP_READ_TIMEOUT_S": "5",
        "CAPCOVER_LOCK_BUDGET_S": "2",
    }
    for k, v in values.items():
        monkeypatch.setenv(k, v)
    return values


@pytest.fixture
def settings(env):
    from config.settings import load_settings

    return load_settings()


def table_snapshot(db_path: str) -> dict[str, list]:
    """Every typed table's rows and the reports, for before/after comparisons."""
    from warehouse.db import open_warehouse

    if not Path(db_path).exists():
        return {}
    out = {}
    with open_warehouse(db_path, read_only=True) as wh:
        for t in ("category_snapshots", "coin_snapshots", "gpu_quotes", "report_daily",
                  "raw_http", "quarantine"):
            out[t] = sorted(wh.query(f"SELECT * FROM {t}"), key=repr)  # noqa: S608
    return out


@pytest.fixture
def fault(env, monkeypatch):
    """A scriptable fault-injecting CoinGecko (tests/fault_server.py) that settings point at."""
    from tests.fault_server import FaultServer

    server = FaultServer()
    monkeypatch.setenv("CAPCOVER_COINGECKO_BASE_URL", server.base_url)
    yield server
    server.close()
