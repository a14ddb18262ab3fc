"""The migration runner: numbered files, applied once, recorded."""

from warehouse.db import open_warehouse
from warehouse.migrate import discover


def test_migrations_apply_once_and_are_recorded(tmp_path):
    db = tmp_path / "w.duckdb"
    with open_warehouse(db) as wh:
        applied = wh.query("SELECT version, name FROM schema_migrations ORDER BY version")
    assert [v for v, _ in applied] == [m.version for m in discover()]
    with open_warehouse(db) as wh:  # reopening applies nothing new
        assert wh.scalar("SELECT count(*) FROM schema_migrations") == len(applied)


def test_migrations_create_the_contract_tables(tmp_path):
    with open_warehouse(tmp_path / "w.duckdb") as wh:
        tables = {t for (t,) in wh.query("SELECT table_name FROM duckdb_tables()")}
        cols = {c for (c,) in wh.query(
            "SELECT column_name FROM duckdb_columns() WHERE table_name = 'report_daily'")}
    assert {"raw_http", "category_snapshots", "coin_snapshots", "gpu_quotes", "runs",
            "report_daily", "quarantine"} <= tables
    assert {"report_date", "scenario", "sector_market_cap_usd", "gpu_sku", "gpu_count",
            "unit_price_usd", "buildout_cost_usd", "coverage_ratio", "gpus_affordable",
            "breakeven_unit_price_usd", "share_of_2023_h100_shipments",
            "constituents_market_cap_usd", "constituents_fdv_usd",
            "constituents_volume_24h_usd", "market_as_of", "fetched_at", "run_id"} <= cols
