"""`capcover sql` reads only (docs/threat-model.md, "The SQL sandbox"): statement SHAPES drawn
with hypothesis, not a list of examples. Every statement that writes, loads, attaches, sets or
executes text (COPY, EXPORT, INSERT ... MERGE, ATTACH, INSTALL, SET, PRAGMA, CALL, ...) is
tried bare, under every spelling of EXPLAIN ANALYZE and EXPLAIN, wrapped in a CTE, beside a
SELECT in a multi-statement string, behind comments, in random letter case and whitespace, and
as a SELECT that calls a table function which would run or write something. The warehouse, the
publish folder and the file system stay exactly as they were. Reads of every shape run. The
time, memory and row bounds and Ctrl-C are tested on real queries and a real process.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from capcover.cli.main import main
from capcover.warehouse.db import open_warehouse

ROOT = Path(__file__).resolve().parent.parent

# {out}: a file in the publish folder (a published month) or outside; {dir}: a folder there;
# {db2}: another DuckDB file.
WRITES = [
    "COPY (SELECT 1 AS x) TO '{out}'",
    "COPY report_daily TO '{out}' (FORMAT parquet)",
    "COPY quarantine FROM '{out}'",
    "EXPORT DATABASE '{dir}'",
    "IMPORT DATABASE '{dir}'",
    "INSERT INTO quarantine SELECT * FROM quarantine",
    "INSERT INTO runs DEFAULT VALUES",
    "UPDATE runs SET status = 'failed'",
    "DELETE FROM runs",
    "TRUNCATE runs",
    "MERGE INTO runs USING runs AS r2 ON false WHEN NOT MATCHED THEN INSERT *",
    "CREATE TABLE t AS SELECT 1",
    "CREATE OR REPLACE VIEW v_latest_report AS SELECT 1",
    "CREATE MACRO m() AS 1",
    "CREATE SEQUENCE s",
    "CREATE SECRET s (TYPE s3, KEY_ID 'k', SECRET 'v')",
    "DROP TABLE runs",
    "ALTER TABLE runs ADD COLUMN x INTEGER",
    "ATTACH '{db2}' AS other",
    "DETACH other",
    "USE memory",
    "INSTALL httpfs",
    "LOAD httpfs",
    "SET memory_limit = '64GB'",
    "SET enable_external_access = true",
    "RESET allowed_directories",
    "PRAGMA enable_profiling",
    "PRAGMA profiling_output = '{out}'",
    "CALL enable_logging()",
    "CALL pragma_version()",
    "CHECKPOINT",
    "FORCE CHECKPOINT",
    "VACUUM",
    "ANALYZE",
    "PREPARE p AS SELECT 1",
    "BEGIN TRANSACTION",
    "PIVOT runs ON kind USING count(*)",  # no IN list: several statements inside
    # SELECTs whose table function would run a statement, write or change state
    "SELECT * FROM query('COPY (SELECT 1) TO ''{out}''')",
    "SELECT * FROM query_table('runs')",
    "SELECT * FROM copy_database('memory', 'memory')",
    "SELECT * FROM import_database('{dir}')",
    "SELECT * FROM checkpoint()",
    "SELECT * FROM force_checkpoint()",
    "SELECT * FROM enable_logging()",
    "SELECT * FROM json_execute_serialized_sql('{{}}')",
    "SELECT * FROM truncate_duckdb_logs()",
    "SELECT write_log('x')",
    "SELECT nextval('s')",
    "SELECT * FROM runs WHERE run_id IN (SELECT * FROM query('SELECT 1'))",
    "WITH q AS (SELECT * FROM query('SELECT 1')) SELECT * FROM q",
    "SELECT * FROM (SELECT 1) a, LATERAL (SELECT * FROM checkpoint()) b",
    "SELECT 1 UNION ALL SELECT * FROM query('SELECT 2')",
]

WRAPPERS = [
    "{w}",
    "{w};",
    "EXPLAIN ANALYZE {w}",
    "EXPLAIN ANALYSE {w}",
    "EXPLAIN (ANALYZE) {w}",
    "EXPLAIN (ANALYZE true, FORMAT json) {w}",
    "EXPLAIN (FORMAT json, ANALYZE) {w}",
    "EXPLAIN (ANALYZE false) {w}",
    "explain /* a comment */ analyze -- another\n {w}",
    "EXPLAIN {w}",
    "EXPLAIN (FORMAT json) {w}",
    "EXPLAIN ({w})",
    "EXPLAIN (ANALYZE) ({w})",
    "WITH x AS (SELECT 1) {w}",
    "SELECT 1; {w}",
    "{w}; SELECT 1",
    "/* leading comment */ {w}",
    "-- leading comment\n{w}",
    "\n\t {w} \n",
]


def _recase(text: str, flips: list[bool]) -> str:
    """Letter case changed outside quoted strings (paths keep their case)."""
    out, quoted = [], False
    for i, ch in enumerate(text):
        if ch == "'":
            quoted = not quoted
        flip = flips[i % len(flips)] if flips else False
        out.append(ch.swapcase() if flip and not quoted and ch.isalpha() else ch)
    return "".join(out)


def _fingerprint(*roots: Path) -> dict[str, str]:
    out = {}
    for root in roots:
        for path in sorted(root.rglob("*")):
            if path.is_file():
                out[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
            else:
                out[str(path)] = "dir" if path.is_dir() else "other"
    return out


@pytest.fixture
def published(fake_cg, settings):
    from capcover.flows.sequence import run_daily

    fake_cg.serve()
    run_daily(settings)
    month = next((settings.publish_path() / "latest" / "report_daily").glob("*.parquet"))
    return settings, month


SHAPES = settings(
    derandomize=True,
    deadline=None,
    max_examples=400,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@SHAPES
@given(
    write=st.sampled_from(WRITES),
    wrapper=st.sampled_from(WRAPPERS),
    flips=st.lists(st.booleans(), max_size=7),
    target=st.sampled_from(["published_month", "publish_folder", "outside"]),
)
def test_sql_shapes_no_statement_shape_writes_anything(
    published, tmp_path, capsys, write, wrapper, flips, target
):
    settings, month = published
    outside = tmp_path / "outside"
    outside.mkdir(exist_ok=True)
    out = {
        "published_month": month,
        "publish_folder": settings.publish_path() / "new.csv",
        "outside": outside / "x.csv",
    }[target]
    statement = write.format(out=out, dir=out.parent / "dump", db2=outside / "other.duckdb")
    query = _recase(wrapper.format(w=statement), flips)
    roots = (Path(settings.db).parent, outside)
    before = _fingerprint(*roots)

    code = main(["sql", "--", query])  # `--`: a query may start with a comment's dashes

    err = capsys.readouterr().err
    assert code == 1, (query, err)
    assert err.startswith("capcover: error: ") and err.count("\n") == 1, err
    assert "Traceback" not in err and "unexpected" not in err
    assert _fingerprint(*roots) == before, query


READS = [
    "SELECT count(*) FROM report_daily",
    "FROM runs SELECT run_id",
    "WITH r AS (SELECT * FROM report_daily) SELECT scenario FROM r",
    "SELECT * FROM (SELECT 1 AS a) t WHERE a IN (SELECT 1)",
    "SELECT 1 UNION ALL SELECT 2",
    "VALUES (1), (2)",
    "DESCRIBE report_daily",
    "SHOW TABLES",
    "SUMMARIZE SELECT 1 AS x",
    "EXPLAIN SELECT * FROM report_daily",
    "EXPLAIN (FORMAT json) SELECT * FROM runs",
    "EXPLAIN (SELECT 1) UNION (SELECT 2)",
    "EXPLAIN (FORMAT text) (SELECT 1)",
    "PIVOT (SELECT 'a' AS k, 1 AS v) ON k IN ('a') USING sum(v)",
    "SELECT * FROM latest_quotes(DATE '2024-04-03')",
    "SELECT count(*) FROM read_parquet('{published}/report_daily/*.parquet')",
    "SELECT count(*) FROM glob('{published}/*')",
    "SELECT * FROM range(3) t(i), LATERAL (SELECT i + 1)",
    "SELECT * FROM duckdb_tables() LIMIT 1",
    "SELECT current_setting('memory_limit')",
]


@settings(
    derandomize=True,
    deadline=None,
    max_examples=120,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    read=st.sampled_from(READS),
    prefix=st.sampled_from(["", "/* c */ ", "-- c\n", "\n  "]),
    suffix=st.sampled_from(["", ";", " ; ", "\n-- done\n"]),
    flips=st.lists(st.booleans(), max_size=5),
)
def test_sql_shapes_every_read_shape_runs(published, capsys, read, prefix, suffix, flips):
    settings, _month = published
    query = prefix + _recase(read.format(published=settings.publish_path() / "latest"), flips)
    code = main(["sql", "--format", "csv", "--", query + suffix])
    out, err = capsys.readouterr()
    assert (code, err) == (0, ""), (query, err)
    assert out


def test_sql_shapes_the_issue_example_leaves_the_published_month_untouched(published, capsys):
    settings, month = published
    before = month.read_bytes()
    query = f"EXPLAIN ANALYZE COPY (SELECT 42 AS forged) TO '{month}' (FORMAT parquet)"
    assert main(["sql", query]) == 1
    assert "EXPLAIN ANALYZE runs its statement" in capsys.readouterr().err
    assert month.read_bytes() == before


# -- bounds: time, memory, rows --------------------------------------------------------------

LONG = "SELECT count(*) FROM range(1000000000000) a"


def test_sql_shapes_a_runaway_query_is_interrupted_at_the_timeout(published, monkeypatch, capsys):
    monkeypatch.setenv("CAPCOVER_SQL_TIMEOUT_S", "0.3")
    assert main(["sql", LONG]) == 1
    err = capsys.readouterr().err
    assert "query interrupted after 0.3 s (CAPCOVER_SQL_TIMEOUT_S)" in err and err.count("\n") == 1
    assert main(["sql", "SELECT 1"]) == 0  # the read lock was released: the next one runs


def test_sql_shapes_memory_is_bounded_and_nothing_spills_to_disk(published, monkeypatch, capsys):
    settings, _ = published
    monkeypatch.setenv("CAPCOVER_SQL_MEMORY_LIMIT_MB", "32")
    query = "SELECT count(DISTINCT range::VARCHAR || repeat('x', 40)) FROM range(20000000)"
    assert main(["sql", query]) == 1
    err = capsys.readouterr().err
    assert "CAPCOVER_SQL_MEMORY_LIMIT_MB" in err and err.count("\n") == 1
    assert not Path(str(settings.db) + ".tmp").exists()


@pytest.mark.parametrize(("rows", "code"), [(10, 0), (11, 1)])
def test_sql_shapes_a_result_has_at_most_max_rows(published, monkeypatch, capsys, rows, code):
    monkeypatch.setenv("CAPCOVER_SQL_MAX_ROWS", "10")
    query = f"SELECT * FROM range({rows})"  # noqa: S608 - a test's own number
    assert main(["sql", query, "--format", "csv"]) == code
    out, err = capsys.readouterr()
    if code:
        assert "more than 10 rows (CAPCOVER_SQL_MAX_ROWS)" in err and out == ""
    else:
        assert out.splitlines() == ["range", *map(str, range(10))]


def _holds_open(pid: int, path: Path) -> bool:
    fds = Path(f"/proc/{pid}/fd")
    try:
        return any(os.path.realpath(fd) == str(path.resolve()) for fd in fds.iterdir())
    except OSError:
        return False


@pytest.mark.skipif(not Path("/proc/self/fd").exists(), reason="needs /proc (Linux)")
def test_sql_shapes_ctrl_c_interrupts_a_running_query_and_exits_130(published, env):
    settings, _ = published
    proc = subprocess.Popen(
        [sys.executable, "-m", "capcover", "sql", LONG],
        cwd=ROOT,
        env={**os.environ, **env, "CAPCOVER_SQL_TIMEOUT_S": "3600"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        for _ in range(600):  # until the warehouse is open: the query is next
            if _holds_open(proc.pid, Path(settings.db)) or proc.poll() is not None:
                break
            time.sleep(0.05)
        time.sleep(0.5)  # well into the query (it would run for hours)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert err.startswith("capcover: error: interrupted") and err.count("\n") == 1
    assert out == ""
    with duckdb.connect(str(settings.db), read_only=True) as con:  # released
        assert con.execute("SELECT count(*) FROM runs").fetchone()[0] == 1


def test_sql_shapes_the_sandbox_reads_no_environment(published, monkeypatch, capsys):
    key = "CG-" + "sandboxEnvProbe00099"
    monkeypatch.setenv("CAPCOVER_COINGECKO_API_KEY", key)
    for query in (
        "SELECT * FROM read_text('/proc/self/environ')",
        "SELECT * FROM read_csv('/proc/self/environ')",
        "SELECT current_setting('home_directory')",
    ):
        main(["sql", query, "--format", "csv"])
        out, err = capsys.readouterr()
        assert key not in out + err


def test_sql_shapes_warehouse_is_intact_after_the_shapes(published):
    settings, _ = published
    with open_warehouse(settings.db, read_only=True) as wh:
        assert wh.scalar("SELECT count(*) FROM runs") == 1
