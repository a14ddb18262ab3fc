"""The incremental snapshot: only changed months are exported, the rest are hard links to the
previous snapshot's files, and what a reader gets always equals the warehouse."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from capcover.config.settings import load_settings
from capcover.flows.rebuild import rebuild
from capcover.flows.sequence import run_daily
from capcover.warehouse.db import Warehouse, open_warehouse
from capcover.warehouse.publish import publish_snapshot
from tests.conftest import category_payload, market_pages

DAYS = ("2024-02-27", "2024-03-15", "2024-04-02", "2024-04-03")


def _differences(wh: Warehouse, snap: Path, table: str) -> int:
    """Rows in the warehouse table and not in the snapshot's files, or the other way round
    (as multisets, read through the documented glob). Doubles are compared as FLOAT: the
    views' window sums add in no fixed order, so two evaluations can differ in the last bit."""
    cols = ", ".join(
        f'CAST("{c}" AS FLOAT)' if t == "DOUBLE" else f'"{c}"'
        for c, t, *_ in wh.query(f'DESCRIBE "{table}"')
    )
    files = f"'{snap}/{table}/*.parquet'"
    return wh.scalar(
        f'SELECT count(*) FROM ((SELECT {cols} FROM "{table}" EXCEPT ALL'  # noqa: S608
        f" SELECT {cols} FROM {files}) UNION ALL"
        f' (SELECT {cols} FROM {files} EXCEPT ALL SELECT {cols} FROM "{table}"))'
    )


def _assert_equals_warehouse(db: Path, target: Path) -> dict:
    snap = (target / "latest").resolve()
    manifest = json.loads((snap / "manifest.json").read_text())
    with open_warehouse(db, read_only=True) as wh:
        for table, rows in manifest["tables"].items():
            assert wh.scalar(f'SELECT count(*) FROM "{table}"') == rows, table  # noqa: S608
            assert _differences(wh, snap, table) == 0, table
    return manifest


def _inodes(target: Path) -> dict[str, int]:
    """{"table/file": inode} of the snapshot `latest` points at."""
    snap = (target / "latest").resolve()
    return {f"{p.parent.name}/{p.name}": p.stat().st_ino for p in snap.glob("*/*.parquet")}


def _run_day(fault, day: str, cap: float = 25e9) -> str:
    fault.categories = category_payload(cap=cap, updated_at=f"{day}T06:00:00Z")
    return run_daily(load_settings()).run_id


def test_publish_incremental_snapshot_equals_the_warehouse_over_runs_a_rerun_and_a_rebuild(
    fault, settings
):
    target = settings.publish_path()
    for day in DAYS:
        _run_day(fault, day)
        _assert_equals_warehouse(settings.db, target)
    before = _inodes(target)
    assert {
        "report_daily/2024-02.parquet",
        "v_report_constituents/2024-03.parquet",
        "v_constituent_moves/2024-04.parquet",
    } <= before.keys()

    # A rerun of a past day replaces its rows: its month and the later ones are rewritten
    # (the views compare each day with the one before), the earlier months are reused.
    _run_day(fault, "2024-03-15", cap=19e9)
    manifest = _assert_equals_warehouse(settings.db, target)
    after = _inodes(target)
    with open_warehouse(settings.db, read_only=True) as wh:
        assert (
            wh.scalar(
                "SELECT count(*) FROM report_daily WHERE report_date = '2024-03-15'"
                " AND sector_market_cap_usd = 19e9"
            )
            > 0
        )
    for key in (
        "report_daily/2024-02.parquet",
        "v_coverage_history/2024-02.parquet",
        "v_report_quotes/2024-02.parquet",
    ):
        assert after[key] == before[key], key
    for key in (
        "report_daily/2024-03.parquet",
        "v_ratio_moves/2024-03.parquet",
        "v_ratio_moves/2024-04.parquet",
        "v_report_constituents/2024-03.parquet",
    ):
        assert after[key] != before[key], key
    assert manifest["partitions"]["report_daily"]["written"] == ["2024-03"]

    # Damage a stored row, then `capcover rebuild` repairs it from the raw archive: the next
    # snapshot is written whole and equals the repaired warehouse.
    with open_warehouse(settings.db) as wh:
        wh.query("UPDATE coin_snapshots SET market_cap_usd = 1 WHERE as_of_date = '2024-02-27'")
    rebuild(load_settings())
    _run_day(fault, "2024-04-03")
    manifest = _assert_equals_warehouse(settings.db, target)
    rebuilt = _inodes(target)
    assert not set(rebuilt.values()) & set(after.values())
    assert manifest["partitions"]["v_report_constituents"]["written"] == [
        "2024-02",
        "2024-03",
        "2024-04",
    ]


