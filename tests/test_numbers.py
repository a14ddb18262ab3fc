"""Numbers checked at every stage (docs/threat-model.md, "Numbers"): a report row is stored only
with every number finite and a plausible unit price, whatever produced it (a quote of 1e-300
included); one coin far outside any market is quarantined with its reason instead of entering
the constituents and the explanations; the backfill holds back days and rows under the same
sector band and move guard as daily runs; and rebuild applies the same rules.
"""

from __future__ import annotations

import io
import math
import os
from dataclasses import asdict
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from capcover.cli.main import main
from capcover.config.defaults import SCENARIO_BOUNDS
from capcover.config.settings import load_settings
from capcover.fakeapi.coingecko import AI, CoinGecko, category_payload, chart, market_pages
from capcover.flows.backfill import run_backfill
from capcover.flows.rebuild import rebuild
from capcover.flows.sequence import run_daily
from capcover.model.plausibility import (
    COIN_OVER_CATEGORY,
    UNIT_PRICE_RANGE_USD,
    coin_problem,
    row_problem,
)
from capcover.model.report import SectorInputs, build_reports, price_stats
from capcover.model.scenarios import Scenario
from capcover.warehouse.db import open_warehouse

FINITE_POSITIVE = st.floats(min_value=5e-324, max_value=1.7e308, allow_nan=False)


def test_numbers_the_unit_price_range_is_the_scenario_bound():
    b = SCENARIO_BOUNDS["price.unit_price_usd"]
    assert (b.low, b.high) == UNIT_PRICE_RANGE_USD


@settings(derandomize=True, deadline=None, max_examples=400)
@given(
    cap=st.floats(min_value=1e6, max_value=1e14),
    count=st.integers(1, 10**9),
    price=FINITE_POSITIVE,
    multiplier=st.floats(min_value=1e-3, max_value=1e3),
)
def test_numbers_a_row_is_stored_only_with_finite_numbers_and_a_plausible_price(
    cap, count, price, multiplier
):
    sector = SectorInputs(
        report_date=datetime(2024, 4, 3).date(),
        basis="category",
        categories=AI,
        sector_market_cap_usd=cap,
        sector_volume_24h_usd=None,
        constituents_count=1,
        constituents_market_cap_usd=cap,
        constituents_fdv_usd=None,
        constituents_volume_24h_usd=None,
        market_as_of=datetime(2024, 4, 3, tzinfo=UTC),
        fetched_at=datetime(2024, 4, 3, tzinfo=UTC),
    )
    scenario = Scenario.model_validate(
        {
            "name": "probe",
            "gpu_sku": "H100",
            "gpu_count": count,
            "price": {"kind": "fixed", "unit_price_usd": price, "multiplier": multiplier},
        }
    )
    rows, skipped = build_reports(sector, [scenario], price_stats([]), "run")
    if not rows:  # a price that underflows to 0: no row at all, with the reason
        assert skipped[0][0] == "probe" and "must be positive" in skipped[0][1]
        return
    (row,) = rows
    numbers = [v for v in asdict(row).values() if isinstance(v, float)]
    plausible = all(math.isfinite(v) for v in numbers) and (
        UNIT_PRICE_RANGE_USD[0] <= row.unit_price_usd <= UNIT_PRICE_RANGE_USD[1]
    )
    problem = row_problem(row)
    assert (problem is None) == plausible, problem
    if problem:
        assert problem.startswith("probe: ") and "\n" not in problem


MONEY = st.none() | st.floats(min_value=0, max_value=1e300) | st.sampled_from([math.inf])


@settings(derandomize=True, deadline=None, max_examples=400)
@given(cap=MONEY, fdv=MONEY, volume=MONEY, category=st.floats(min_value=1e6, max_value=1e14))
def test_numbers_a_coin_is_kept_only_inside_the_band_and_its_category(cap, fdv, volume, category):
    high = 1e14
    problem = coin_problem(
        "c", market_cap_usd=cap, fdv_usd=fdv, volume_24h_usd=volume, category_cap_usd=category,
        high_usd=high,
    )  # fmt: skip
    inside = all(v is None or (math.isfinite(v) and v <= high) for v in (cap, fdv, volume))
    inside = inside and not (cap and cap > COIN_OVER_CATEGORY * category)
    assert (problem is None) == inside


