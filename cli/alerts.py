"""`capcover alerts`: alert history and delivery state per channel (read-only)."""

from __future__ import annotations

import click

from cli.common import DATE, echo, format_option, load_reader

ALERTS_MIGRATION = 5  # warehouse/migrations/005_alerts.sql

# The table shows these columns; CSV and JSON carry them all.
TABLE_COLUMNS = ["report_date", "scenario", "rule", "level", "previous_ratio", "current_ratio",
                 "delivery_state", "delivered", "channels", "attempts", "last_error", "message"]


@click.command("alerts")
@click.option("--since", type=DATE, help="report dates from this day on")
@click.option("--undelivered", is_flag=True,
              help="only alerts some channel has not confirmed yet")
@format_option
def alerts_cmd(since, undelivered: bool, fmt: str) -> None:
    """Alert history and delivery state per channel."""
    from report.tables import render
    from warehouse.db import open_warehouse
    from warehouse.queries import list_alerts

    settings = load_reader()
    with open_warehouse(settings.db, read_only=True, lock_budget_s=settings.lock_budget_s) as wh:
        wh.require(ALERTS_MIGRATION, "the alerts table")
        cols, rows = list_alerts(wh, since=since, undelivered=undelivered)
    if fmt == "table":
        idx = [cols.index(c) for c in TABLE_COLUMNS]
        cols, rows = TABLE_COLUMNS, [tuple(r[i] for i in idx) for r in rows]
    if not rows:
        what = "undelivered alerts" if undelivered else "alerts"
        echo(f"no {what}" + (f" since {since}" if since else "") + f" in {settings.db}")
        return
    echo(render(cols, rows, fmt, title="capcover alerts"))


def register(group: click.Group) -> None:
    group.add_command(alerts_cmd)
