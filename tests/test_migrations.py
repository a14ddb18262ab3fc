"""The migration runner: numbered files, applied once, recorded."""

import duckdb
import pytest

from capcover.warehouse.db import WarehouseError, open_warehouse
from capcover.warehouse.migrate import discover, latest_version


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
        # raw_http: every response, a view over the daily and the backfill archive (090).
        tables |= {v for (v,) in wh.query("SELECT view_name FROM duckdb_views()")}
        cols = {
            c
            for (c,) in wh.query(
                "SELECT column_name FROM duckdb_columns() WHERE table_name = 'report_daily'"
            )
        }
    assert {
        "raw_http",
        "category_snapshots",
        "coin_snapshots",
        "gpu_quotes",
        "runs",
        "report_daily",
        "quarantine",
    } <= tables
    assert {
        "report_date",
        "scenario",
        "sector_market_cap_usd",
        "gpu_sku",
        "gpu_count",
        "unit_price_usd",
        "buildout_cost_usd",
        "coverage_ratio",
        "gpus_affordable",
        "breakeven_unit_price_usd",
        "share_of_2023_h100_shipments",
        "constituents_market_cap_usd",
        "constituents_fdv_usd",
        "constituents_volume_24h_usd",
        "market_as_of",
        "fetched_at",
        "run_id",
    } <= cols


def test_migrations_schema_version_is_read_once_at_open(tmp_path):
    db = tmp_path / "w.duckdb"
    open_warehouse(db).close()
    with open_warehouse(db, read_only=True) as wh:
        assert wh.applied == {m.version for m in discover()}
        assert wh.schema_version == latest_version() == max(m.version for m in discover())
        assert wh.has(5) and not wh.has(latest_version() + 1)


def test_migrations_require_names_the_migration_and_what_to_do(tmp_path):
    db = tmp_path / "w.duckdb"
    with open_warehouse(db) as wh:
        wh.query("DELETE FROM schema_migrations WHERE version >= 5")
    with open_warehouse(db, read_only=True) as wh:
        assert wh.schema_version == 4
        wh.require(4, "the report views")  # present: no error
        with pytest.raises(WarehouseError) as err:
            wh.require(5, "the alerts table")
    assert str(err.value) == (
        f"warehouse {db} predates migration 005 (the alerts table) — run "
        f"`capcover run` once to migrate it"
    )


def test_migrations_file_without_a_migrations_table_is_version_0(tmp_path):
    db = tmp_path / "bare.duckdb"
    duckdb.connect(str(db)).close()
    with open_warehouse(db, read_only=True) as wh:
        assert wh.schema_version == 0 and not wh.has(1)


def test_migrations_alerts_command_on_a_pre_005_warehouse_says_migrate(env, capsys):
    from capcover.cli.main import main

    with open_warehouse(env["CAPCOVER_DB"]) as wh:
        wh.query("DELETE FROM schema_migrations WHERE version >= 5")

    assert main(["alerts"]) == 1

    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "predates migration 005 (the alerts table)" in err
    assert "run `capcover run` once to migrate it" in err


def test_migrations_html_report_on_a_pre_004_warehouse_says_migrate(env, tmp_path, capsys):
    from capcover.cli.main import main

    with open_warehouse(env["CAPCOVER_DB"]) as wh:
        wh.query("DELETE FROM schema_migrations WHERE version >= 4")

    assert main(["report", "--html", str(tmp_path / "r.html")]) == 1

    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "predates migration 004 (the report views)" in err
    assert not (tmp_path / "r.html").exists()


def _warehouse_at(tmp_path, version: int):
    """A warehouse migrated only up to `version`, as an older capcover left it."""
    import shutil

    from capcover.warehouse.migrate import MIGRATIONS_DIR, apply_migrations

    old = tmp_path / "old-migrations"
    old.mkdir()
    for f in MIGRATIONS_DIR.glob("*.sql"):
        if int(f.name[:3]) <= version:
            shutil.copy(f, old / f.name)
    db = tmp_path / "old.duckdb"
    with open_warehouse(db, migrate=False) as wh:
        apply_migrations(wh, old)
    return db


def test_migrations_report_on_an_older_empty_warehouse_is_an_empty_result(
    tmp_path, monkeypatch, capsys
):
    """`report` reads every column the file has (SELECT *), so an older file is no error: its
    empty result says what to run, which also migrates it."""
    from capcover.cli.main import main

    db = _warehouse_at(tmp_path, 6)
    before = db.read_bytes()
    monkeypatch.setenv("CAPCOVER_DB", str(db))
    monkeypatch.chdir(tmp_path)
    assert main(["report"]) == 1
    err = capsys.readouterr().err
    assert err == f"capcover: no report rows in {db} — run `capcover run` first\n"
    assert db.read_bytes() == before  # a reader never migrates


@pytest.mark.parametrize("argv", [["quotes", "list"]])
def test_migrations_reader_on_an_older_warehouse_says_to_migrate(
    tmp_path, monkeypatch, capsys, argv
):
    """A read-only command never migrates: on a file an older capcover wrote, a column or macro
    a later migration adds is one line saying so, not an unexpected Binder error."""
    from capcover.cli.main import main

    db = _warehouse_at(tmp_path, 6)
    before = db.read_bytes()
    monkeypatch.setenv("CAPCOVER_DB", str(db))
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.startswith(
        f"capcover: error: warehouse {db} is at schema version 6, older than "
        f"this capcover's {latest_version()} ("
    )
    assert err.endswith("— run `capcover run` once to migrate it\n") and err.count("\n") == 1
    assert db.read_bytes() == before
    with open_warehouse(db) as wh:  # what `capcover run` does first: migrate
        assert wh.schema_version == latest_version()
    main(argv)  # now an ordinary answer (here: no rows yet), not the schema line
    assert "schema version" not in capsys.readouterr().err


def test_migrations_record_their_own_names_exactly_whatever_secret_is_registered(tmp_path):
    """A key whose forms match a migration's or a view file's name (here the names themselves)
    never rewrites capcover's own schema records: the warehouse migrates, records every name
    and digest as shipped, and opens again (a scrubbed name read as a changed migration)."""
    from capcover.config import secrets

    names = [m.file for m in discover()]
    with secrets.isolated():
        for name in names:
            secrets.register_key(name.removesuffix(".sql"))
        db = tmp_path / "w.duckdb"
        with open_warehouse(db):
            pass
        with open_warehouse(db, read_only=True) as wh:  # checked against the shipped files
            stored = {v: n for v, n in wh.query("SELECT version, name FROM schema_migrations")}
    assert stored == {m.version: m.name for m in discover()}
