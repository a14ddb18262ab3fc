"""The daily run's coin rules hold for backfilled points too (red team D-12): a market chart
value below 0 is no value (like a non-finite one: the live parser refuses negative caps), and
a point above the sector band's top is held back by the live rule's own function
(model/plausibility.py `coin_problem`); neither is ever summed into a day's sector cap."""

from __future__ import annotations

import math
import os

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from capcover.config.settings import load_settings
from capcover.fakeapi.coingecko import CoinGecko, chart
from capcover.flows.backfill import run_backfill
from capcover.ingest.history import parse_market_chart
from capcover.ingest.models import CoinMarket
from capcover.model.plausibility import coin_problem
from capcover.warehouse.db import open_warehouse
from tests.test_backfill import quiet_console
from tests.test_history_bulk import _raw

HIGH = 1e14
VALUES = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(min_value=-1e15, max_value=1e15),
    st.sampled_from([0.0, -0.0, -1e9, HIGH, math.nextafter(HIGH, math.inf)]),
)


@given(value=VALUES)
def test_backfill_coin_rule_live_and_history_agree_on_every_value(value):
    # live: the parser (CoinMarket) and the coin rule; history: the chart parser, then the
    # coin rule on what it kept
    try:
        live = CoinMarket.model_validate({"id": "x", "market_cap": value}).market_cap_usd
    except ValidationError:
        live = None
    live_ok = live is not None and coin_problem(
        "x", market_cap_usd=live, fdv_usd=None, volume_24h_usd=None, category_cap_usd=None,
        high_usd=HIGH,
    ) is None  # fmt: skip
    body = (
        f'{{"market_caps": [[0, {_json(value)}]], "prices": [[0, 1]], "total_volumes": [[0, 1]]}}'
    )
    (point,) = parse_market_chart(_raw("x", body), "x")
    kept = point.market_cap_usd
    history_ok = kept is not None and coin_problem(
        "x", market_cap_usd=kept, fdv_usd=None, volume_24h_usd=None, category_cap_usd=None,
        high_usd=HIGH,
    ) is None  # fmt: skip

    assert live_ok == history_ok, (value, live, kept)
    assert not history_ok or (kept is not None and 0 <= kept <= HIGH)


def _json(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return repr(value)


@pytest.fixture
def chart_env(tmp_path, monkeypatch):
    for key in list(os.environ):
        if key.startswith("CAPCOVER_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("CAPCOVER_DB", str(tmp_path / "capcover.duckdb"))
    monkeypatch.setenv("CAPCOVER_HTTP_RETRY_BUDGET_S", "10")
    monkeypatch.setenv("CAPCOVER_SECTOR_CAP_MAX_USD", str(HIGH))


def test_backfill_coin_rule_negative_and_above_band_points_are_never_summed(chart_env, monkeypatch):
    with CoinGecko.charts(6) as srv:
        monkeypatch.setenv("CAPCOVER_COINGECKO_BASE_URL", srv.base_url)
        monkeypatch.setenv("CAPCOVER_COINGECKO_RATE_PER_MINUTE", "60000")

        def hostile(cid, days):
            c = chart(int(cid[-3:]), days)
            if cid.endswith("004"):
                c["market_caps"][7][1] = -1e9  # a negative cap
            if cid.endswith("002"):
                c["market_caps"][9][1] = 5e14  # above the band's top (N2)
            return c

        srv.chart = hostile
        run_backfill(load_settings(), 30, console=quiet_console())

    with open_warehouse(load_settings().db, read_only=True) as wh:
        negative = wh.scalar("SELECT count(*) FROM coin_history WHERE market_cap_usd < 0")
        held = wh.query("SELECT record_key, reason FROM quarantine WHERE source = 'coingecko'")
        sums = dict(
            wh.query(
                "SELECT report_date, sector_market_cap_usd FROM report_daily"
                " WHERE scenario = 'coindesk-2024'"
            )
        )
        rows = wh.query("SELECT coin_id, day, market_cap_usd FROM coin_history")
    assert negative == 0
    ((key, reason),) = held
    assert key.startswith("ai-coin-002/") and "above the sector band's top" in reason
    held_day = key.split("/")[1]
    by_day: dict[str, float] = {}
    for coin, day, cap in rows:
        if cap is not None and not (coin == "ai-coin-002" and str(day) == held_day):
            by_day[str(day)] = by_day.get(str(day), 0.0) + cap
    for day, total in sums.items():
        assert total == pytest.approx(by_day[str(day)], rel=1e-9), day  # no negative, no held
