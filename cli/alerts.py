"""`capcover alerts`: alert history and delivery state per channel (read-only)."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import click

from capcover.cli.common import echo, without

# The table leaves these out; CSV and JSON carry every column.
DETAIL_ONLY = frozenset({"alert_id", "previous_date", "created_at", "delivered_at", "run_id"})


def alerts(db: str | None, since: date | None, undelivered: bool, fmt: str) -> None:
    """`capcover alerts`: the alerts from report date `since` on (all without it)."""
    from capcover.api import Reader
    from capcover.report.tables import render

    reader = Reader(db=db)
    cols, rows = reader.alerts(since=since, undelivered=undelivered)
    if fmt == "table":
        cols, rows = without(cols, rows, DETAIL_ONLY)
    if not rows:
        what = "undelivered alerts" if undelivered else "alerts"
        echo(f"no {what}" + (f" since {since}" if since else "") + f" in {reader.db}")
        return
    echo(render(cols, rows, fmt, title="capcover alerts"))


def register(group: click.Group) -> None:
    import click

    from capcover.cli.options import DATE, format_option, root_db

    @group.command("alerts")
    @click.option("--since", type=DATE, help="report dates from this day on")
    @click.option(
        "--undelivered", is_flag=True, help="only alerts some channel has not confirmed yet"
    )
    @format_option
    def alerts_cmd(since: date | None, undelivered: bool, fmt: str) -> None:
        """Alert history and delivery state per channel."""
        alerts(root_db(), since, undelivered, fmt)
