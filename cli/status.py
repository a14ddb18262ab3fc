"""`capcover status`: the last runs from the warehouse and the next scheduled one.

Read-only and Prefect-free: the warehouse
is opened `read_only=True` and released at once; the next run comes from the Prefect API over
plain HTTP when PREFECT_API_URL answers, else it is computed from the cron setting, and the
output says which.
"""

from __future__ import annotations

import json

from capcover.cli.common import EXIT_FAILED, EXIT_OK, echo, load_reader

MAX_LIMIT = 100_000  # `--limit 10^21` is a usage error (exit 2), not an overflow in DuckDB
# Tables show the first columns; CSV and JSON carry them all.
COMPACT = (
    "run_id",
    "kind",
    "status",
    "started_at",
    "duration_s",
    "as_of_date",
    "reports_written",
    "sources_failed",
    "alerts_sent",
    "message",
)
RUN_COLUMNS = (
    "run_id",
    "kind",
    "status",
    "started_at",
    "duration_s",
    "as_of_date",
    "reports_written",
    "coins_loaded",
    "quotes_loaded",
    "http_requests",
    "http_retries",
    "sources_failed",
    "alerts_sent",
    "published_to",
    "message",
)


def last_runs(settings, limit: int) -> tuple[list[str], list[tuple]]:
    from capcover.warehouse.db import open_warehouse
    from capcover.warehouse.queries import recent_runs

    with open_warehouse(settings.db, read_only=True, lock_budget_s=settings.lock_budget_s) as wh:
        return recent_runs(wh, RUN_COLUMNS, limit)


def status_data(settings, limit: int) -> dict:
    from capcover.flows.serve import next_scheduled

    cols, rows = last_runs(settings, limit)
    nxt = next_scheduled(settings)
    return {"columns": cols, "rows": rows, "next_run_at": nxt.at, "next_run_source": nxt.source}


def render_status(data: dict, fmt: str) -> str:
    from capcover.report.tables import render

    if fmt == "json":
        runs = [dict(zip(data["columns"], r, strict=True)) for r in data["rows"]]
        return json.dumps(
            {
                "runs": runs,
                "next_run_at": data["next_run_at"],
                "next_run_source": data["next_run_source"],
            },
            default=str,
            indent=2,
        )
    cols, rows = data["columns"], data["rows"]
    if fmt in ("table", "markdown"):
        keep = [i for i, c in enumerate(cols) if c in COMPACT]
        cols, rows = [cols[i] for i in keep], [tuple(r[i] for i in keep) for r in rows]
    table = render(cols, rows, fmt, title="capcover runs (latest first)")
    at = data["next_run_at"].isoformat() if data["next_run_at"] else "none"
    return f"{table}\nnext scheduled run: {at} — {data['next_run_source']}"


def status(db, limit: int, fmt: str) -> int:
    """`capcover status`: the last `limit` runs and the next scheduled one; the exit code."""
    settings = load_reader("schedule_cron", "schedule_timezone", db=db)
    data = status_data(settings, limit)
    text = render_status(data, fmt)
    if fmt == "csv":  # keep CSV pure; the schedule line goes to stderr
        text, _, note = text.rpartition("\nnext scheduled run: ")
        echo(f"next scheduled run: {note}", err=True)
    echo(text)
    if not data["rows"]:
        echo(
            f"capcover: error: no runs recorded in {settings.db} yet — run `capcover run` "
            f"or `capcover serve`",
            err=True,
        )
        return EXIT_FAILED
    latest = dict(zip(data["columns"], data["rows"][0], strict=True))
    return EXIT_OK if latest["status"] == "ok" else EXIT_FAILED


def register(group) -> None:
    import click

    from capcover.cli.options import format_option, root_db

    @group.command("status")
    @click.option(
        "--limit",
        type=click.IntRange(min=1, max=MAX_LIMIT),
        default=10,
        show_default=True,
        help="runs to show",
    )
    @format_option
    def status_cmd(limit: int, fmt: str) -> int:
        """The last runs and the next scheduled one; exit 0 when the latest run succeeded, 1 when
        it failed or none ran."""
        return status(root_db(), limit, fmt)