def _snapshot_differences(wh: Warehouse, a: Path, b: Path, table: str) -> int:
    """Rows in one snapshot's files of `table` and not the other's (as multisets; doubles as
    FLOAT, as in `_differences`)."""
    cols = ", ".join(
        f'CAST("{c}" AS FLOAT)' if t == "DOUBLE" else f'"{c}"'
        for c, t, *_ in wh.query(f'DESCRIBE "{table}"')
    )
    fa, fb = f"'{a}/{table}/*.parquet'", f"'{b}/{table}/*.parquet'"
    return wh.scalar(
        f"SELECT count(*) FROM ((SELECT {cols} FROM {fa} EXCEPT ALL SELECT {cols} FROM {fb})"  # noqa: S608
        f" UNION ALL (SELECT {cols} FROM {fb} EXCEPT ALL SELECT {cols} FROM {fa}))"
    )


def test_publish_incremental_snapshot_equals_a_full_export_after_runs_a_rerun_and_renames(
    fault, settings, tmp_path
):
    target = settings.publish_path()
    for day in DAYS:
        _run_day(fault, day)
    # The newest day renames a coin: every month of the views that name coins shows it.
    fault.pages = [
        [{**c, "name": "Renamed Coin"} if c["id"] == "ai-coin-005" else c for c in page]
        for page in market_pages()
    ]
    _run_day(fault, "2024-04-03")
    manifest = _assert_equals_warehouse(settings.db, target)
    assert manifest["partitions"]["v_report_constituents"]["written"] == [
        "2024-02",
        "2024-03",
        "2024-04",
    ]
    # A rerun of a past day under the old name: the newer day's name stays, so the views
    # that name coins are rewritten from the rerun's month on only.
    fault.pages = market_pages()
    _run_day(fault, "2024-03-15", cap=21e9)
    manifest = _assert_equals_warehouse(settings.db, target)
    assert manifest["partitions"]["v_report_constituents"]["written"] == ["2024-03", "2024-04"]
    incremental = (target / "latest").resolve()
    with open_warehouse(settings.db) as wh:
        full = publish_snapshot(wh, tmp_path / "full", run_id="20240404T000000Z-full")
        assert json.loads((full / "manifest.json").read_text())["tables"] == manifest["tables"]
        for table in manifest["tables"]:
            assert _snapshot_differences(wh, incremental, full, table) == 0, table
        assert (
            wh.scalar(
                "SELECT DISTINCT name FROM read_parquet(?) WHERE coin_id = 'ai-coin-005'",
                [str(incremental / "v_report_constituents" / "2024-02.parquet")],
            )
            == "Renamed Coin"
        )


def _dated_warehouse(path: Path) -> Warehouse:
    """A migrated warehouse plus a base table and a view over it, one row per coin and day
    from 2024-01-01 to 2024-04-30 (both published: their names hold "history")."""
    wh = open_warehouse(path)
    wh.query(
        "CREATE TABLE t_history AS SELECT DATE '2024-01-01' + d::INTEGER AS day,"
        " c AS coin, (hash(c, d) % 1000)::DOUBLE AS cap"
        " FROM range(121) r(d), range(20) k(c)"
    )
    wh.query(
        "CREATE VIEW v_t_history AS SELECT day, coin,"
        " cap - lag(cap) OVER (PARTITION BY coin ORDER BY day) AS change FROM t_history"
    )
    return wh


