"""`capcover alerts`: alert history and delivery state per channel (read-only), and its
subcommands (`test`, `release`, `confirm`) for the channels and held deliveries."""

from __future__ import annotations

from capcover.cli.common import EXIT_OK, EXIT_USAGE, echo, fail, load_reader, nothing

ALERTS_MIGRATION = 5  # warehouse/migrations/005_alerts.sql


def alerts(db, since, undelivered: bool, fmt: str, wide: bool = False, columns=None) -> int:
    """`capcover alerts`: the alerts from report date `since` on (all without it)."""
    from capcover.report.tables import render
    from capcover.report.views import ALERTS, ColumnError, choose, parse_columns
    from capcover.warehouse.db import open_warehouse
    from capcover.warehouse.queries import list_alerts

    try:
        picked = parse_columns(columns)
    except ColumnError as exc:
        fail(str(exc), EXIT_USAGE)
    settings = load_reader(db=db)
    with open_warehouse(settings.db, read_only=True, lock_budget_s=settings.lock_budget_s) as wh:
        wh.require(ALERTS_MIGRATION, "the alerts table")
        cols, rows = list_alerts(wh, since=since, undelivered=undelivered)
    states = [r[cols.index("delivery_state")] for r in rows]
    try:
        cols, rows, labels = choose(
            ALERTS, cols, rows, fmt=fmt, wide=wide, picked=picked, what="capcover alerts"
        )
    except ColumnError as exc:
        fail(str(exc), EXIT_USAGE)
    if not rows:
        what = "undelivered alerts" if undelivered else "alerts"
        return nothing(
            f"no {what}" + (f" since {since}" if since else "") + f" in {settings.db}",
            fmt,
            render(cols, rows, fmt),
        )
    echo(render(cols, rows, fmt, title="capcover alerts", labels=labels, width=0 if wide else None))
    if fmt == "table" and "held" in states:
        from capcover.report.tables import wrap_paragraph

        echo(wrap_paragraph(HELD_NOTE, 0 if wide else None, indent="  "))
    return EXIT_OK


HELD_NOTE = (
    "held: the receiver did not answer twice after the message was sent, so it may have it; "
    "capcover does not send it again on its own. `capcover alerts release ID` sends it with "
    "the next run, `capcover alerts confirm ID` records that it arrived (IDs: --columns "
    "alert_id,scenario,rule)."
)


def register(group) -> None:
    import click

    from capcover.cli.options import DATE, db_option, format_option, root_db, table_options

    @group.group("alerts", invoke_without_command=True)
    @click.option("--since", type=DATE, help="report dates from this day on")
    @click.option(
        "--undelivered",
        is_flag=True,
        help="only alerts some channel has not confirmed yet (pending, failed, unknown, held)",
    )
    @format_option
    @table_options
    @db_option
    @click.pass_context
    def alerts_group(ctx, since, undelivered: bool, fmt: str, wide: bool, columns) -> int | None:
        """Alert history and delivery state per channel."""
        if ctx.invoked_subcommand is not None:
            return None
        return alerts(root_db(), since, undelivered, fmt, wide, columns)
