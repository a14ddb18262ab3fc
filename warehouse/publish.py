"""The warehouse side of the published Parquet snapshot: which tables, the COPY export, and
what `runs` records about publishing."""

from __future__ import annotations

import json
from pathlib import Path

from warehouse.db import Warehouse

ALWAYS = ("report_daily",)
OPTIONAL = ("alerts",)  # exported when present (alerting adds it)


def tables_to_publish(wh: Warehouse) -> list[str]:
    """report_daily, then every history table or view and the alerts table, if present."""
    present = {
        name for (name,) in wh.query(
            "SELECT table_name FROM information_schema.tables"
            " WHERE table_schema = 'main'"
        )
    }
    history = sorted(n for n in present if "history" in n)
    return [t for t in ALWAYS if t in present] + history + [t for t in OPTIONAL if t in present]


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