def _record_run(
    wh: Warehouse, run_id: str, kind: str, as_of: str | None, changed_since: str | None = None
) -> None:
    wh.query(
        "INSERT INTO runs (run_id, kind, started_at, finished_at, status, as_of_date,"
        " changed_since) VALUES (?, ?, now(), now(), 'ok', ?, ?)",
        [run_id, kind, as_of, changed_since],
    )


def test_publish_unchanged_months_are_hard_links_to_the_previous_snapshot(tmp_path):
    target = tmp_path / "published"
    with _dated_warehouse(tmp_path / "w.duckdb") as wh:
        _record_run(wh, "20240430T000000Z-a", "daily", "2024-04-30")
        publish_snapshot(wh, target, run_id="20240430T000000Z-a")
        first = _inodes(target)
        wh.query("INSERT INTO t_history SELECT DATE '2024-05-01', c, 7 FROM range(20) k(c)")
        _record_run(wh, "20240501T000000Z-b", "daily", "2024-05-01")
        manifest = json.loads(
            (
                publish_snapshot(wh, target, run_id="20240501T000000Z-b") / "manifest.json"
            ).read_text()
        )
    second = _inodes(target)
    for table in ("t_history", "v_t_history"):
        assert manifest["partitions"][table]["written"] == ["2024-05"]
        for month in ("2024-01", "2024-02", "2024-03", "2024-04"):
            key = f"{table}/{month}.parquet"
            assert second[key] == first[key], key
            assert os.stat(target / "snapshots" / "20240430T000000Z-a" / key).st_nlink == 2
    _assert_equals_warehouse(tmp_path / "w.duckdb", target)


def test_publish_small_tables_rewrite_exactly_the_months_whose_content_changed(tmp_path):
    """A base table under the hashing threshold is compared by content: an edit no run
    recorded (an alert acknowledged, say) still reaches the snapshot, in its month only."""
    target = tmp_path / "published"
    with _dated_warehouse(tmp_path / "w.duckdb") as wh:
        publish_snapshot(wh, target, run_id="20240430T000000Z-a")
        first = _inodes(target)
        wh.query("UPDATE t_history SET cap = -1 WHERE day = '2024-02-10' AND coin = 3")
        manifest = json.loads(
            (
                publish_snapshot(wh, target, run_id="20240430T000001Z-b") / "manifest.json"
            ).read_text()
        )
    second = _inodes(target)
    assert manifest["partitions"]["t_history"]["written"] == ["2024-02"]
    assert second["t_history/2024-01.parquet"] == first["t_history/2024-01.parquet"]
    assert second["t_history/2024-02.parquet"] != first["t_history/2024-02.parquet"]
    with open_warehouse(tmp_path / "w.duckdb", read_only=True) as wh:
        assert _differences(wh, (target / "latest").resolve(), "t_history") == 0


@pytest.mark.parametrize(
    ("kind", "as_of", "changed_since", "rewritten"),
    [
        ("daily", "2024-03-05", None, ["2024-03", "2024-04"]),  # a rerun of a past day
        # A backfill that says where its changes start: only those months (history changed).
        ("backfill", "2024-04-30", "2024-03-05", ["2024-03", "2024-04"]),
        ("backfill", None, None, ["2024-01", "2024-02", "2024-03", "2024-04"]),  # says nothing
        ("rebuild", None, None, ["2024-01", "2024-02", "2024-03", "2024-04"]),
    ],
)
def test_publish_view_months_rewritten_follow_the_runs_since_the_last_snapshot(
    tmp_path, kind, as_of, changed_since, rewritten
):
    target = tmp_path / "published"
    with _dated_warehouse(tmp_path / "w.duckdb") as wh:
        _record_run(wh, "20240430T000000Z-a", "daily", "2024-04-30")
        publish_snapshot(wh, target, run_id="20240430T000000Z-a")
        wh.query("UPDATE t_history SET cap = cap + 1 WHERE day = '2024-03-05'")
        _record_run(wh, "20240430T000001Z-b", kind, as_of, changed_since)
        manifest = json.loads(
            (
                publish_snapshot(wh, target, run_id="20240430T000001Z-b") / "manifest.json"
            ).read_text()
        )
    assert manifest["partitions"]["v_t_history"]["written"] == rewritten
    _assert_equals_warehouse(tmp_path / "w.duckdb", target)


