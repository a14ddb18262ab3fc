"""`capcover status`: the last runs from the warehouse and the next scheduled one.

Read-only and Prefect-free: the warehouse is opened `read_only=True` and released at once; the
next run comes from the Prefect API over plain HTTP when PREFECT_API_URL answers, else it is
computed from the cron setting, and the output says which.
"""

from __future__ import annotations

import json
import os

from flows.schedule import next_run
from flows.serve import FULL_NAME, NextRun, next_scheduled_from_api
from warehouse.db import open_warehouse
from warehouse.queries import recent_runs

# Tables show the first columns; CSV and JSON carry them all.
COMPACT = ("run_id", "kind", "status", "started_at", "duration_s", "as_of_date",
           "reports_written", "sources_failed", "alerts_sent", "message")
RUN_COLUMNS = ("run_id", "kind", "status", "started_at", "duration_s", "as_of_date",
               "reports_written", "coins_loaded", "quotes_loaded", "http_requests",
               "http_retries", "sources_failed", "alerts_sent", "published_to", "message")


def last_runs(settings, limit: int) -> tuple[list[str], list[tuple]]:
    with open_warehouse(settings.db, read_only=True, lock_budget_s=settings.lock_budget_s) as wh:
        return recent_runs(wh, RUN_COLUMNS, limit)


def next_scheduled(settings) -> NextRun:
    api = os.environ.get("PREFECT_API_URL")
    if api:
        found = next_scheduled_from_api(api)
        if found is not None:
            return found
        why = f"no deployment {FULL_NAME} at PREFECT_API_URL={api} (or it did not answer)"
    else:
        why = "PREFECT_API_URL not set"
    at = next_run(settings.schedule_cron, settings.schedule_timezone)
    return NextRun(at, f"computed from schedule_cron '{settings.schedule_cron}' "
                       f"({settings.schedule_timezone}); {why}")


def status_data(settings, limit: int) -> dict:
    cols, rows = last_runs(settings, limit)
    nxt = next_scheduled(settings)
    return {"columns": cols, "rows": rows, "next_run_at": nxt.at, "next_run_source": nxt.source}


def render_status(data: dict, fmt: str) -> str:
    from flows.output import render

    if fmt == "json":
        runs = [dict(zip(data["columns"], r, strict=True)) for r in data["rows"]]
        return json.dumps({"runs": runs, "next_run_at": data["next_run_at"],
                           "next_run_source": data["next_run_source"]}, default=str, indent=2)
    cols, rows = data["columns"], data["rows"]
    if fmt in ("table", "markdown"):
        keep = [i for i, c in enumerate(cols) if c in COMPACT]
        cols, rows = [cols[i] for i in keep], [tuple(r[i] for i in keep) for r in rows]
    table = render(cols, rows, fmt, title="capcover runs (latest first)")
    at = data["next_run_at"].isoformat() if data["next_run_at"] else "none"
    return f"{table}\nnext scheduled run: {at} — {data['next_run_source']}"


def cmd_status(args) -> int:
    """`capcover status`: exit 0 when the latest run succeeded, 1 when it failed or none ran."""
    import sys

    from flows.settings import load_settings

    settings = load_settings()
    data = status_data(settings, args.limit)
    text = render_status(data, args.format)
    if args.format == "csv":  # keep CSV pure; the schedule line goes to stderr
        text, _, note = text.rpartition("\nnext scheduled run: ")
        print(f"next scheduled run: {note}", file=sys.stderr)
    print(text)
    if not data["rows"]:
        print(f"capcover: error: no runs recorded in {settings.db} yet — run `capcover run` or "
              f"`capcover serve`", file=sys.stderr)
        return 1
    latest = dict(zip(data["columns"], data["rows"][0], strict=True))
    return 0 if latest["status"] == "ok" else 1
