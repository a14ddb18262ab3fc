"""`capcover demo` end to end: the replay snapshot over local HTTP, a 90-day backfill, the daily
Prefect flow, the alert at the 1.0 crossing, and the HTML report — in a temp directory, never
the repository's data/ and never the live warehouse."""

from __future__ import annotations

import json
import os
from datetime import date
from pathlib import Path

import pytest

from capcover.flows.demo import SNAPSHOT, run_demo
from capcover.warehouse.db import open_warehouse


def build_snapshot() -> dict:
    import importlib.util

    path = Path(__file__).resolve().parent.parent / "scripts" / "make_demo_snapshot.py"
    spec = importlib.util.spec_from_file_location("make_demo_snapshot", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return json.loads(json.dumps(module.build(), sort_keys=True))


@pytest.fixture
def demo_dir(tmp_path, monkeypatch):
    for key in list(os.environ):
        if key.startswith("CAPCOVER_"):
            monkeypatch.delenv(key)
    live = tmp_path / "live.duckdb"
    monkeypatch.setenv("CAPCOVER_DB", str(live))  # the demo must ignore it
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.slow
def test_demo_backfills_runs_daily_alerts_and_writes_the_report(
    demo_dir, capsys, monkeypatch, httpserver
):
    # A user's real alert channel must never hear about illustrative data.
    monkeypatch.setenv("CAPCOVER_ALERT_URLS", httpserver.url_for("/hook").replace("http", "json"))
    assert run_demo() == 0
    assert httpserver.log == []
    out = capsys.readouterr().out
    assert "ILLUSTRATIVE" in out
    assert "90 days of history for 260 constituent(s)" in out
    assert "crossed 1.0 on 2024-04-03: 0.968 -> 1.157" in out
    assert "[threshold_crossed] coindesk-2024" in out
    db = demo_dir / "data" / "demo.duckdb"
    assert not (demo_dir / "live.duckdb").exists()
    with open_warehouse(db, read_only=True) as wh:
        hist = wh.query(
            "SELECT report_date, basis, coverage_ratio FROM v_coverage_history"
            " WHERE scenario = 'coindesk-2024' ORDER BY report_date"
        )
        assert len(hist) == 91
        assert hist[0][0] == date(2024, 1, 4) and hist[-1][0] == date(2024, 4, 3)
        assert {b for _, b, _ in hist[:-1]} == {"history"} and hist[-1][1] == "category"
        assert hist[-2][2] < 1.0 and hist[-1][2] == pytest.approx(25 / 21.6)
        assert any(r > 1.0 for _, _, r in hist[:-1])  # the history itself crosses 1.0
        latest = dict(wh.query("SELECT scenario, coverage_ratio FROM v_latest_report"))
        assert latest["coindesk-2024"] == pytest.approx(1.157, abs=5e-4)
        assert latest["h100-purchase"] == pytest.approx(1.157, abs=5e-4)
        before = wh.query(
            "SELECT unit_price_usd, price_providers, coverage_ratio FROM report_daily"
            " WHERE scenario = 'h100-purchase' AND report_date = DATE '2024-04-02'"
        )
        assert before == [(28_750, "Financial Times, Raymond James", pytest.approx(1.0097, 1e-4))]
        # Every built-in scenario is priced in the demo (the snapshot's illustrative quotes),
        # on the daily run's day and on every replayed day before it.
        from capcover.config.settings import load_settings

        builtin = {s.name for s in load_settings(environ=False).scenarios()}
        assert set(latest) == builtin and len(builtin) >= 12
        days = dict(wh.query("SELECT scenario, count(*) FROM report_daily GROUP BY scenario"))
        live = {"h100-rent-1y": 1, "h100-rent-1y-spot": 1}  # priced by the live feeds: 1 day
        assert days == {name: 91 for name in builtin} | live
        assert latest["h100eq-720k-b200"] == pytest.approx(25e9 / (316_640 * 35_000), rel=1e-6)
        # Depth on the demo's rental rows (the illustrative feeds): the run summary says it
        # beside the GPU count; purchase rows carry none.
        depth = dict(
            wh.query(
                "SELECT scenario, rentable_gpus_seen FROM v_latest_report"
                " WHERE rentable_gpus_method IS NOT NULL"
            )
        )
        assert set(depth) == {"h100-rent-1y", "h100-rent-1y-spot", "h100-rent-1y-contract"}
        said = f"720,000 H100 needed; {depth['h100-rent-1y']:,} rentable now (vastai, runpod, "
        assert said in out
        top = wh.query("SELECT position, coin_id FROM v_sector_constituents LIMIT 1")
        assert top == [(1, "render-token")]
        if wh.scalar("SELECT count(*) FROM duckdb_tables() WHERE table_name = 'alerts'"):
            rules = {
                r for (r,) in wh.query("SELECT rule FROM alerts WHERE scenario = 'coindesk-2024'")
            }
            assert "threshold_crossed" in rules
            # h100-purchase was already above 1.0 the day before: Raymond James' $25-30k range
            # votes once, at its middle, beside the FT's $30,000 (one vote per provider).
            rules = {
                r for (r,) in wh.query("SELECT rule FROM alerts WHERE scenario = 'h100-purchase'")
            }
            assert rules == {"relative_change", "stale_data"}
            # No channel (the demo has none, and its temporary Prefect server is no receiver):
            # stored as no_channel, and the summary counts nothing as delivered.
            states = {s for (s,) in wh.query("SELECT DISTINCT delivery_state FROM alerts")}
            assert states == {"no_channel"}
    assert "alerts: no channel configured" in out and "alerts delivered" not in out
    # The daily flow published the report table and a markdown summary as Prefect artifacts.
    from prefect.artifacts import Artifact

    # Under the demo's own keys: an operator's latest `capcover-coverage` is never the demo's.
    table = Artifact.get("capcover-demo-coverage")
    summary = Artifact.get("capcover-demo-summary")
    assert table is not None and "coindesk-2024" in str(table.data)
    assert summary is not None and "ILLUSTRATIVE" in summary.data
    assert "| coindesk\\-2024 | 720,000 H100 | \\$30,000 | 1.157 | yes |" in summary.data
    html = (demo_dir / "data" / "demo-report.html").read_text(encoding="utf-8")
    assert "<svg" in html and "ILLUSTRATIVE" in html
    assert "<h2>Scenario parameters</h2>" in html and "h100-total-cost-5y" in html
    assert "<script" not in html and "<link" not in html and "src=" not in html  # offline
    assert (demo_dir / "data" / "demo-coverage.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_demo_snapshot_is_regenerated_identically_and_labelled_illustrative():
    snapshot = json.loads(SNAPSHOT.read_text(encoding="utf-8"))
    assert build_snapshot() == snapshot
    assert "ILLUSTRATIVE" in snapshot["_label"]
    charts = [r for r in snapshot["routes"] if r["path"].endswith("/market_chart")]
    markets = [
        c for r in snapshot["routes"] if r["path"].endswith("/coins/markets") for c in r["body"]
    ]
    assert {r["path"].split("/")[-2] for r in charts} == {c["id"] for c in markets}
