"""`capcover alerts`: alert history and delivery state per channel (read-only), and its
subcommands (`test`, `release`, `confirm`) for the channels and held deliveries; each goes
through the public API (capcover/api.py) and formats what it returns."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING

from capcover.cli.common import (
    EXIT_OK,
    EXIT_USAGE,
    columns_given,
    echo,
    fail,
    load_reader,
    nothing,
    print_table,
)

if TYPE_CHECKING:
    import click


def alerts(
    db: str | None,
    since: date | None,
    undelivered: bool,
    fmt: str,
    wide: bool = False,
    columns: str | None = None,
) -> int:
    """`capcover alerts`: the alerts from report date `since` on (all without it)."""
    from capcover.api import Reader
    from capcover.report.views import ALERTS

    picked = columns_given(columns)
    reader = Reader(db=db)
    cols, rows = reader.alerts(since=since, undelivered=undelivered)
    states = [r[cols.index("delivery_state")] for r in rows]
    what = "undelivered alerts" if undelivered else "alerts"
    code, _ = print_table(
        ALERTS,
        cols,
        rows,
        fmt=fmt,
        wide=wide,
        picked=picked,
        what="capcover alerts",
        title="capcover alerts",
        empty=f"no {what}" + (f" since {since}" if since else "") + f" in {reader.db}",
    )
    if code == EXIT_OK and fmt == "table" and "held" in states:
        from capcover.report.tables import wrap_paragraph

        echo(wrap_paragraph(HELD_NOTE, 0 if wide else None, indent="  "))
    return code


HELD_NOTE = (
    "held: the receiver did not answer twice after the message was sent, so it may have it; "
    "capcover does not send it again on its own. `capcover alerts release ID` sends it with "
    "the next run, `capcover alerts confirm ID` records that it arrived (IDs: --columns "
    "alert_id,scenario,rule)."
)


def alerts_test() -> int:
    """`capcover alerts test`: a labelled test message to every configured channel, one line
    per channel; exit 0 when every one was delivered, 1 when one was not, 2 with none."""
    from capcover.api import send_test_alerts
    from capcover.cli.common import EXIT_FAILED, load

    settings = load()
    if not settings.alert_urls:
        fail(
            "no alert channel configured: set CAPCOVER_ALERT_URLS to one or more Apprise URLs "
            "(json://, mailto://, slack://, ...), comma-separated",
            EXIT_USAGE,
        )
    results = send_test_alerts(settings)
    for channel, outcome in results:
        echo(f"{channel}: {outcome.state} — {outcome.detail} ({outcome.seconds:.1f} s)")
    return EXIT_OK if all(o.state == "delivered" for _c, o in results) else EXIT_FAILED


def _change_held(alert_ids: tuple[str, ...], every: bool, confirm: bool) -> int:
    from capcover.api import confirm_alerts, release_alerts

    if not alert_ids and not every:
        fail("name the alerts (their alert_id) or pass --all", EXIT_USAGE)
    settings = load_reader()
    db, budget = settings.db, settings.lock_budget_s
    if confirm:
        n = confirm_alerts(alert_ids, db=db, lock_budget_s=budget)
    else:
        n = release_alerts(None if every else alert_ids, db=db, lock_budget_s=budget)
    if not n:
        return nothing(
            "no held or unknown delivery matches"
            + (f" {', '.join(alert_ids)}" if alert_ids else "")
            + f" in {settings.db} (see `capcover alerts --undelivered`)",
            "table",
        )
    verb = "marked delivered" if confirm else "released: sent with the next run"
    echo(f"{n} deliver{'y' if n == 1 else 'ies'} {verb}")
    return EXIT_OK


def register(group: click.Group) -> None:
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
    def alerts_group(
        ctx: click.Context,
        since: date | None,
        undelivered: bool,
        fmt: str,
        wide: bool,
        columns: str | None,
    ) -> int | None:
        """Alert history and delivery state per channel."""
        if ctx.invoked_subcommand is not None:
            return None
        return alerts(root_db(), since, undelivered, fmt, wide, columns)

    @alerts_group.command("test")
    def test_cmd() -> int:
        """Send a labelled test message to every configured channel (CAPCOVER_ALERT_URLS) and
        say per channel whether it arrived; exit 0 only when every channel delivered."""
        return alerts_test()

    @alerts_group.command("release")
    @click.argument("alert_ids", nargs=-1)
    @click.option("--all", "every", is_flag=True, help="every held or unknown delivery")
    @db_option
    def release_cmd(alert_ids: tuple[str, ...], every: bool) -> int:
        """Send held deliveries again with the next run (a receiver whose answer was unknown
        twice is held, not re-sent on its own)."""
        return _change_held(alert_ids, every, confirm=False)

    @alerts_group.command("confirm")
    @click.argument("alert_ids", nargs=-1, required=True)
    @db_option
    def confirm_cmd(alert_ids: tuple[str, ...]) -> int:
        """Record that held deliveries did arrive (you checked the receiver): never sent
        again."""
        return _change_held(alert_ids, False, confirm=True)