# -- a whole daily run -----------------------------------------------------------------------


def test_numbers_one_coin_at_1e30_is_quarantined_not_explained(fake_cg, settings, capsys):
    pages = market_pages()
    pages[0][3] = {**pages[0][3], "market_cap": 1e30, "fully_diluted_valuation": 1e30}
    fake_cg.serve(pages=pages)
    result = run_daily(settings)
    assert result.reports
    with open_warehouse(settings.db, read_only=True) as wh:
        stored = wh.query("SELECT coin_id FROM coin_snapshots WHERE market_cap_usd > 1e14")
        held = wh.query("SELECT record_key, reason FROM quarantine WHERE source = 'coingecko'")
        sums = wh.query("SELECT constituents_market_cap_usd FROM report_daily")
    coin_id = pages[0][3]["id"]
    assert stored == []
    assert (coin_id, f"coin {coin_id}: market cap $1e+30 is above the sector band's top ") in [
        (k, r[: len(f"coin {coin_id}: market cap $1e+30 is above the sector band's top ")])
        for k, r in held
    ]
    assert all(s < 1e14 for (s,) in sums)


def test_numbers_a_quote_of_1e_300_stores_no_infinite_ratio_and_html_still_renders(
    fake_cg, env, monkeypatch, tmp_path, capsys
):
    quotes = tmp_path / "mine.toml"
    quotes.write_text(
        'version = 1\n[[quote]]\nobserved = 2024-04-02\nsource = "garbage feed"\n'
        'sku_label = "H800"\nsku = "H800"\nprice = 1e-300\n',
        encoding="utf-8",
    )
    config = tmp_path / "c.toml"
    config.write_text(
        '[[scenario]]\nname = "h800-tiny"\ngpu_sku = "H800"\ngpu_count = 720000\n'
        'price = { kind = "purchase" }\n',
        encoding="utf-8",
    )
    monkeypatch.setenv("CAPCOVER_QUOTES_FILE", str(quotes))
    monkeypatch.setenv("CAPCOVER_CONFIG", str(config))
    fake_cg.serve()
    result = run_daily(load_settings())
    assert "h800-tiny" in dict(result.skipped)
    with open_warehouse(env["CAPCOVER_DB"], read_only=True) as wh:
        cols, rows = wh.query_table("SELECT * FROM report_daily")
        (reason,) = wh.query(
            "SELECT reason FROM quarantine WHERE source = 'model' AND record_key LIKE '%h800-tiny'"
        )[0]
    for row in rows:
        for value in row:
            assert not (isinstance(value, float) and not math.isfinite(value)), row
    assert "h800-tiny" not in {r[cols.index("scenario")] for r in rows}
    assert "not a finite number" in reason or "outside $0.01..$1e+09" in reason
    html = tmp_path / "r.html"
    assert main(["report", "--html", str(html)]) == 0
    assert html.read_text(encoding="utf-8").count("<svg") >= 1


def test_numbers_rebuild_applies_the_same_rules(fake_cg, settings):
    pages = market_pages()
    pages[0][3] = {**pages[0][3], "market_cap": 1e30}
    fake_cg.serve(pages=pages)
    run_daily(settings)
    with open_warehouse(settings.db, read_only=True) as wh:
        before = sorted(wh.query("SELECT * FROM quarantine"), key=repr)
        reports = sorted(wh.query("SELECT * FROM report_daily"), key=repr)
    rebuild(settings)
    with open_warehouse(settings.db, read_only=True) as wh:
        assert sorted(wh.query("SELECT * FROM quarantine"), key=repr) == before
        assert sorted(wh.query("SELECT * FROM report_daily"), key=repr) == reports


