"""The fault matrix: every fault CoinGecko is known to throw, against a real local server.

Each case asserts the outcome — recovered with the right data, or failed with one clear line and
the warehouse unchanged — and the number of HTTP attempts the server saw. Sleeps are recorded
instead of slept (CoinGeckoClient(sleep=...)), so honoured waits are asserted, not waited for.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest

from capcover.config.settings import load_settings
from capcover.fakeapi import CLOUDFLARE_HTML, Reply, Reset, Slow, Truncated
from capcover.fakeapi.coingecko import CoinGecko
from capcover.flows import sequence as pipeline
from capcover.flows.clients import Clients
from capcover.ingest.errors import (
    AuthError,
    BadPayload,
    NotFound,
    PlanLimited,
    RateLimited,
    RetryBudgetExhausted,
    StatusError,
)
from capcover.warehouse.db import open_warehouse
from tests.conftest import AI, category_payload, market_pages, reference, table_snapshot

CATS, MARKETS = "/coins/categories", "/coins/markets"
RATIO = 25e9 / 21.6e9  # coindesk-2024 for the default 25B category cap
COINS = 260  # market_pages(): 260 distinct coins over 2 pages, one repeated across pages
# Paging reads until an empty page: two pages of coins, then the empty third.
ERR_429 = reference("error_429_rate_limit.json")["payload"]


@pytest.fixture
def sleeps() -> list[float]:
    """The retry waits a run asked for (recorded by its clients instead of slept)."""
    return []


def _run(settings, sleeps: list[float]):
    """The plain daily run with clients built from `settings` that record their sleeps."""
    return pipeline.run_daily(settings, clients=Clients(settings, sleep=sleeps.append))


def _records(mutate: Callable[[list[dict]], None]) -> Callable[[CoinGecko], None]:
    def apply(server: CoinGecko) -> None:
        pages = copy.deepcopy(server.pages)
        mutate(pages)
        server.pages = pages

    return apply


def _categories(mutate: Callable[[list[dict]], object]) -> Callable[[CoinGecko], None]:
    def apply(server: CoinGecko) -> None:
        cats = copy.deepcopy(server.categories)
        mutate(cats)
        server.categories = cats

    return apply


def _ai(cats: list[dict]) -> dict:
    return next(c for c in cats if c["id"] == AI)


def _rename(pages, old, new):
    for page in pages:
        for rec in page:
            if old in rec:  # the coin repeated across pages is one shared record
                rec[new] = rec.pop(old)


def _reset_in(seconds: int) -> str:
    return (datetime.now(UTC) + timedelta(seconds=seconds)).strftime("%Y-%m-%d %H:%M:%S +0000")


@dataclass
class Case:
    name: str
    # (endpoint, page or None, actions); a callable is called when the case runs (fresh times)
    faults: list[tuple[str, int | None, list]] | Callable[[], list] = field(default_factory=list)
    change: Callable[[CoinGecko], None] | None = None
    env: dict[str, str] = field(default_factory=dict)
    error: type[Exception] | None = None  # None: the run must recover
    message: str = ""  # regex the one-line error must match
    attempts: dict[str, int] = field(default_factory=dict)
    coins: int = COINS
    quarantined: int = 0
    min_sleep: float = 0.0  # the longest recorded sleep must honour the server's wait

    def __str__(self) -> str:
        return self.name


CASES = [
    # -- recovered --------------------------------------------------------------------------
    Case(
        "429_retry_after",
        [(CATS, None, [Reply(ERR_429, 429, {"Retry-After": "1"})])],
        attempts={CATS: 2, MARKETS: 3},
        min_sleep=1.0,
    ),
    Case(
        "429_without_retry_after",
        [(CATS, None, [Reply(ERR_429, 429)])],
        attempts={CATS: 2, MARKETS: 3},
    ),
    Case(
        "429_x_ratelimit_reset",
        lambda: [
            (
                MARKETS,
                2,
                [
                    Reply(
                        ERR_429,
                        429,
                        {
                            "x-ratelimit-limit": "30",
                            "x-ratelimit-remaining": "0",
                            "x-ratelimit-reset": _reset_in(30),
                        },
                    )
                ],
            )
        ],  # sleeps are recorded, not slept
        env={"CAPCOVER_HTTP_RETRY_BUDGET_S": "100"},
        attempts={CATS: 1, MARKETS: 4},
        min_sleep=20.0,
    ),
    Case(
        "429_cloudflare_html",
        [(CATS, None, [Reply(raw=CLOUDFLARE_HTML, status=429, content_type="text/html")])],
        attempts={CATS: 2, MARKETS: 3},
    ),
    Case(
        "5xx_burst_500_502_503",
        [
            (
                MARKETS,
                1,
                [
                    Reply({"error": "internal"}, 500),
                    Reply(raw="Bad Gateway", status=502, content_type="text/plain"),
                    Reply(raw=CLOUDFLARE_HTML, status=503, content_type="text/html"),
                ],
            )
        ],
        attempts={CATS: 1, MARKETS: 6},
    ),
    Case(
        "read_timeout",
        [(CATS, None, [Slow(4)])],
        env={"CAPCOVER_HTTP_READ_TIMEOUT_S": "1.5"},
        attempts={CATS: 2, MARKETS: 3},
    ),
    Case("connection_reset", [(CATS, None, [Reset()])], attempts={CATS: 2, MARKETS: 3}),
    Case("body_dropped_half_way", [(MARKETS, 2, [Truncated()])], attempts={CATS: 1, MARKETS: 4}),
    Case("duplicates_across_pages", attempts={CATS: 1, MARKETS: 3}),  # one coin on both pages
    Case(
        "nulls_and_zeros",
        change=_records(
            lambda p: p[0][5].update(
                {
                    k: None
                    for k in (
                        "current_price",
                        "market_cap",
                        "fully_diluted_valuation",
                        "total_volume",
                        "circulating_supply",
                        "total_supply",
                        "max_supply",
                        "market_cap_rank",
                        "last_updated",
                    )
                }
            )
        ),
        attempts={CATS: 1, MARKETS: 3},
    ),
    Case(
        "type_change_numbers_as_strings",
        change=_records(
            lambda p: [
                r.update(market_cap=str(r["market_cap"])) for pg in p for r in pg if r["market_cap"]
            ]
        ),
        attempts={CATS: 1, MARKETS: 3},
    ),
    Case(
        "type_change_in_one_record",
        change=_records(lambda p: p[0][3].update(market_cap="n/a")),
        attempts={CATS: 1, MARKETS: 3},
        coins=COINS - 1,
        quarantined=1,
    ),
    Case(
        "negative_value_quarantined",
        change=_records(lambda p: p[0][7].update(market_cap=-5e6)),
        attempts={CATS: 1, MARKETS: 3},
        coins=COINS - 1,
        quarantined=1,
    ),
    Case(
        "missing_field_in_one_record",
        change=_records(lambda p: p[1][4].pop("market_cap")),
        attempts={CATS: 1, MARKETS: 3},
        coins=COINS - 1,
        quarantined=1,
    ),
    Case(
        "missing_id_in_one_record",
        change=_records(lambda p: p[0][9].pop("id")),
        attempts={CATS: 1, MARKETS: 3},
        coins=COINS - 1,
        quarantined=1,
    ),
    Case(
        "unknown_new_fields_kept_in_archive",
        change=_records(lambda p: [r.update(ai_score={"v": 2}) for pg in p for r in pg]),
        attempts={CATS: 1, MARKETS: 3},
    ),
    # -- failed cleanly, warehouse unchanged -----------------------------------------------------
    Case(
        "503_persistent",
        [(CATS, None, [Reply({"error": "down"}, 503)] * 20)],
        env={"CAPCOVER_HTTP_RETRY_BUDGET_S": "86400"},
        error=StatusError,
        message=r"coingecko /coins/categories: HTTP 503.*gave up after 8 attempt",
        attempts={CATS: 8, MARKETS: 0},
    ),
    Case(
        "429_retry_after_beyond_budget",
        [(CATS, None, [Reply(ERR_429, 429, {"Retry-After": "119"})])],
        error=RateLimited,
        message=r"HTTP 429.*server asked to wait 119 s.*CAPCOVER_HTTP_RETRY_BUDGET_S",
        attempts={CATS: 1, MARKETS: 0},
    ),
    Case(
        "connection_reset_persistent",
        [(CATS, None, [Reset()] * 20)],
        env={"CAPCOVER_HTTP_RETRY_BUDGET_S": "86400"},
        error=RetryBudgetExhausted,
        message=r"coingecko /coins/categories: connection failed.*gave up after 8 attempt",
        attempts={CATS: 8, MARKETS: 0},
    ),
    Case(
        "html_with_200",
        [(CATS, None, [Reply(raw=CLOUDFLARE_HTML, content_type="text/html")])],
        error=BadPayload,
        message=r"/coins/categories: expected JSON, got an HTML page",
        attempts={CATS: 1, MARKETS: 0},
    ),
    Case(
        "html_with_200_on_page_2",
        [(MARKETS, 2, [Reply(raw=CLOUDFLARE_HTML, content_type="text/html")])],
        error=BadPayload,
        message=r"/coins/markets: expected JSON, got an HTML page",
        attempts={CATS: 1, MARKETS: 2},
    ),
    Case(
        "truncated_json",
        [(MARKETS, 1, [Reply(raw=json.dumps(market_pages()[0])[:5000])])],
        error=BadPayload,
        message=r"/coins/markets: expected JSON, got invalid JSON",
        attempts={CATS: 1, MARKETS: 1},
    ),
    Case(
        "type_change_top_level",
        [(MARKETS, 1, [Reply({"coins": market_pages()[0]})])],
        error=BadPayload,
        message=r"/coins/markets: expected a JSON list, got dict",
        attempts={CATS: 1, MARKETS: 1},
    ),
    Case(
        "empty_categories_list",
        [(CATS, None, [Reply([])])],
        error=BadPayload,
        message=r"/coins/categories: the API returned an empty list",
        attempts={CATS: 1, MARKETS: 0},
    ),
    Case(
        "empty_constituents_list",
        [(MARKETS, 1, [Reply([])])],
        error=BadPayload,
        message=rf"/coins/markets: category '{AI}' has zero usable constituents",
        attempts={CATS: 1, MARKETS: 1},
    ),
    Case(
        "all_constituents_bad",
        change=_records(lambda p: [r.update(market_cap=-1.0) for pg in p for r in pg]),
        error=BadPayload,
        message=r"zero usable constituents \(261 quarantined\)",
        attempts={CATS: 1, MARKETS: 3},
    ),
    Case(
        "missing_field_everywhere",
        change=_categories(lambda cats: [c.pop("updated_at") for c in cats]),
        error=BadPayload,
        message=r"/coins/categories: no record has required field\(s\) updated_at",
        attempts={CATS: 1, MARKETS: 0},
    ),
    Case(
        "renamed_field",
        change=_records(lambda p: _rename(p, "market_cap", "marketCap")),
        error=BadPayload,
        message=r"/coins/markets: no record has required field\(s\) market_cap",
        attempts={CATS: 1, MARKETS: 3},
    ),  # judged once every page is in
    Case(
        "category_cap_null",
        change=_categories(lambda c: _ai(c).update(market_cap=None)),
        error=BadPayload,
        message=rf"category '{AI}' reports market cap None",
        attempts={CATS: 1, MARKETS: 0},
    ),
    Case(
        "category_cap_zero",
        change=_categories(lambda c: _ai(c).update(market_cap=0)),
        error=BadPayload,
        message=rf"category '{AI}' reports market cap 0",
        attempts={CATS: 1, MARKETS: 0},
    ),
    Case(
        "category_cap_negative",
        change=_categories(lambda c: _ai(c).update(market_cap=-25e9)),
        error=BadPayload,
        message=rf"category '{AI}' is malformed \(market_cap: Input should be greater",
        attempts={CATS: 1, MARKETS: 0},
    ),
    Case(
        "unknown_category_id",
        env={"CAPCOVER_CATEGORIES": "no-such-category"},
        error=NotFound,
        message=r"category 'no-such-category' not found",
        attempts={CATS: 1, MARKETS: 0},
    ),
    Case(
        "error_10012",
        [(MARKETS, 1, [Reply(reference("error_10012_history_beyond_365d.json")["payload"], 401)])],
        error=PlanLimited,
        message=r"/coins/markets: HTTP 401 \(error 10012\): Your request exceeds",
        attempts={CATS: 1, MARKETS: 1},
    ),
    Case(
        "error_10005",
        [(CATS, None, [Reply(reference("error_10005_pro_only.json")["payload"], 400)])],
        error=PlanLimited,
        message=r"HTTP 400 \(error 10005\): This request is limited to PRO API subscribers",
        attempts={CATS: 1, MARKETS: 0},
    ),
    Case(
        "wrong_key_401",
        [
            (
                CATS,
                None,
                [Reply({"status": {"error_code": 10010, "error_message": "Invalid API Key"}}, 401)],
            )
        ],
        error=AuthError,
        message=r"HTTP 401 \(error 10010\): Invalid API Key — check CAPCOVER_COINGECKO_PLAN",
        attempts={CATS: 1, MARKETS: 0},
    ),
]


def _baseline(fault: CoinGecko) -> dict:
    """A good run for the day before, so 'unchanged' means something."""
    today_cats, today_pages = fault.categories, fault.pages
    fault.categories = category_payload(cap=24e9, updated_at="2024-04-02T06:00:00Z")
    pipeline.run_daily(load_settings())
    fault.categories, fault.pages = today_cats, today_pages
    fault.clear_log()
    return table_snapshot(load_settings().db)


@pytest.mark.parametrize("case", CASES, ids=str)
def test_fault_matrix_outcome_and_attempts(case: Case, fault, fake_feeds, sleeps, monkeypatch):
    before = _baseline(fault)
    fake_feeds.api.clear_log()
    sleeps.clear()
    for name, value in case.env.items():
        monkeypatch.setenv(name, value)
    if case.change:
        case.change(fault)
    for endpoint, page, actions in case.faults() if callable(case.faults) else case.faults:
        fault.script(endpoint, *actions, page=page)
    settings = load_settings()

    if case.error is not None:
        with pytest.raises(case.error) as info:
            _run(settings, sleeps)
        text = str(info.value)
        assert "\n" not in text
        assert re.search(case.message, text), text
        assert table_snapshot(settings.db) == before  # nothing changed
        with open_warehouse(settings.db, read_only=True) as wh:
            status, message = wh.query(
                "SELECT status, message FROM runs ORDER BY started_at DESC LIMIT 1"
            )[0]
        assert status == "failed" and message == text[:500]
    else:
        result = _run(settings, sleeps)
        assert result.as_of_date.isoformat() == "2024-04-03"
        # every request of the run: CoinGecko's and the quote feeds' (Vast.ai, RunPod)
        assert result.http_requests == len(fault.log) + len(fake_feeds.api.log)
        with open_warehouse(settings.db, read_only=True) as wh:
            ratio = wh.scalar(
                "SELECT coverage_ratio FROM report_daily WHERE "
                "report_date = '2024-04-03' AND scenario = 'coindesk-2024'"
            )
            coins = wh.scalar("SELECT count(*) FROM coin_snapshots WHERE as_of_date = '2024-04-03'")
            runs_q = wh.scalar("SELECT quarantined FROM runs WHERE run_id = ?", [result.run_id])
            stored_q = wh.query(
                "SELECT source, reason, record_json FROM quarantine WHERE run_id = ?",
                [result.run_id],
            )
            bodies = wh.query(
                "SELECT body FROM raw_http WHERE run_id = ? AND endpoint = ?",
                [result.run_id, MARKETS],
            )
        assert ratio == RATIO
        assert coins == case.coins
        # GPU feeds (other fakes) may quarantine offers of their own; count CoinGecko's here.
        assert result.quarantined == runs_q == len(stored_q) == result.summary()["quarantined"]
        assert sum(1 for q in stored_q if q[0] == "coingecko") == case.quarantined
        assert result.duplicates_dropped == 1
        for _, reason, record in stored_q:
            assert reason and json.loads(record)  # why, and the record as received
        if case.name == "unknown_new_fields_kept_in_archive":
            pages = [b for (b,) in bodies if b.strip() != "[]"]  # the empty page ends paging
            assert pages and all('"ai_score"' in b for b in pages)
        if case.min_sleep:
            assert max(sleeps) >= case.min_sleep
    for endpoint, expected in case.attempts.items():
        assert fault.attempts(endpoint) == expected, endpoint