def test_publish_big_table_rows_no_run_recorded_export_it_whole(tmp_path):
    """A big table's old months are reused only while their row counts hold: rows a killed
    backfill committed without its run row still reach the snapshot."""
    target = tmp_path / "published"
    with _dated_warehouse(tmp_path / "w.duckdb") as wh:
        wh.query(
            "CREATE TABLE big_history AS SELECT DATE '2024-01-01' + (i % 121)::INTEGER"
            " AS day, i AS v FROM range(150000) t(i)"
        )
        _record_run(wh, "20240430T000000Z-a", "daily", "2024-04-30")
        publish_snapshot(wh, target, run_id="20240430T000000Z-a")
        wh.query("INSERT INTO big_history VALUES ('2024-01-15', -1)")
        _record_run(wh, "20240430T000001Z-b", "daily", "2024-04-30")
        manifest = json.loads(
            (
                publish_snapshot(wh, target, run_id="20240430T000001Z-b") / "manifest.json"
            ).read_text()
        )
    assert manifest["partitions"]["big_history"]["written"] == [
        "2024-01",
        "2024-02",
        "2024-03",
        "2024-04",
    ]
    assert manifest["partitions"]["v_t_history"]["written"] == ["2024-04"]
    _assert_equals_warehouse(tmp_path / "w.duckdb", target)


def test_publish_a_run_whose_months_hold_no_rows_reuses_the_rest(tmp_path):
    """A daily run dated after the table's last row: the months to rewrite are empty."""
    target = tmp_path / "published"
    with _dated_warehouse(tmp_path / "w.duckdb") as wh:
        _record_run(wh, "20240430T000000Z-a", "daily", "2024-04-30")
        publish_snapshot(wh, target, run_id="20240430T000000Z-a")
        _record_run(wh, "20240601T000000Z-b", "daily", "2024-06-01")
        manifest = json.loads(
            (
                publish_snapshot(wh, target, run_id="20240601T000000Z-b") / "manifest.json"
            ).read_text()
        )
    assert manifest["partitions"]["v_t_history"]["written"] == []
    _assert_equals_warehouse(tmp_path / "w.duckdb", target)


def test_publish_an_empty_table_is_one_readable_file_of_no_rows(tmp_path):
    target = tmp_path / "published"
    with open_warehouse(tmp_path / "w.duckdb") as wh:
        publish_snapshot(wh, target, run_id="20240430T000000Z-a")
        assert (
            wh.scalar(
                "SELECT count(*) FROM read_parquet(?)",
                [str(target / "latest" / "report_daily" / "*.parquet")],
            )
            == 0
        )
    assert [p.name for p in (target / "latest" / "report_daily").iterdir()] == ["empty.parquet"]


KILLED = textwrap.dedent("""
    import sys
    from capcover.warehouse.db import open_warehouse
    from capcover.warehouse.publish import publish_snapshot
    with open_warehouse(sys.argv[1], migrate=False) as wh:
        publish_snapshot(wh, sys.argv[2], run_id="20240502T000000Z-kill")
""")


