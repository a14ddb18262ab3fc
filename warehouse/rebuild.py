"""The warehouse side of `capcover rebuild`: which runs to replay, emptying their derived rows,
and counting what the replay wrote back."""

from __future__ import annotations

from collections.abc import Sequence

from capcover.warehouse.db import Warehouse
from capcover.warehouse.load import refresh_coin_names


def successful_runs(wh: Warehouse) -> list[tuple[str, str]]:
    """(run_id, kind) of every successful run in the order they committed (run_seq,
    migration 070), never by the clock: a clock stepped back between two runs of one day
    must not make the older one win."""
    return [
        (r, k)
        for r, k in wh.query(
            "SELECT run_id, kind FROM runs WHERE status = 'ok' ORDER BY run_seq, run_id"
        )
    ]


def delete_run_rows(wh: Warehouse, table: str, run_ids: Sequence[str]) -> None:
    """Delete the rows the runs `run_ids` wrote to `table` (a name from a constant list)."""
    wh.query(
        f"DELETE FROM {table} WHERE list_contains(?, run_id)",  # noqa: S608
        [list(run_ids)],
    )
    if table == "coin_snapshots":
        # The names of the rows that remain; the replayed loads then keep them in step.
        refresh_coin_names(wh)


def row_count(wh: Warehouse, table: str) -> int:
    """Rows in `table` (a name from a constant list)."""
    count: int = wh.scalar(f"SELECT count(*) FROM {table}")  # noqa: S608
    return count


def sources_failed(wh: Warehouse, run_ids: Sequence[str]) -> dict[str, set[str]]:
    """run_id -> the quote feeds recorded as failed (`runs.sources_failed`), in one query."""
    return {
        run_id: set((failed or "").split(","))
        for run_id, failed in wh.query(
            "SELECT run_id, sources_failed FROM runs WHERE list_contains(?, run_id)",
            [list(run_ids)],
        )
    }
