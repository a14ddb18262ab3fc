"""The published Parquet snapshot: written after each successful run, atomically."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import duckdb
import pytest

from capcover.flows.sequence import publish_target, run_daily
from capcover.warehouse.db import open_warehouse
from capcover.warehouse.publish import publish_snapshot, tables_to_publish


def _parquet_rows(folder: Path) -> int:
    """Rows of a published table, read the way the README says: its folder's glob."""
    return duckdb.sql(f"SELECT count(*) FROM read_parquet('{folder}/*.parquet')").fetchall()[0][0]  # noqa: S608


def test_publish_after_run_exports_every_table_to_latest(fake_cg, settings):
    fake_cg.serve()
    result = run_daily(settings)

    latest = settings.publish_path() / "latest"
    assert settings.publish_path() == Path(settings.db).parent / "published"
    manifest = json.loads((latest / "manifest.json").read_text())
    assert manifest["run_id"] == result.run_id
    assert manifest["as_of_date"] == "2024-04-03"
    with open_warehouse(settings.db, read_only=True) as wh:
        tables = tables_to_publish(wh)
        assert tables[0] == "report_daily"
        assert {"v_price_decisions", "gpu_depth"} <= set(tables)  # the price, checkable
        for table in tables:
            expected = wh.scalar(f'SELECT count(*) FROM "{table}"')  # noqa: S608
            assert manifest["tables"][table] == expected
            assert _parquet_rows(latest / table) == expected
        published = wh.scalar("SELECT published_to FROM runs WHERE run_id = ?", [result.run_id])
        steps = json.loads(wh.scalar("SELECT step_durations FROM runs"))
    assert Path(published).resolve() == latest.resolve()
    assert "publish" in steps
    assert (
        json.loads((settings.publish_path() / "latest.json").read_text())["run_id"] == result.run_id
    )


def test_publish_demo_runs_never_land_in_the_live_folder(settings):
    assert publish_target(settings, "demo") != publish_target(settings, "daily")
    assert publish_target(settings, "demo").name == "capcover-published"


def _fake_warehouse(path: Path, rows: int):
    wh = open_warehouse(path, migrate=False)
    wh.query(
        "CREATE OR REPLACE TABLE report_daily AS"
        " SELECT i AS n, repeat('x', 200) || i AS payload FROM range(?) t(i)",
        [rows],
    )
    return wh


def test_publish_failure_keeps_the_previous_snapshot(tmp_path):
    target = tmp_path / "published"
    with _fake_warehouse(tmp_path / "w.duckdb", 10) as wh:
        first = publish_snapshot(wh, target, run_id="20240403T000000Z-aaaa")
        (target / "snapshots" / "20240404T000000Z-bbbb").write_text("in the way")
        with pytest.raises(OSError):
            publish_snapshot(wh, target, run_id="20240404T000000Z-bbbb")
    assert (target / "latest").resolve() == first.resolve()
    assert not [p for p in target.iterdir() if p.name.startswith(".")]


def test_publish_prunes_all_but_the_newest_snapshots(tmp_path):
    target = tmp_path / "published"
    with _fake_warehouse(tmp_path / "w.duckdb", 10) as wh:
        for day in range(1, 6):
            last = publish_snapshot(wh, target, run_id=f"202404{day:02d}T000000Z-x", keep=2)
    kept = sorted(p.name for p in (target / "snapshots").iterdir())
    assert kept == ["20240404T000000Z-x", "20240405T000000Z-x"]
    assert (target / "latest").resolve() == last.resolve()


READER = textwrap.dedent("""
    import json, os, sys, time, duckdb
    target, stop = sys.argv[1], sys.argv[2]
    reads, bad = 0, []
    while not os.path.exists(stop):
        try:
            snap = os.path.realpath(os.path.join(target, "latest"))
            expected = json.load(open(os.path.join(snap, "manifest.json")))["tables"]
            for table, rows in expected.items():
                got = duckdb.sql(f"SELECT count(*) FROM read_parquet('{snap}/{table}/*.parquet')"
                                 ).fetchall()[0][0]
                if got != rows:
                    bad.append(f"{snap}/{table}: {got} rows, manifest says {rows}")
            # The plain path through the symlink, as an analyst would type it.
            duckdb.sql(f"SELECT count(*) FROM '{target}/latest/report_daily/*.parquet'").fetchall()
            reads += 1
        except Exception as exc:
            bad.append(f"{type(exc).__name__}: {exc}")
    print(json.dumps({"reads": reads, "bad": bad[:5], "bad_count": len(bad)}))
""")


def test_publish_concurrent_reader_never_sees_a_half_written_snapshot(tmp_path):
    target, stop = tmp_path / "published", tmp_path / "stop"
    with _fake_warehouse(tmp_path / "w.duckdb", 20_000) as wh:
        publish_snapshot(wh, target, run_id="20240401T000000Z-0000")
        reader = subprocess.Popen(
            [sys.executable, "-c", READER, str(target), str(stop)],
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            for i in range(1, 25):
                wh.query("INSERT INTO report_daily SELECT i, 'y' FROM range(?) t(i)", [i * 997])
                publish_snapshot(wh, target, run_id=f"20240401T0000{i:02d}Z-{i:04d}")
            stop.touch()
            out, _ = reader.communicate(timeout=60)
        finally:
            reader.kill()
    seen = json.loads(out)
    assert seen["bad_count"] == 0, seen["bad"]
    assert seen["reads"] > 0, seen
    assert os.path.realpath(target / "latest").endswith("20240401T000024Z-0024")


def test_publish_removes_temp_folders_a_killed_publish_left(fake_cg, settings):
    """A publish SIGKILLed between its temp folder and the rename leaves `.tmp-<run>-<pid>`
    behind; the next run removes it, and leaves a live process's temp folder alone."""
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    target = settings.publish_path()
    stale = target / f".tmp-20240403T000000Z-deadbeef-{dead.pid}"
    stale_link = target / f".latest.tmp-{dead.pid}"
    busy = target / f".tmp-20240403T000001Z-cafe0001-{live.pid}"
    try:
        for folder in (stale, busy):
            folder.mkdir(parents=True)
            (folder / "report_daily.parquet").write_bytes(b"PAR1 half-written")
        stale_link.symlink_to("snapshots/nowhere")
        fake_cg.serve()
        result = run_daily(settings)
        assert not stale.exists() and not stale_link.is_symlink()
        assert busy.is_dir()
        assert (target / "latest").resolve() == (target / "snapshots" / result.run_id).resolve()
    finally:
        live.kill()
        live.wait()
