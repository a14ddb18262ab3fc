"""`capcover alerts`: alert history and delivery state per channel (read-only)."""

from __future__ import annotations

from capcover.cli.common import echo

# The table shows these columns; CSV and JSON carry them all.
TABLE_COLUMNS = [
    "report_date",
    "scenario",
    "rule",
    "level",
    "previous_ratio",
    "current_ratio",
    "delivery_state",
    "delivered",
    "channels",
    "attempts",
    "last_error",
    "message",
]


def alerts(db, since, undelivered: bool, fmt: str) -> None:
    """`capcover alerts`: the alerts from report date `since` on (all without it)."""
    from capcover.api import Reader
    from capcover.report.tables import render

    reader = Reader(db=db)
    cols, rows = reader.alerts(since=since, undelivered=undelivered)
    if fmt == "table":
        idx = [cols.index(c) for c in TABLE_COLUMNS]
        cols, rows = TABLE_COLUMNS, [tuple(r[i] for i in idx) for r in rows]
    if not rows:
        what = "undelivered alerts" if undelivered else "alerts"
        echo(f"no {what}" + (f" since {since}" if since else "") + f" in {reader.db}")
        return
    echo(render(cols, rows, fmt, title="capcover alerts"))


def register(group) -> None:
    import click

    from capcover.cli.options import DATE, format_option, root_db

    @group.command("alerts")
    @click.option("--since", type=DATE, help="report dates from this day on")
    @click.option(
        "--undelivered", is_flag=True, help="only alerts some channel has not confirmed yet"
    )
    @format_option
    def alerts_cmd(since, undelivered: bool, fmt: str) -> None:
        """Alert history and delivery state per channel."""
        alerts(root_db(), since, undelivered, fmt)
