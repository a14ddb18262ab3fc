"""Published snapshot: after each successful run, the report and history tables as Parquet.

Analysts who want a file they can keep open read these instead of the warehouse (a DuckDB file
that the daily writer must lock). Publishing is atomic in two steps, so a reader never sees a
half-written file or a mix of two runs:

1. every table is written with DuckDB's `COPY ... (FORMAT parquet)` into a hidden temp folder,
   which is then renamed to `snapshots/<run_id>/` (a rename within one file system is atomic);
2. the `latest` symlink is swapped to it with `os.replace` (also atomic), and `latest.json`
   (the manifest, for tools that do not follow symlinks) is replaced the same way.

Older snapshots beyond `publish_keep` are pruned; a reader holding one of their files open
keeps reading it (POSIX unlinks only the name).

This module holds all of it: which tables, the COPY export, the atomic swap, and what `runs`
records about publishing.
"""

from __future__ import annotations

import json
import os
import shutil
from datetime import UTC, datetime
from pathlib import Path

from warehouse.db import Warehouse

ALWAYS = ("report_daily",)
OPTIONAL = ("alerts",)  # exported when present (alerting adds it)
# Why each report moved, with the coins and the quotes behind it (migration 020), so a BI tool
# can show the "why" from the snapshot alone.
EXPLAIN = ("v_ratio_moves", "v_report_constituents", "v_constituent_moves", "v_category_gap",
           "v_report_quotes")


def tables_to_publish(wh: Warehouse) -> list[str]:
    """report_daily, then every history table or view, the alerts table and the "why it moved"
    views (constituents and quotes behind each report), those present."""
    present = {
        name for (name,) in wh.query(
            "SELECT table_name FROM information_schema.tables"
            " WHERE table_schema = 'main'"
        )
    }
    history = sorted(n for n in present if "history" in n)
    return ([t for t in ALWAYS if t in present] + history
            + [t for t in OPTIONAL + EXPLAIN if t in present])


def _sql_path(path: Path) -> str:
    # COPY takes its target as a literal, not a bound parameter: quote it.
    return "'" + str(path).replace("'", "''") + "'"


def export_parquet(wh: Warehouse, table: str, out: Path) -> int:
    """Write `table` (a catalog name) to the Parquet file `out`; returns its row count."""
    wh.con.execute(
        f'COPY (SELECT * FROM "{table}") TO {_sql_path(out)}'  # noqa: S608 - from catalog
        " (FORMAT parquet, COMPRESSION zstd)"
    )
    return wh.scalar(f'SELECT count(*) FROM "{table}"')  # noqa: S608


def record_publish_failure(wh: Warehouse, run_id: str, message: str) -> None:
    """Note in `runs.message` why the run's snapshot was not published."""
    wh.query("UPDATE runs SET message = ? WHERE run_id = ?", [message, run_id])


def step_durations(wh: Warehouse, run_id: str) -> dict[str, float]:
    """The run's recorded step durations (seconds by step name); empty when none."""
    recorded = wh.scalar("SELECT step_durations FROM runs WHERE run_id = ?", [run_id])
    return json.loads(recorded) if recorded else {}


def record_published(wh: Warehouse, run_id: str, folder: Path,
                     steps: dict[str, float]) -> None:
    """Record where the run was published and its step durations (seconds by step name)."""
    wh.query(
        "UPDATE runs SET published_to = ?, step_durations = ? WHERE run_id = ?",
        [str(folder), json.dumps(steps), run_id],
    )


def publish_snapshot(
    wh: Warehouse, target: Path, *, run_id: str, as_of_date: object = None, keep: int = 7
) -> Path:
    """Export the tables to `target/snapshots/<run_id>/` and point `target/latest` at it.

    Returns the snapshot folder. On any error nothing new becomes visible: the temp folder is
    removed and `latest` still points at the previous snapshot.
    """
    target = Path(target)
    snapshots = target / "snapshots"
    snapshots.mkdir(parents=True, exist_ok=True)
    remove_stale_temp(target)
    tmp = target / f".tmp-{run_id}-{os.getpid()}"
    final = snapshots / run_id
    try:
        tmp.mkdir()
        counts = {}
        for table in tables_to_publish(wh):
            counts[table] = export_parquet(wh, table, tmp / f"{table}.parquet")
        manifest = {
            "run_id": run_id,
            "as_of_date": str(as_of_date) if as_of_date is not None else None,
            "published_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "tables": counts,
        }
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
        if final.exists():  # the same run published again: replace it
            shutil.rmtree(final)
        os.rename(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    _swap_symlink(target / "latest", Path("snapshots") / run_id)
    _replace_file(target / "latest.json", json.dumps({**manifest, "path": str(final)}, indent=2))
    _prune(snapshots, keep=keep, current=final)
    return final


def remove_stale_temp(target: Path) -> list[Path]:
    """Remove what a killed publish left in `target`: `.tmp-<run_id>-<pid>` folders and
    `.latest.tmp-<pid>` / `.latest.json.tmp-<pid>` files whose process is gone. A live
    process's temp files are left alone (another warehouse publishing to the same folder).
    Returns what was removed."""
    removed = []
    for path in target.glob(".*tmp-*"):
        pid = path.name.rsplit("-", 1)[-1]
        if not pid.isdigit() or _alive(int(pid)):
            continue
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
        removed.append(path)
    return removed


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return False  # our own leftovers are from an earlier, finished attempt
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    return True


def _swap_symlink(link: Path, points_to: Path) -> None:
    tmp = link.with_name(f".{link.name}.tmp-{os.getpid()}")
    tmp.unlink(missing_ok=True)
    os.symlink(points_to, tmp, target_is_directory=True)
    os.replace(tmp, link)


def _replace_file(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(text + "\n", encoding="utf-8")
    os.replace(tmp, path)


def _prune(snapshots: Path, *, keep: int, current: Path) -> None:
    # Run ids start with a UTC timestamp, so name order is time order.
    folders = sorted(p for p in snapshots.iterdir() if p.is_dir())
    for old in folders[:-keep]:
        if old != current:
            shutil.rmtree(old, ignore_errors=True)
