"""Which previous snapshot the incremental publish may reuse: only its own warehouse's (two
warehouses sharing a publish folder never mix rows), and coin_history's months as long as no
run that writes it ran."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from capcover.warehouse.db import open_warehouse
from capcover.warehouse.publish import publish_snapshot
from tests.test_publish_incremental import (
    _assert_equals_warehouse,
    _dated_warehouse,
    _inodes,
    _record_run,
)

MONTHS = ["2024-01", "2024-02", "2024-03", "2024-04"]


def _written(snapshot: Path, table: str) -> list[str]:
    return json.loads((snapshot / "manifest.json").read_text())["partitions"][table]["written"]


def test_publish_two_warehouses_sharing_a_folder_never_mix_rows(tmp_path):
    """Each publishes after the other, its runs newer than the other's snapshot: without its
    identity in the watermark, each would reuse the other's months as its own."""
    target, a, b = tmp_path / "shared", tmp_path / "a.duckdb", tmp_path / "b.duckdb"
    with _dated_warehouse(a) as wh:
        _record_run(wh, "20240430T000000Z-a1", "daily", "2024-04-30")
    with _dated_warehouse(b) as wh:  # other rows: every cap differs
        wh.query("UPDATE t_history SET cap = cap * 2 + 1")
    for n, db in enumerate([a, b, a, b], start=1):
        with open_warehouse(db) as wh:
            _record_run(wh, f"20240430T00000{n}Z-{db.stem}", "daily", "2024-04-30")
            snap = publish_snapshot(wh, target, run_id=f"20240430T00000{n}Z-{db.stem}")
        _assert_equals_warehouse(db, target)
        for table in ("t_history", "v_t_history"):
            assert _written(snap, table) == MONTHS, (db.stem, table)
    with open_warehouse(b) as wh:  # its own previous snapshot again: incremental
        _record_run(wh, "20240430T000009Z-b", "daily", "2024-04-30")
        snap = publish_snapshot(wh, target, run_id="20240430T000009Z-b")
    assert _written(snap, "v_t_history") == ["2024-04"]
    _assert_equals_warehouse(b, target)


def test_publish_a_copied_or_recreated_warehouse_is_another_warehouse(tmp_path):
    target, db = tmp_path / "published", tmp_path / "w.duckdb"
    with _dated_warehouse(db) as wh:
        _record_run(wh, "20240430T000000Z-a", "daily", "2024-04-30")
        publish_snapshot(wh, target, run_id="20240430T000000Z-a")
    copy = tmp_path / "copy.duckdb"
    shutil.copy(db, copy)  # the same id, another file
    with open_warehouse(copy) as wh:
        wh.query("UPDATE t_history SET cap = -cap WHERE day < '2024-04-01'")
        _record_run(wh, "20240430T000001Z-c", "daily", "2024-04-30")
        assert (
            _written(publish_snapshot(wh, target, run_id="20240430T000001Z-c"), "v_t_history")
            == MONTHS
        )
    _assert_equals_warehouse(copy, target)
    db.unlink()  # the same path, a new warehouse
    with _dated_warehouse(db) as wh:
        wh.query("UPDATE t_history SET cap = cap * 3")
        _record_run(wh, "20240430T000002Z-n", "daily", "2024-04-30")
        assert (
            _written(publish_snapshot(wh, target, run_id="20240430T000002Z-n"), "v_t_history")
            == MONTHS
        )
    _assert_equals_warehouse(db, target)


def _big_history(db: Path):
    """A migrated warehouse whose coin_history is over the hashing threshold (120 days x
    1,000 coins)."""
    wh = _dated_warehouse(db)
    wh.query(
        "INSERT INTO coin_history SELECT 'coin-' || c, DATE '2024-01-01' + d::INTEGER,"
        " TIMESTAMPTZ '2024-05-01 00:00:00+00', c * 1e6 + d, 1.0, 2.0,"
        " TIMESTAMPTZ '2024-05-01 00:00:00+00', 'job-1' FROM range(120) r(d),"
        " range(1000) k(c)"
    )
    return wh


def test_publish_coin_history_months_are_reused_while_only_dated_runs_ran(tmp_path):
    target, db = tmp_path / "published", tmp_path / "w.duckdb"
    with _big_history(db) as wh:
        _record_run(wh, "20240430T000000Z-a", "daily", "2024-04-30")
        publish_snapshot(wh, target, run_id="20240430T000000Z-a")
        first = _inodes(target)
        _record_run(wh, "20240430T000001Z-b", "daily", "2024-04-30")
        snap = publish_snapshot(wh, target, run_id="20240430T000001Z-b")
        assert _written(snap, "coin_history") == []
        assert {k: v for k, v in _inodes(target).items() if k.startswith("coin_history/")} == {
            k: v for k, v in first.items() if k.startswith("coin_history/")
        }
        # Rows no run recorded (a killed backfill): the count tells, the table goes whole.
        wh.query(
            "INSERT INTO coin_history VALUES ('coin-new', '2024-02-02', now(), 1, 1, 1,"
            " now(), 'job-2')"
        )
        _record_run(wh, "20240430T000002Z-c", "daily", "2024-04-30")
        snap = publish_snapshot(wh, target, run_id="20240430T000002Z-c")
        assert _written(snap, "coin_history") == MONTHS
        # A backfill writes coin_history: everything is rewritten.
        wh.query("UPDATE coin_history SET market_cap_usd = 0 WHERE day = '2024-01-05'")
        _record_run(wh, "20240430T000003Z-d", "backfill", None)
        snap = publish_snapshot(wh, target, run_id="20240430T000003Z-d")
        assert _written(snap, "coin_history") == MONTHS
    _assert_equals_warehouse(db, target)
