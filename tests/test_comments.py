"""The warehouse explains itself to SQL users: a comment on every table, view and column, and
JSON text typed as JSON."""

from __future__ import annotations

import shutil

import pytest

from capcover.warehouse.db import open_warehouse
from capcover.warehouse.migrate import MIGRATIONS_DIR, apply_migrations


@pytest.fixture
def wh(tmp_path):
    with open_warehouse(tmp_path / "comments.duckdb") as w:
        yield w


def _relations(wh) -> dict[str, str | None]:
    tables = wh.query(
        "SELECT table_name, comment FROM duckdb_tables()"
        " WHERE schema_name = 'main' AND NOT internal"
    )
    views = wh.query(
        "SELECT view_name, comment FROM duckdb_views() WHERE schema_name = 'main' AND NOT internal"
    )
    return dict(tables + views)


def test_comments_every_table_and_view_has_one(wh):
    relations = _relations(wh)
    for name in (
        "report_daily",
        "v_ratio_moves",
        "alerts",
        "runs",
        "raw_http",
        "category_snapshots",
        "coin_snapshots",
        "gpu_quotes",
        "quarantine",
        "v_latest_report",
        "v_coverage_history",
        "v_sector_constituents",
        "v_constituent_moves",
        "v_category_gap",
        "v_report_quotes",
    ):
        assert name in relations
    assert [n for n, comment in relations.items() if not comment] == []


def test_comments_every_column_has_one(wh):
    relations = set(_relations(wh))
    rows = wh.query(
        "SELECT table_name, column_name, comment FROM duckdb_columns()"
        " WHERE schema_name = 'main' AND NOT internal"
    )
    columns = [(t, c, comment) for t, c, comment in rows if t in relations]
    assert len(columns) > 250
    assert [(t, c) for t, c, comment in columns if not comment] == []


def test_comments_say_the_unit(wh):
    comment = dict(
        wh.query(
            "SELECT table_name || '.' || column_name, comment"
            " FROM duckdb_columns() WHERE schema_name = 'main'"
        )
    )
    assert "USD" in comment["report_daily.sector_market_cap_usd"]
    assert "per GPU-hour" in comment["gpu_quotes.price_usd"]
    assert "UTC" in comment["report_daily.market_as_of"]
    assert "cap_effect - price_effect - count_effect" in comment["v_ratio_moves.log_change"]


def test_comments_json_text_is_typed_json(wh):
    types = dict(
        wh.query(
            "SELECT table_name || '.' || column_name, data_type"
            " FROM duckdb_columns() WHERE schema_name = 'main'"
        )
    )
    for column in (
        "quarantine.record_json",
        "alerts.inputs",
        "runs.summary",
        "runs.step_durations",
        "raw_http.params",
    ):
        assert types[column] == "JSON", column
    # Kept byte for byte as received: an HTML error page is not JSON.
    assert types["raw_http.body"] == "VARCHAR"


def test_comments_migration_keeps_quarantined_records(tmp_path):
    early = tmp_path / "early"
    early.mkdir()
    for path in MIGRATIONS_DIR.glob("*.sql"):
        if int(path.name[:3]) < 20:
            shutil.copy(path, early)
    with open_warehouse(tmp_path / "old.duckdb", migrate=False) as wh:
        apply_migrations(wh, early)
        wh.query(
            "INSERT INTO quarantine VALUES ('r1', 1, 'coingecko', '/coins/markets', 'x',"
            " 'market_cap is not a number', ?)",
            ['{"id": "x", "market_cap": "n/a"}'],
        )
        applied = [m.version for m in apply_migrations(wh)]
        assert {20, 21} <= set(applied)
        assert wh.query("SELECT record_json->>'market_cap' FROM quarantine") == [("n/a",)]
