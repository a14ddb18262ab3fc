"""The sector cap, defined once: several categories give the de-duplicated union of their coins
(CoinGecko's own figures kept beside it, the gap shown); paging reads every coin whatever the
server's page size, and a category that comes back short is named in the run summary."""

from __future__ import annotations

import copy
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from capcover.config.settings import load_settings
from capcover.fakeapi.coingecko import CoinGecko, generated_categories
from capcover.flows.sequence import run_daily
from capcover.ingest.client import HttpOptions
from capcover.ingest.coingecko import CoinGeckoClient
from capcover.ingest.http import RetryPolicy
from capcover.report.summary import summary_text
from capcover.warehouse.db import open_warehouse

NOW = datetime.now(UTC).isoformat()


def overlapping(n_a: int = 300, n_b: int = 150, shared: int = 50):
    """Categories 'ai-a' and 'ai-b' whose last/first `shared` coins are the same coins."""
    cats, coins = generated_categories({"ai-a": n_a, "ai-b": n_b}, updated_at=NOW)
    coins["ai-b"][:shared] = copy.deepcopy(coins["ai-a"][-shared:])
    for cat in cats:  # each category's reported cap: the sum of its own coins, as CoinGecko's
        if cat["id"] in coins:
            cat["market_cap"] = sum(c["market_cap"] for c in coins[cat["id"]])
    return cats, coins


@pytest.fixture
def two_categories(env, monkeypatch):
    cats, coins = overlapping()
    with CoinGecko(categories=cats, coins=coins) as cg:
        monkeypatch.setenv("CAPCOVER_COINGECKO_BASE_URL", cg.base_url)
        monkeypatch.setenv("CAPCOVER_CATEGORIES", "ai-a,ai-b")
        yield cats, coins


def test_sector_two_overlapping_categories_give_the_union_of_their_coins(two_categories):
    cats, coins = two_categories
    settings = load_settings()
    result = run_daily(settings)
    union = {c["id"]: c["market_cap"] for members in coins.values() for c in members}
    assert len(union) == 300 + 150 - 50
    figures = {c["id"]: c["market_cap"] for c in cats if c["id"] in coins}
    with open_warehouse(settings.db, read_only=True) as wh:
        row = wh.query(
            "SELECT sector_market_cap_usd, constituents_market_cap_usd, constituents_count,"
            " coingecko_category_cap_usd, sector_cap_method FROM report_daily"
            " WHERE scenario = 'coindesk-2024'"
        )[0]
        (gap,) = wh.query(
            "SELECT coalesce(r.coingecko_category_cap_usd, 0) - r.constituents_market_cap_usd"
            " FROM report_daily r WHERE scenario = 'coindesk-2024'"
        )[0]
    headline, coins_sum, count, figure, method = row
    assert method == "constituent-union" and count == 400
    assert headline == coins_sum == pytest.approx(sum(union.values()), rel=1e-12)
    # CoinGecko's figures, kept beside it, count the 50 shared coins twice: the gap shows it.
    assert figure == pytest.approx(sum(figures.values()), rel=1e-12)
    shared = sum(c["market_cap"] for c in coins["ai-b"][:50])
    assert gap == pytest.approx(shared, rel=1e-9)
    text = summary_text(result, settings.db)
    assert "the union of the constituents of ai-a, ai-b, each coin once" in text
    assert f"${sum(union.values()) / 1e9:,.2f}B" in text


def test_sector_one_category_keeps_coingeckos_figure(fake_cg, settings):
    fake_cg.serve()
    run_daily(settings)
    with open_warehouse(settings.db, read_only=True) as wh:
        headline, figure, method = wh.query(
            "SELECT sector_market_cap_usd, coingecko_category_cap_usd, sector_cap_method"
            " FROM report_daily WHERE scenario = 'coindesk-2024'"
        )[0]
    assert headline == figure == 25e9 and method == "coingecko-category"


