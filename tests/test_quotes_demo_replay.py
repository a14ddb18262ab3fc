"""The demo's replayed feeds are stamped with the replay's clock, so the replayed 2024-04-03
prices every scenario it can, h100-rent-1y included (ILLUSTRATIVE data). No Prefect here."""

from __future__ import annotations

import json
from datetime import date

from capcover.fakeapi.replay import ReplayServer
from capcover.flows.demo import (
    SNAPSHOT,
    demo_clients,
    demo_settings,
    replay_clock,
    write_demo_quotes,
)
from capcover.flows.sequence import run_daily
from capcover.warehouse.db import open_warehouse


def test_demo_replay_prices_h100_rent_1y_with_quotes_of_the_replayed_day(tmp_path):
    snapshot = json.loads(SNAPSHOT.read_text(encoding="utf-8"))
    write_demo_quotes(snapshot, tmp_path / "demo.duckdb")
    with ReplayServer(snapshot) as url:
        settings = demo_settings(url + snapshot["api_root"], tmp_path / "demo.duckdb")
        result = run_daily(settings, kind="demo", clients=demo_clients(settings, snapshot))
    assert result.as_of_date == date(2024, 4, 3)
    rent = next(r for r in result.reports if r.scenario == "h100-rent-1y")
    assert rent.price_as_of == date(2024, 4, 3) and rent.price_quote_count > 0
    assert (rent.price_form_factor, rent.price_market) == ("SXM", "on_demand")
    assert rent.coverage_ratio_low <= rent.coverage_ratio <= rent.coverage_ratio_high
    # The demo's illustrative curated quotes price every other built-in scenario.
    assert result.skipped == []
    assert {r.scenario for r in result.reports} == {s.name for s in settings.scenarios()}
    with open_warehouse(settings.db, read_only=True) as wh:
        stamped = wh.query(
            "SELECT DISTINCT source, observed_at FROM gpu_quotes"
            " WHERE source IN ('vastai', 'runpod') ORDER BY source"
        )
    assert stamped == [(s, replay_clock(snapshot)) for s in ("runpod", "vastai")]