# -- the backfill, under the same band and guard ----------------------------------------------


@pytest.fixture
def backfill_env(tmp_path, monkeypatch):
    for key in list(os.environ):
        if key.startswith("CAPCOVER_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("CAPCOVER_DB", str(tmp_path / "capcover.duckdb"))
    monkeypatch.setenv("CAPCOVER_LOCK_BUDGET_S", "5")
    monkeypatch.setenv("CAPCOVER_GPUHUNT_PROVIDERS", "")
    return monkeypatch


def _quiet():
    from rich.console import Console

    return Console(file=io.StringIO(), force_terminal=False)


@settings(
    derandomize=True,
    deadline=None,
    max_examples=6,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    spikes=st.dictionaries(
        st.integers(2, 27), st.sampled_from([1e15, 1e20, 1e12, 1e-3]), min_size=1, max_size=3
    )
)
def test_numbers_backfill_holds_back_days_outside_the_band_and_implausible_moves(
    backfill_env, tmp_path_factory, spikes
):
    db = tmp_path_factory.mktemp("bf") / "capcover.duckdb"
    backfill_env.setenv("CAPCOVER_DB", str(db))

    def spiked(coin_id: str, days: int) -> dict:
        body = chart(int(coin_id[-3:]), days)
        if coin_id == "ai-coin-001":
            for k, factor in spikes.items():
                if k < len(body["market_caps"]) - 1:
                    body["market_caps"][k][1] = factor
        return body

    with CoinGecko.charts(n_coins=4) as srv:
        srv.chart = spiked
        backfill_env.setenv("CAPCOVER_COINGECKO_BASE_URL", srv.base_url)
        backfill_env.setenv("CAPCOVER_COINGECKO_RATE_PER_MINUTE", "60000")
        result = run_backfill(load_settings(), 30, console=_quiet())
    with open_warehouse(db, read_only=True) as wh:
        ratios = wh.query(
            "SELECT report_date, coverage_ratio FROM report_daily"
            " WHERE scenario = 'coindesk-2024' ORDER BY report_date"
        )
        sums = wh.query("SELECT max(sector_market_cap_usd) FROM report_daily")[0][0]
        # a point above the band's top is held as a coin (N2, as in the daily run), a day or a
        # move as the model's
        held = wh.query(
            "SELECT record_key, reason FROM quarantine WHERE source IN ('model', 'coingecko')"
        )
    assert result.held_back == len(held) > 0
    assert sums <= 1e14  # no day outside the band was reported
    for (_, a), (_, b) in zip(ratios, ratios[1:], strict=False):
        assert max(a / b, b / a) <= 10  # no reported move beyond CAPCOVER_MAX_DAILY_MOVE
    assert all("\n" not in r for _, r in held)
    assert any(
        "outside the plausible band" in r or "moved x" in r or "above the sector band's top" in r
        for _, r in held
    )


def test_numbers_a_day_over_the_band_in_the_backfill_does_not_fail_the_job(backfill_env):
    def spiked(coin_id: str, days: int) -> dict:
        body = chart(int(coin_id[-3:]), days)
        if coin_id in ("ai-coin-001", "ai-coin-002"):
            # each coin within the band's top (a coin above it is held alone, N2), the day's
            # sum above it (N1: the day is held back)
            body["market_caps"][5][1] = 6e13
        return body

    with CoinGecko.charts(n_coins=3) as srv:
        srv.chart = spiked
        backfill_env.setenv("CAPCOVER_COINGECKO_BASE_URL", srv.base_url)
        backfill_env.setenv("CAPCOVER_COINGECKO_RATE_PER_MINUTE", "60000")
        result = run_backfill(load_settings(), 20, console=_quiet())
    assert (result.days_reported, result.held_back) == (19, 1)  # the other days all count
    assert "held back" in result.summary_text()
    assert category_payload() and AI  # the fake's shapes, as in daily runs
