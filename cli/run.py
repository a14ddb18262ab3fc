"""Commands that write: `run`, `backfill`, `rebuild`, `demo`, `serve`.

Each imports its flow only when called, so `capcover --help` and the readers stay fast.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import click

from capcover.cli.common import EXIT_USAGE, echo, fail, given_db, load
from capcover.cli.options import db_option
from capcover.errors import one_line


@click.command("run")
@click.option(
    "--dry-run",
    is_flag=True,
    help="run everything, print the report and the alerts it would fire, then roll "
    "back: nothing stored, nothing delivered",
)
@db_option
def run_cmd(dry_run: bool) -> None:
    """The daily run: ingest, load, model, report (a Prefect flow when a Prefect API is
    configured, otherwise in this process)."""
    from capcover import api
    from capcover.report.tables import wrap_paragraph

    settings = load()
    if dry_run:
        from capcover.report.summary import dry_run_text

        try:
            result = api.run(settings, dry_run=True)
        except Exception as exc:  # noqa: BLE001 - one line, exit 1
            fail(f"dry run failed: {one_line(exc)} (nothing was written)")
        echo(wrap_paragraph(dry_run_text(result, settings.db), indent="    "))
        return
    from capcover.report.summary import summary_text

    # The Prefect API api.run uses (None: it runs in this process; a Prefect flow here would
    # start, and wait for, a temporary server that dies with the run).
    prefect = api.prefect_api()
    try:
        result = api.run(settings)
    except Exception as exc:  # noqa: BLE001 - any failure becomes one line and exit 1
        from capcover.flows.sequence import failure_footer

        fail(f"run failed: {one_line(exc)} ({failure_footer(exc, settings.db)})")
    echo(wrap_paragraph(summary_text(result, settings.db), indent="    "))
    if prefect.url is None:
        echo(
            wrap_paragraph(
                f"  in-process run, not a Prefect flow: {prefect.where} (set PREFECT_API_URL, "
                f"or a Prefect profile's, to a running Prefect server for flow runs, logs and "
                f"events)",
                indent="    ",
            )
        )


@click.command("backfill")
@click.option(
    "--days",
    type=int,
    default=365,
    show_default=True,
    help="days of history (at most 365 on public/demo plans)",
)
@db_option
def backfill_cmd(days: int) -> None:
    """Coverage history from per-coin market charts."""
    from capcover.flows.backfill import BackfillUsageError, run_backfill

    settings = load()
    resume = f"finished coins are saved; rerun `capcover backfill --days {days}` to resume"
    try:
        result = run_backfill(settings, days)
    except BackfillUsageError as exc:
        fail(str(exc), EXIT_USAGE)
    except KeyboardInterrupt:
        fail(f"backfill interrupted — {resume}", 130)
    except Exception as exc:  # noqa: BLE001 - any failure becomes one line and exit 1
        fail(f"backfill failed: {one_line(exc)} — {resume}")
    echo(result.summary_text())


@click.command("rebuild")
@db_option
def rebuild_cmd() -> None:
    """Re-derive typed tables and reports from the raw archive, no network (of an existing
    warehouse: a missing file is refused, nothing is created)."""
    from capcover.flows.rebuild import RebuildError, rebuild

    settings = load()
    if not settings.db.is_file():
        fail(
            f"no warehouse at {settings.db} — rebuild re-derives an existing warehouse from its "
            f"raw archive; check --db or CAPCOVER_DB (nothing was created)",
            EXIT_USAGE,
        )
    try:
        result = rebuild(settings)
    except RebuildError as exc:
        fail(f"rebuild failed: {exc}")
    echo(result.summary_text(settings.db))


@click.command("demo")
def demo_cmd() -> int:
    """The whole pipeline offline on a bundled replay snapshot."""
    from capcover.flows.demo import run_demo

    return run_demo()


@click.command("serve")
@db_option
def serve_cmd() -> int:
    """Serve the daily flow on its cron schedule (needs a running Prefect server)."""
    from capcover.flows.serve import cmd_serve

    with db_for_flows():
        return cmd_serve(load())


@contextmanager
def db_for_flows() -> Iterator[None]:
    """A served Prefect flow reads its settings itself (in the runner's subprocess), from the
    environment: a `--db` given on the command line is put there for as long as the command
    runs. (`capcover run` hands its settings to the flow: capcover.api.run.)"""
    db = given_db()
    old = os.environ.get("CAPCOVER_DB")
    if db is not None:
        os.environ["CAPCOVER_DB"] = str(db)
    try:
        yield
    finally:
        if db is not None:
            if old is None:
                os.environ.pop("CAPCOVER_DB", None)
            else:
                os.environ["CAPCOVER_DB"] = old


def register(group: click.Group) -> None:
    for command in (run_cmd, backfill_cmd, rebuild_cmd, demo_cmd, serve_cmd):
        group.add_command(command)