@pytest.mark.parametrize("page_size", [250, 50, 7])
def test_sector_paging_reads_every_coin_whatever_the_page_size(env, monkeypatch, page_size):
    cats, coins = generated_categories({"artificial-intelligence": 260}, updated_at=NOW)
    with CoinGecko(categories=cats, coins=coins, page_size=page_size) as cg:
        monkeypatch.setenv("CAPCOVER_COINGECKO_BASE_URL", cg.base_url)
        settings = load_settings()
        result = run_daily(settings)
        pages = -(-260 // page_size)
        assert cg.market_requests() == pages + 1  # ... and the empty page that ends it
    with open_warehouse(settings.db, read_only=True) as wh:
        assert wh.scalar("SELECT count(DISTINCT coin_id) FROM coin_snapshots") == 260
    assert result.sector_notes == []


@settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(n=st.integers(min_value=1, max_value=320), page_size=st.integers(min_value=1, max_value=260))
def test_sector_client_pages_any_book_to_its_end(n, page_size):
    cats, coins = generated_categories({"ai": n}, updated_at=NOW)
    with CoinGecko(categories=cats, coins=coins, page_size=page_size) as cg:
        client = CoinGeckoClient(
            base_url=cg.base_url,
            rate_per_minute=1e9,
            http=HttpOptions(retry=RetryPolicy(budget_s=2), sleep=lambda s: None),
        )
        snap, _records = client.fetch_sector(["ai"])
    assert len(snap.constituents["ai"]) == n and snap.paging_notes == []


def test_sector_a_server_repeating_its_first_page_is_named_as_a_shortfall(env, monkeypatch):
    cats, coins = generated_categories({"artificial-intelligence": 260}, updated_at=NOW)
    first = coins["artificial-intelligence"][:250]
    with CoinGecko(categories=cats, pages=[first] * 50) as cg:  # every page answers page 1
        monkeypatch.setenv("CAPCOVER_COINGECKO_BASE_URL", cg.base_url)
        settings = load_settings()
        result = run_daily(settings)
        assert cg.market_requests() == 2  # page 2 repeated page 1: stop, and say so
    (note,) = result.sector_notes
    assert note.startswith("'artificial-intelligence': paging stopped at page 2 before an empty")
    assert f"constituents short: {note}" in summary_text(result, settings.db)


def test_sector_fewer_constituents_than_the_known_count_are_named(env, monkeypatch):
    cats, coins = generated_categories({"artificial-intelligence": 260}, updated_at=NOW)
    day1 = copy.deepcopy(cats)
    for c in day1:
        c["updated_at"] = "2024-04-02T06:00:00Z"
    with CoinGecko(categories=day1, coins=coins) as cg:
        monkeypatch.setenv("CAPCOVER_COINGECKO_BASE_URL", cg.base_url)
        run_daily(load_settings())
        cg.categories = cats
        cg.coins = {"artificial-intelligence": coins["artificial-intelligence"][:200]}
        result = run_daily(load_settings())
    assert result.sector_notes == [
        "'artificial-intelligence': 200 constituents, 60 fewer than the 260 of 2024-04-02"
    ]


def test_sector_a_category_of_exactly_10000_coins_is_read_whole():
    # Paging used to stop at 40 pages and fail a category still full there.
    cats, coins = generated_categories({"ai": 10_000}, updated_at=NOW)
    with CoinGecko(categories=cats, coins=coins) as cg:
        client = CoinGeckoClient(
            base_url=cg.base_url,
            rate_per_minute=1e9,
            http=HttpOptions(retry=RetryPolicy(budget_s=2), sleep=lambda s: None),
        )
        snap, _records = client.fetch_sector(["ai"])
        assert cg.market_requests() == 40 + 1
    assert len(snap.constituents["ai"]) == 10_000 and snap.paging_notes == []


def test_sector_a_server_that_never_ends_fails_the_run_in_one_line(monkeypatch):
    from capcover.ingest import coingecko
    from capcover.ingest.errors import BadPayload

    monkeypatch.setattr(coingecko, "MAX_ROWS", 600)  # the guard, scaled down for a test
    cats, coins = generated_categories({"ai": 2_000}, updated_at=NOW)
    with CoinGecko(categories=cats, coins=coins) as cg:
        client = CoinGeckoClient(
            base_url=cg.base_url,
            rate_per_minute=1e9,
            http=HttpOptions(retry=RetryPolicy(budget_s=2), sleep=lambda s: None),
        )
        with pytest.raises(BadPayload) as err:
            client.fetch_sector(["ai"])
    assert str(err.value) == (
        "coingecko /coins/markets: category 'ai' still sends coins after 750 rows (3 pages), "
        "more than CoinGecko lists in all — refusing to page forever"
    )
