"""Migrations are append-only and checked (issue 19 item 4): every open compares each applied
migration's recorded sha256, and each view file's, with the files this capcover ships, and
refuses with one line naming the file; views live in warehouse/views/<view>.<n>.sql and a
migration reads them with `.read ../views/<file>`; plain migration files work as before."""

from __future__ import annotations

import os
import shutil
import subprocess
import tomllib
from pathlib import Path

import duckdb
import pytest

from capcover.warehouse.db import MigrationMismatch, WarehouseError, open_warehouse
from capcover.warehouse.migrate import (
    MIGRATIONS_DIR,
    MigrationChanged,
    MigrationFileError,
    apply_migrations,
    discover,
    latest_version,
    verify_applied,
)
from tests.helpers import ROOT, capcover

# -- view files, in a migrations folder of the test's own ------------------------------------


def _folders(tmp_path: Path, upto: int = 40) -> tuple[Path, Path]:
    """A copy of the shipped migrations up to `upto` and an empty views folder."""
    migrations, views = tmp_path / "migrations", tmp_path / "views"
    migrations.mkdir()
    views.mkdir()
    for path in MIGRATIONS_DIR.glob("*.sql"):
        if int(path.name[:3]) <= upto:
            shutil.copy(path, migrations / path.name)
    return migrations, views


VIEW_1 = """CREATE OR REPLACE VIEW v_big_days AS
SELECT report_date, scenario, coverage_ratio FROM report_daily WHERE coverage_ratio >= 1;
COMMENT ON VIEW v_big_days IS 'Reports whose ratio covers the buildout.';
"""
VIEW_2 = """CREATE OR REPLACE VIEW v_big_days AS
SELECT report_date, scenario, coverage_ratio, gpu_sku FROM report_daily
WHERE coverage_ratio >= 1;
COMMENT ON VIEW v_big_days IS 'Reports whose ratio covers the buildout, with their SKU.';
"""


def _two_view_versions(migrations: Path, views: Path) -> None:
    (views / "v_big_days.1.sql").write_text(VIEW_1)
    (views / "v_big_days.2.sql").write_text(VIEW_2)
    (migrations / "041_big_days.sql").write_text(
        "-- a view of its own file\n.read ../views/v_big_days.1.sql\n"
    )
    (migrations / "042_big_days_sku.sql").write_text(
        "-- the view's second definition: its file, not a copy of the first\n"
        ".read ../views/v_big_days.2.sql\n"
    )


def test_view_files_migration_reads_the_view_and_records_both_checksums(tmp_path):
    migrations, views = _folders(tmp_path)
    _two_view_versions(migrations, views)
    with open_warehouse(tmp_path / "w.duckdb", migrate=False) as wh:
        applied = apply_migrations(wh, migrations, views)
        assert [m.version for m in applied][-2:] == [41, 42]
        cols = [
            c
            for (c,) in wh.query(
                "SELECT column_name FROM duckdb_columns() WHERE table_name = 'v_big_days'"
            )
        ]
        assert cols == ["report_date", "scenario", "coverage_ratio", "gpu_sku"]
        assert wh.scalar("SELECT comment FROM duckdb_views() WHERE view_name = 'v_big_days'") == (
            "Reports whose ratio covers the buildout, with their SKU."
        )
        recorded = wh.query("SELECT version, file, sha256 FROM schema_view_files ORDER BY 1")
        migrations_recorded = dict(wh.query("SELECT version, sha256 FROM schema_migrations"))
        verify_applied(wh, migrations, views)  # the files as applied: no complaint
    by_version = {m.version: m for m in discover(migrations, views)}
    assert recorded == [
        (41, "v_big_days.1.sql", by_version[41].views[0].sha256),
        (42, "v_big_days.2.sql", by_version[42].views[0].sha256),
    ]
    # A migration's own checksum is its file's text (the `.read` line), as for plain files.
    assert migrations_recorded[42] == by_version[42].sha256
    assert by_version[42].sha256 != by_version[42].views[0].sha256


