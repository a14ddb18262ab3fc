"""Commands that write: `run`, `backfill`, `rebuild`, `demo`, `serve`.

Each imports its flow only when called, so `capcover --help` and the readers stay fast.
"""

from __future__ import annotations

import click

from capcover.cli.common import EXIT_USAGE, echo, fail, load
from capcover.errors import one_line


@click.command("run")
@click.option(
    "--dry-run",
    is_flag=True,
    help="run everything, print the report and the alerts it would fire, then roll "
    "back: nothing stored, nothing delivered",
)
def run_cmd(dry_run: bool) -> None:
    """The daily run: ingest, load, model, report (a Prefect flow when a Prefect API is
    configured, otherwise in this process)."""
    from capcover import api

    settings = load()
    if dry_run:
        from capcover.report.summary import dry_run_text

        try:
            result = api.run(settings, dry_run=True)
        except Exception as exc:  # noqa: BLE001 - one line, exit 1
            fail(f"dry run failed: {one_line(exc)} (nothing was written)")
        echo(dry_run_text(result, settings.db))
        return
    from capcover.report.summary import summary_text

    # The Prefect API api.run uses (None: it runs in this process; a Prefect flow here would
    # start, and wait for, a temporary server that dies with the run).
    prefect = api.prefect_api()
    try:
        result = api.run(settings)
    except Exception as exc:  # noqa: BLE001 - any failure becomes one line and exit 1
        fail(f"run failed: {one_line(exc)} (the warehouse {settings.db} is unchanged)")
    echo(summary_text(result, settings.db))
    if prefect.url is None:
        echo(
            f"  in-process run, not a Prefect flow: {prefect.where} (set PREFECT_API_URL, or a "
            f"Prefect profile's, to a running Prefect server for flow runs, logs and events)"
        )


@click.command("backfill")
@click.option(
    "--days",
    type=int,
    default=365,
    show_default=True,
    help="days of history (at most 365 on public/demo plans)",
)
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
def rebuild_cmd() -> None:
    """Re-derive typed tables and reports from the raw archive, no network."""
    from capcover.flows.rebuild import RebuildError, rebuild

    settings = load()
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
def serve_cmd() -> int:
    """Serve the daily flow on its cron schedule (needs a running Prefect server)."""
    from capcover.flows.serve import cmd_serve

    return cmd_serve(load())


def register(group: click.Group) -> None:
    for command in (run_cmd, backfill_cmd, rebuild_cmd, demo_cmd, serve_cmd):
        group.add_command(command)
