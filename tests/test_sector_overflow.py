"""A number CoinGecko sends beyond any market never reaches the warehouse's exact sums
(`sum(x::DECIMAL(38, 6))`, which DuckDB cannot hold past ~1e32): a coin's cap, FDV or volume
above the sector band is quarantined with the reason and the run reports; so is a figure of
one of several categories; the one category's own reported cap or volume above it fails the run
in one line, the warehouse unchanged; never DuckDB's raw "Conversion Error" (red team D10, #20)."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from capcover.config.settings import load_settings
from capcover.fakeapi.coingecko import coin
from capcover.flows.rebuild import rebuild
from capcover.flows.sequence import run_daily
from capcover.model.plausibility import ImplausibleData
from capcover.warehouse.db import open_warehouse
from tests.conftest import category_payload, table_snapshot

# Beyond the default band's top (1e14), up to the largest doubles JSON can carry.
HUGE = st.integers(15, 308).map(lambda e: float(f"1e{e}")) | st.floats(
    min_value=1.01e14, max_value=1.7e308, allow_nan=False, allow_infinity=False
)
FIELD = st.sampled_from(["market_cap", "fully_diluted_valuation", "total_volume"])
NOW = datetime.now(UTC).isoformat()

SLOW = settings(
    max_examples=12,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


@SLOW
@given(value=HUGE, name=FIELD)
def test_sector_overflow_a_coin_beyond_any_market_is_quarantined_and_the_run_reports(
    fake_cg, env, value, name
):
    fake_cg.clear()
    coins = [coin(i, 1e9 / i) for i in range(1, 10)]
    coins.append({**coin(10, 1e6), "id": "junk", name: value})
    fake_cg.serve(categories=category_payload(updated_at=NOW), pages=[coins])
    result = run_daily(load_settings())
    assert result.reports and result.sector_market_cap_usd == 25e9
    with open_warehouse(env["CAPCOVER_DB"], read_only=True) as wh:
        held = wh.query(
            "SELECT reason FROM quarantine WHERE run_id = ? AND record_key = 'junk'",
            [result.run_id],
        )
        stored = wh.scalar(
            "SELECT count(*) FROM coin_snapshots WHERE coin_id = 'junk' AND run_id = ?",
            [result.run_id],
        )
    (reason,) = [r for (r,) in held]
    assert reason.startswith("coin junk: ") and "above the sector band's top" in reason
    assert stored == 0


@SLOW
@given(value=HUGE, name=st.sampled_from(["market_cap", "volume_24h"]))
def test_sector_overflow_a_category_beyond_any_market_fails_the_run_in_one_line(
    fake_cg, env, value, name
):
    fake_cg.clear()
    categories = category_payload(updated_at=NOW)
    categories[1] = {**categories[1], name: value}
    fake_cg.serve(categories=categories)
    before = table_snapshot(env["CAPCOVER_DB"]) if _exists(env) else None
    with pytest.raises(ImplausibleData) as info:
        run_daily(load_settings())
    text = str(info.value)
    assert "\n" not in text and "Conversion" not in text
    if name == "market_cap":  # one category: its cap is the headline
        assert re.search(
            r"^\d{4}-\d\d-\d\d: sector market cap \$\S+ is outside the plausible band", text
        )
    else:
        assert "category artificial-intelligence: reported 24h volume $" in text
    if before is not None:
        after = table_snapshot(env["CAPCOVER_DB"])
        assert {k: v for k, v in after.items() if k != "runs"} == {
            k: v for k, v in before.items() if k != "runs"
        }


def _exists(env) -> bool:
    from pathlib import Path

    return Path(env["CAPCOVER_DB"]).exists()


@SLOW
@given(value=HUGE, name=st.sampled_from(["market_cap", "volume_24h"]))
def test_sector_overflow_one_of_several_categories_beyond_any_market_is_quarantined(
    fake_cg, env, monkeypatch, value, name
):
    from capcover.fakeapi.coingecko import AI

    fake_cg.clear()
    other = {**category_payload(updated_at=NOW)[1], "id": "ai-agents", name: value}
    categories = category_payload(updated_at=NOW, extra=[other])
    fake_cg.serve(categories=categories)
    fake_cg.serve(categories=categories, pages=[[coin(1, 1e9)]], category="ai-agents")
    monkeypatch.setenv("CAPCOVER_CATEGORIES", f"{AI},ai-agents")
    result = run_daily(load_settings())
    assert result.reports  # the headline is the union of the two categories' coins
    what = "market cap" if name == "market_cap" else "24h volume"
    with open_warehouse(env["CAPCOVER_DB"], read_only=True) as wh:
        held = wh.query(
            "SELECT record_key, reason FROM quarantine WHERE run_id = ? AND source = 'coingecko'",
            [result.run_id],
        )
        stored = wh.query(
            "SELECT market_cap_usd, volume_24h_usd FROM category_snapshots"
            " WHERE run_id = ? AND category_id = 'ai-agents'",
            [result.run_id],
        )
    assert [k for k, _ in held] == ["ai-agents"]
    assert held[0][1].startswith(f"category ai-agents: reported {what} $")
    (cap, vol) = stored[0]
    assert (cap is None) == (name == "market_cap") and (vol is None) == (name == "volume_24h")
    # rebuild replays the archived answer through the same hold: the same rows
    before = table_snapshot(env["CAPCOVER_DB"])["report_daily"]
    rebuild(load_settings())
    assert table_snapshot(env["CAPCOVER_DB"])["report_daily"] == before