def test_publish_killed_mid_way_leaves_latest_on_a_complete_snapshot(tmp_path):
    target, db = tmp_path / "published", tmp_path / "w.duckdb"
    with open_warehouse(db, migrate=False) as wh:
        # No runs log: every publish exports everything, 100 months, long enough to be killed.
        wh.query(
            "CREATE TABLE big_history AS SELECT DATE '2016-01-01' + (i // 400)::INTEGER"
            " AS day, hash(i) AS v, repeat('x', 50) || i AS s FROM range(1200000) t(i)"
        )
        first = publish_snapshot(wh, target, run_id="20240501T000000Z-ok")
    child = subprocess.Popen(
        [sys.executable, "-c", KILLED, str(db), str(target)],
        cwd=Path(__file__).resolve().parent.parent,
    )
    try:
        deadline = time.monotonic() + 60
        while not any(
            p.name.startswith(".tmp-") and any(p.rglob("*.parquet")) for p in target.iterdir()
        ):
            assert child.poll() is None, "the publish finished before it could be killed"
            assert time.monotonic() < deadline
            time.sleep(0.01)
        child.send_signal(signal.SIGKILL)
        child.wait()
    finally:
        child.kill()
    assert (target / "latest").resolve() == first.resolve()
    assert json.loads((target / "latest.json").read_text())["run_id"] == "20240501T000000Z-ok"
    _assert_equals_warehouse(db, target)
    assert [p for p in target.iterdir() if p.name.startswith(".tmp-")]  # what the kill left
    with open_warehouse(db, migrate=False) as wh:
        publish_snapshot(wh, target, run_id="20240502T000000Z-next")
    assert not [p for p in target.iterdir() if p.name.startswith(".")]
    assert (target / "latest").resolve().name == "20240502T000000Z-next"
    _assert_equals_warehouse(db, target)


def test_publish_month_keys_are_the_first_date_column(tmp_path):
    with _dated_warehouse(tmp_path / "w.duckdb") as wh:
        snap = publish_snapshot(wh, tmp_path / "p", run_id="20240430T000000Z-a")
    months = sorted(p.stem for p in (snap / "t_history").iterdir())
    assert months == ["2024-01", "2024-02", "2024-03", "2024-04"]


def test_publish_after_a_real_backfill_rewrites_only_the_months_it_changed(tmp_path):
    """A long history, then a short backfill: the snapshot it publishes when done rewrites
    the months from the first day it replaced (runs.changed_since), links the older ones, and
    equals the warehouse."""
    import io

    from rich.console import Console

    from benchmarks.common import capcover_settings
    from capcover.fakeapi.coingecko import CoinGecko
    from capcover.flows.backfill import run_backfill

    quiet = Console(file=io.StringIO())
    with CoinGecko.generated({"artificial-intelligence": 8}) as fake:
        settings = capcover_settings(fake, tmp_path / "w.duckdb")
        pro = type(settings).model_validate(
            {**settings.model_dump(), "coingecko_plan": "pro", "coingecko_api_key": "CG-pro-k123"}
        )
        run_daily(settings)
        run_backfill(pro, 400, console=quiet)  # 2023-02-29 .. 2024-04-03
        run_daily(settings)
        run_backfill(pro, 20, console=quiet)  # 2024-03-14 .. 2024-04-03 replaced, published
        with open_warehouse(settings.db, read_only=True) as wh:
            since, published = wh.query(
                "SELECT changed_since, published_to FROM runs WHERE kind = 'backfill'"
                " ORDER BY started_at DESC LIMIT 1"
            )[0]
    assert str(since) == "2024-03-14"
    assert Path(published) == (settings.publish_path() / "latest").resolve()
    target = settings.publish_path()
    manifest = _assert_equals_warehouse(settings.db, target)
    for table in ("coin_history", "report_daily", "v_ratio_moves"):
        assert manifest["partitions"][table]["written"] == ["2024-03", "2024-04"], table
        assert "2023-06" in manifest["partitions"][table]["months"], table  # linked, kept
