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
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from datetime import UTC, datetime
from pathlib import Path

from warehouse.db import Warehouse
from warehouse.publish import (
    export_parquet,
    record_publish_failure,
    record_published,
    step_durations,
    tables_to_publish,
)

log = logging.getLogger("capcover")

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


def publish_after_run(wh: Warehouse, settings, *, run_id: str, kind: str,
                      as_of_date: object) -> Path | None:
    """The flow's last step, on the writer's connection right after the run committed.

    A publishing failure does not undo the run (its data is committed and correct): it is
    logged and noted in `runs.message`, and `runs.published_to` stays empty.
    """
    target = publish_target(settings, kind)
    t0 = time.monotonic()
    try:
        folder = publish_snapshot(wh, target, run_id=run_id, as_of_date=as_of_date,
                                  keep=settings.publish_keep)
    except Exception as exc:  # noqa: BLE001 - the run itself succeeded
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        log.warning("run %s: publishing the Parquet snapshot to %s failed: %s",
                    run_id, target, text)
        record_publish_failure(wh, run_id, f"publish to {target} failed: {text}"[:500])
        return None
    steps = step_durations(wh, run_id)
    steps["publish"] = time.monotonic() - t0
    record_published(wh, run_id, folder, {k: round(v, 3) for k, v in steps.items()})
    return folder


def publish_target(settings, kind: str) -> Path:
    """The live publish folder, or for the demo its own folder beside data/demo.duckdb (demo
    data never lands where live snapshots are read)."""
    if kind == "demo":
        return settings.db.with_name(f"{settings.db.stem}-published")
    return settings.publish_path()
