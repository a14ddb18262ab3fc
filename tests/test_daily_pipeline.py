"""The daily run end to end over real HTTP into a real DuckDB file (no Prefect here; the flow
itself is exercised in test_daily_flow.py)."""

from datetime import date

import pytest

from capcover.fakeapi import Reply
from capcover.flows.sequence import run_daily
from capcover.ingest.errors import NotFound, StatusError
from capcover.warehouse.db import open_warehouse
from tests.conftest import AI, TEXT, category_payload, market_pages, table_snapshot


def test_daily_run_writes_reports_for_the_source_as_of_date(fake_cg, settings):
    fake_cg.serve()
    result = run_daily(settings)
    assert result.as_of_date == date(2024, 4, 3)  # category updated_at, not the wall clock
    with open_warehouse(settings.db, read_only=True) as wh:
        rows = dict(
            wh.query(
                "SELECT scenario, coverage_ratio FROM report_daily WHERE report_date = '2024-04-03'"
            )
        )
        assert rows["coindesk-2024"] == 25e9 / 21.6e9
        assert "h100-purchase" in rows
        as_of = wh.scalar("SELECT DISTINCT market_as_of FROM report_daily")
        assert as_of.isoformat().startswith("2024-04-03T06:40:12")


def test_daily_run_pages_all_constituents_and_drops_duplicates(fake_cg, settings):
    fake_cg.serve()
    result = run_daily(settings)
    assert fake_cg.market_requests() == 3  # 260 coins at 250 per page, then an empty page
    assert result.duplicates_dropped == 1
    with open_warehouse(settings.db, read_only=True) as wh:
        assert wh.scalar("SELECT count(*) FROM coin_snapshots") == 260
        assert wh.scalar("SELECT count(DISTINCT coin_id) FROM coin_snapshots") == 260


def test_daily_run_keeps_null_and_zero_caps_as_facts(fake_cg, settings):
    fake_cg.serve()
    run_daily(settings)
    with open_warehouse(settings.db, read_only=True) as wh:
        caps = dict(
            wh.query(
                "SELECT coin_id, market_cap_usd FROM coin_snapshots WHERE market_cap_rank IS NULL"
            )
        )
        assert caps == {"ai-coin-259": None, "ai-coin-260": 0.0}
        total, n = wh.query(
            "SELECT constituents_market_cap_usd, constituents_count "
            "FROM report_daily WHERE scenario = 'coindesk-2024'"
        )[0]
        assert n == 260
        assert total == pytest.approx(sum(1e8 / i for i in range(1, 259)))


def test_daily_run_rerun_replaces_and_never_duplicates(fake_cg, settings):
    fake_cg.serve()
    run_daily(settings)
    first = table_snapshot(settings.db)
    run_daily(settings)
    second = table_snapshot(settings.db)
    for table in ("category_snapshots", "coin_snapshots", "gpu_quotes", "report_daily"):
        assert len(second[table]) == len(first[table]), table
    with open_warehouse(settings.db, read_only=True) as wh:
        assert wh.scalar("SELECT count(*) FROM runs WHERE status = 'ok'") == 2


def test_daily_run_failure_mid_run_changes_nothing(fake_cg, settings):
    fake_cg.serve()
    run_daily(settings)
    before = table_snapshot(settings.db)
    # Next day: the category moves, but page 2 of the constituents keeps failing.
    fake_cg.clear()
    pages = market_pages()
    fake_cg.add(
        "/api/v3/coins/categories", category_payload(cap=30e9, updated_at="2024-04-04T06:00:00Z")
    )
    fake_cg.add(
        "/api/v3/coins/markets",
        pages[0],
        query={
            "vs_currency": "usd",
            "category": AI,
            "per_page": "250",
            "page": "1",
            "order": "market_cap_desc",
        },
    )
    fake_cg.add("/api/v3/coins/markets", Reply(raw="oops", status=500, content_type=TEXT))
    with pytest.raises(StatusError, match="HTTP 500"):
        run_daily(settings)
    assert table_snapshot(settings.db) == before
    with open_warehouse(settings.db, read_only=True) as wh:
        status, message = wh.query(
            "SELECT status, message FROM runs ORDER BY started_at DESC LIMIT 1"
        )[0]
    assert status == "failed" and "/coins/markets" in message


def test_daily_run_unknown_category_fails_before_paging(fake_cg, settings, monkeypatch, env):
    fake_cg.serve()
    monkeypatch.setenv("CAPCOVER_CATEGORIES", "no-such-category")
    from capcover.config.settings import load_settings

    with pytest.raises(NotFound, match="category 'no-such-category' not found"):
        run_daily(load_settings())
    assert fake_cg.market_requests() == 0
