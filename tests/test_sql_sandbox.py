"""`capcover sql` is truly read-only: one SELECT/EXPLAIN, no file writes, no file reads outside
the warehouse and the published snapshot folder, no ATTACH/INSTALL/LOAD, no network, settings
locked; values printed exactly; empty queries and closed pipes end cleanly."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from capcover.cli.main import main
from capcover.warehouse.db import WarehouseError, open_warehouse
from capcover.warehouse.sandbox import open_sandboxed, run_user_sql

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def db(settings) -> Path:
    """A freshly migrated warehouse (every table, no rows)."""
    open_warehouse(settings.db).close()
    return settings.db


def _sql(capsys, *args: str) -> tuple[int, str, str]:
    code = main(["sql", *args])
    out, err = capsys.readouterr()
    return code, out, err


def _refused(code: int, err: str, *words: str) -> None:
    assert code == 1
    assert err.startswith("capcover: error: ") and err.count("\n") == 1, err
    assert "Traceback" not in err
    for word in words:
        assert word in err, err


@pytest.mark.parametrize("target", ["outside", "publish"])
def test_sql_sandbox_copy_to_a_file_is_refused_and_writes_nothing(
    db, settings, tmp_path, capsys, target
):
    folder = tmp_path / "elsewhere" if target == "outside" else settings.publish_path()
    folder.mkdir(parents=True, exist_ok=True)
    out_file = folder / "x.csv"

    code, _, err = _sql(capsys, f"COPY (SELECT 1) TO '{out_file}'")

    _refused(code, err, "read-only", "COPY", "nothing changed")
    assert not out_file.exists()


@pytest.mark.parametrize(
    "query",
    [
        "SELECT * FROM read_csv('/etc/passwd')",
        "SELECT * FROM read_text('{tmp}/secret.txt')",
        "SELECT * FROM '{tmp}/secret.csv'",
        "SELECT * FROM read_blob('{tmp}/secret.txt')",
        "SELECT * FROM glob('{tmp}/*')",
    ],
)
def test_sql_sandbox_reading_files_outside_is_refused(db, tmp_path, capsys, query):
    (tmp_path / "secret.txt").write_text("s3cret\n")
    (tmp_path / "secret.csv").write_text("a\ns3cret\n")

    code, out, err = _sql(capsys, query.format(tmp=tmp_path))

    _refused(code, err, "reads only the warehouse and the published snapshot folder")
    assert "s3cret" not in out + err and "root:" not in out


def test_sql_sandbox_reads_the_published_snapshot_folder(db, settings, capsys):
    folder = settings.publish_path() / "latest"
    folder.mkdir(parents=True)
    con = duckdb.connect()
    con.execute(f"COPY (SELECT 30.84 AS ratio) TO '{folder / 'report_daily.parquet'}'")
    con.close()

    query = f"SELECT ratio FROM '{folder}/report_daily.parquet'"  # noqa: S608 - user SQL
    code, out, err = _sql(capsys, query, "--format", "csv")

    assert (code, err) == (0, "")
    assert out.splitlines() == ["ratio", "30.84"]


@pytest.mark.parametrize(
    "query, kind",
    [
        ("ATTACH '{tmp}/other.duckdb' AS other", "ATTACH"),
        ("INSTALL httpfs", "INSTALL"),
        ("LOAD httpfs", "LOAD"),
        ("SET enable_external_access = true", "SET"),
        ("RESET enable_external_access", "RESET"),
        ("PRAGMA enable_profiling", "PRAGMA"),
        ("CALL pragma_version()", "CALL"),
        ("EXPORT DATABASE '{tmp}/dump'", "EXPORT"),
        ("DELETE FROM quarantine", "DELETE"),
        ("CREATE TABLE t AS SELECT 1", "CREATE"),
        ("CHECKPOINT", "CHECKPOINT"),
    ],
)
def test_sql_sandbox_statements_other_than_select_are_refused(db, tmp_path, capsys, query, kind):
    before = db.read_bytes()

    code, _, err = _sql(capsys, query.format(tmp=tmp_path))

    _refused(code, err, "runs only SELECT or EXPLAIN", kind, "nothing changed")
    assert not (tmp_path / "other.duckdb").exists() and not (tmp_path / "dump").exists()
    assert db.read_bytes() == before


def test_sql_sandbox_settings_stay_locked_on_the_connection(db, settings):
    with open_sandboxed(db, readable_dirs=[settings.publish_path()]) as wh:
        with pytest.raises(duckdb.InvalidInputException, match="locked"):
            wh.con.execute("SET enable_external_access = true")
        assert wh.scalar("SELECT current_setting('enable_external_access')") is False
        assert wh.scalar("SELECT current_setting('autoload_known_extensions')") is False


def test_sql_sandbox_reaches_no_network(db, httpserver, capsys):
    httpserver.expect_request("/x.csv").respond_with_data("a\n1\n")

    query = f"SELECT * FROM read_csv('{httpserver.url_for('/x.csv')}')"  # noqa: S608
    code, out, err = _sql(capsys, query)

    assert code == 1 and "Traceback" not in err and err.count("\n") == 1
    assert httpserver.log == []  # not one request arrived
    assert out == ""


def test_sql_sandbox_multiple_statements_are_refused_with_one_line(db, capsys):
    code, out, err = _sql(capsys, "SELECT 1; SELECT 2")

    _refused(code, err, "runs one statement; got 2")
    assert out == ""


def test_sql_sandbox_one_statement_with_a_trailing_semicolon_runs(db, capsys):
    assert _sql(capsys, "SELECT 1 AS n;", "--format", "csv") == (0, "n\n1\n", "")


def test_sql_sandbox_empty_query_is_one_line(db, capsys):
    for query in ("", "   ", ";"):
        code, _, err = _sql(capsys, query)
        _refused(code, err, "empty query")


def test_sql_sandbox_explain_runs(db, capsys):
    code, out, _ = _sql(capsys, "EXPLAIN SELECT * FROM quarantine")
    assert code == 0 and "quarantine" in out.lower()


EXACT = (
    "SELECT 30.84::DOUBLE AS ratio, 2024 AS year, 1234567.5::DOUBLE AS big,"
    " 12345678901234567890.12::DECIMAL(38,2) AS dec, 0.1 + 0.2 AS sum, '[b]x' AS s"
)


@pytest.mark.parametrize("fmt", ["table", "csv", "json", "markdown"])
def test_sql_sandbox_values_are_printed_exactly_in_every_format(db, capsys, fmt):
    code, out, err = _sql(capsys, EXACT, "--format", fmt)

    assert (code, err) == (0, "")
    if fmt == "json":
        text = out
        assert json.loads(out) == [
            {
                "ratio": 30.84,
                "year": 2024,
                "big": 1234567.5,
                "dec": 12345678901234567890.12,
                "sum": 0.3,
                "s": "[b]x",
            }
        ]
        assert '"dec": 12345678901234567890.12' in text
    else:
        for exact in ("30.84", "2024", "1234567.5", "12345678901234567890.12", "0.3"):
            assert exact in out, (exact, out)
        # Text is data: in Markdown it is escaped, so it renders as "[b]x" and never as markup.
        assert ("\\[b\\]x" if fmt == "markdown" else "[b]x") in out
        assert "2,024" not in out and "1.23M" not in out and " 31 " not in out


def test_sql_sandbox_report_keeps_humanised_cells(capsys):
    from capcover.report.tables import render

    assert "2,024" in render(["n"], [(2024,)], "table")
    assert "2024" in render(["n"], [(2024,)], "table", exact=True)


def test_sql_sandbox_run_user_sql_raises_the_warehouse_error(db, settings):
    with open_sandboxed(db, readable_dirs=[settings.publish_path()]) as wh:
        with pytest.raises(WarehouseError, match="query failed: .*no_such_table"):
            run_user_sql(wh, "SELECT * FROM no_such_table")


def _cli(args: list[str], env: dict, stdin=None, stdout=subprocess.PIPE):
    return subprocess.Popen(
        [sys.executable, "-m", "capcover", *args],
        cwd=ROOT,
        env=env,
        stdin=stdin,
        stdout=stdout,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_sql_sandbox_output_piped_into_head_ends_cleanly(db, env):
    environ = {**os.environ, **env}
    sql = _cli(["sql", "SELECT range AS n FROM range(200000)", "--format", "csv"], environ)
    head = subprocess.run(
        ["head", "-2"], stdin=sql.stdout, capture_output=True, text=True, timeout=120, check=True
    )
    sql.stdout.close()
    err = sql.stderr.read()
    sql.wait(timeout=120)

    assert head.stdout.splitlines() == ["n", "0"]
    assert "Traceback" not in err and "BrokenPipe" not in err and "Exception ignored" not in err
    assert err == ""


def test_sql_sandbox_empty_query_in_a_new_process_is_one_line(db, env):
    proc = subprocess.run(
        [sys.executable, "-m", "capcover", "sql", ""],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert proc.returncode == 1 and proc.stdout == ""
    assert proc.stderr.startswith("capcover: error: empty query") and proc.stderr.count("\n") == 1