def test_view_files_edited_after_apply_refuses_naming_the_view_file(tmp_path):
    migrations, views = _folders(tmp_path)
    _two_view_versions(migrations, views)
    with open_warehouse(tmp_path / "w.duckdb", migrate=False) as wh:
        apply_migrations(wh, migrations, views)
        (views / "v_big_days.1.sql").write_text(VIEW_1.replace(">= 1", ">= 2"))
        with pytest.raises(MigrationChanged) as err:
            verify_applied(wh, migrations, views)
    assert str(err.value).startswith(
        "warehouse/views/v_big_days.1.sql, read by migration 041_big_days.sql, is not the file "
        f"applied to warehouse {tmp_path / 'w.duckdb'} on "
    )
    assert "\n" not in str(err.value)


def test_view_files_missing_after_apply_refuses_naming_it(tmp_path):
    migrations, views = _folders(tmp_path)
    _two_view_versions(migrations, views)
    with open_warehouse(tmp_path / "w.duckdb", migrate=False) as wh:
        apply_migrations(wh, migrations, views)
        (views / "v_big_days.2.sql").unlink()
        (migrations / "042_big_days_sku.sql").unlink()
        with pytest.raises(MigrationChanged, match="042_big_days_sku.sql applied, which this"):
            verify_applied(wh, migrations, views)


@pytest.mark.parametrize(
    ("line", "says"),
    [
        (".read ../views/v_none.1.sql", "no view file"),
        (".read views/v_big_days.1.sql", "a migration reads only ../views/<view>.<n>.sql"),
        (".read ../views/v_big_days.sql", "no view file"),
        (".read ../views/v_other.1.sql", "must CREATE OR REPLACE VIEW v_other AS"),
    ],
)
def test_view_files_bad_read_line_is_refused_before_anything_runs(tmp_path, line, says):
    migrations, views = _folders(tmp_path)
    (views / "v_big_days.1.sql").write_text(VIEW_1)
    (views / "v_other.1.sql").write_text(VIEW_1)  # names another view than its own
    (migrations / "041_x.sql").write_text(line + "\n")
    with pytest.raises(MigrationFileError, match=says.replace(".", r"\.").replace("<", ".")):
        discover(migrations, views)


def test_view_files_need_the_migration_that_records_them(tmp_path):
    migrations, views = _folders(tmp_path, upto=32)
    (views / "v_big_days.1.sql").write_text(VIEW_1)
    (migrations / "035_early_view.sql").write_text(".read ../views/v_big_days.1.sql\n")
    with open_warehouse(tmp_path / "w.duckdb", migrate=False) as wh:
        with pytest.raises(MigrationFileError, match="must come after 040"):
            apply_migrations(wh, migrations, views)


def test_plain_migration_files_apply_and_are_checked_as_before(tmp_path):
    # What other rooms add (warehouse/migrations/05x..09x): plain SQL, no `.read` line.
    migrations, views = _folders(tmp_path)
    (migrations / "055_plain.sql").write_text("CREATE TABLE plain_t (x INTEGER);\n")
    with open_warehouse(tmp_path / "w.duckdb", migrate=False) as wh:
        assert [m.version for m in apply_migrations(wh, migrations, views)][-1] == 55
        verify_applied(wh, migrations, views)
        (migrations / "055_plain.sql").write_text("CREATE TABLE plain_t (x BIGINT);\n")
        with pytest.raises(MigrationChanged, match=r"^warehouse/migrations/055_plain\.sql is not"):
            verify_applied(wh, migrations, views)


# -- warehouses migrated before the checks ----------------------------------------------------


def _migrated_like_before(tmp_path: Path, upto: int) -> Path:
    """A warehouse an older capcover migrated to `upto` (its runner recorded the same sha256 of
    each file's text, and nothing of view files)."""
    db = tmp_path / "old.duckdb"
    con = duckdb.connect(str(db))
    con.execute(
        "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name VARCHAR NOT NULL,"
        " sha256 VARCHAR NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
    )
    for m in discover():
        if m.version <= upto:
            con.execute(m.sql)
            con.execute(
                "INSERT INTO schema_migrations (version, name, sha256) VALUES (?, ?, ?)",
                [m.version, m.name, __import__("hashlib").sha256(m.sql.encode()).hexdigest()],
            )
    con.close()
    return db


def test_migrations_warehouse_from_before_the_checks_opens_and_migrates(tmp_path):
    db = _migrated_like_before(tmp_path, 32)
    with open_warehouse(db, read_only=True) as wh:  # a reader: checked, nothing written
        assert wh.schema_version == 32
    with open_warehouse(db) as wh:
        assert wh.schema_version == latest_version()
        assert wh.scalar("SELECT count(*) FROM schema_view_files") >= 0


def test_migrations_edited_file_refuses_a_reader_and_a_writer(tmp_path, monkeypatch):
    db = _migrated_like_before(tmp_path, 32)
    with duckdb.connect(str(db)) as con:  # as if 020 had been edited after this file got it
        con.execute("UPDATE schema_migrations SET sha256 = repeat('0', 64) WHERE version = 20")
    before = db.read_bytes()
    for read_only in (True, False):
        with pytest.raises(MigrationMismatch) as err:
            open_warehouse(db, read_only=read_only)
        assert isinstance(err.value, WarehouseError)
        assert str(err.value).startswith(
            f"warehouse/migrations/020_why_it_moved.sql is not the file applied to warehouse {db}"
        )
    assert db.read_bytes() == before  # the writer applied nothing


# -- every command, on a copy of the installed package whose migration file was edited -------


def _package_copy(dest: Path) -> Path:
    """The installed layout (capcover/ and its rooms) as plain files under `dest`."""
    with open(ROOT / "pyproject.toml", "rb") as f:
        mapping = tomllib.load(f)["tool"]["setuptools"]["package-dir"]
    for package, folder in mapping.items():
        shutil.copytree(
            ROOT / folder,
            dest.joinpath(*package.split(".")),
            ignore=shutil.ignore_patterns("__pycache__"),
            dirs_exist_ok=True,
        )
    return dest


COMMANDS = [
    ["sql", "SELECT count(*) FROM report_daily"],
    ["report"],
    ["report", "--format", "json"],
    ["alerts"],
    ["status"],
    ["quotes", "list"],
    ["quotes", "list", "--stats"],
    ["explain"],
    ["run"],
    ["run", "--dry-run"],
    ["backfill", "--days", "2"],
    ["rebuild"],
]


def test_migrations_edited_applied_file_makes_every_command_refuse_naming_it(
    fake_cg, env, tmp_path
):
    site = _package_copy(tmp_path / "site")
    child = {k: v for k, v in os.environ.items() if not k.startswith(("CAPCOVER_", "PREFECT_"))}
    child.update(env, PYTHONPATH=str(site), PREFECT_HOME=str(tmp_path / "prefect"))
    db = Path(env["CAPCOVER_DB"])

    def command(*argv: str) -> subprocess.CompletedProcess[str]:
        return capcover(*argv, env=child, cwd=tmp_path)

    fake_cg.serve()
    first = command("run")
    assert first.returncode == 0, first.stderr
    edited = site / "capcover" / "warehouse" / "migrations" / "020_why_it_moved.sql"
    original = edited.read_text(encoding="utf-8")
    edited.write_text(original.replace("log_change", "log_change ", 1), encoding="utf-8")
    before = db.read_bytes()
    for argv in [*COMMANDS, ["report", "--html", str(tmp_path / "r.html")]]:
        out = command(*argv)
        assert out.returncode == 1, (argv, out.stderr)
        # One line naming the file (`run` and `backfill` say "run failed: " first).
        assert out.stderr.startswith("capcover: error: "), (argv, out.stderr)
        assert (
            "warehouse/migrations/020_why_it_moved.sql is not the file applied to warehouse "
            f"{db} on " in out.stderr
        ), (argv, out.stderr)
        assert out.stderr.count("\n") == 1, (argv, out.stderr)
        assert "restore it, and put a change in a new migration" in out.stderr
    assert db.read_bytes() == before
    assert not (tmp_path / "r.html").exists()
    edited.write_text(original, encoding="utf-8")  # restored: the warehouse opens again
    assert command("report").returncode == 0
