"""Commands that only read: `report`, `sql`, `config`. None of them imports Prefect; `report`
and `sql` read only the settings they use (cli.common.load_reader)."""

from __future__ import annotations

import click

from cli.common import DATE, echo, fail, format_option, load, load_reader


@click.command("report")
@click.option("--date", "day", type=DATE, help="report date (default: latest)")
@click.option("--scenario", help="one scenario (default: all)")
@format_option
@click.option("--html", metavar="PATH",
              help="write one self-contained HTML report (chart, inputs, alerts)")
@click.option("--png", metavar="PATH", help="write the coverage history chart as PNG")
def report_cmd(day, scenario, fmt, html, png) -> None:
    """Show report rows (latest date by default)."""
    from report.tables import render
    from warehouse.db import open_warehouse
    from warehouse.queries import report

    settings = load_reader()
    if html or png:
        from report.html import write_report_files

        for path in write_report_files(settings.db, html=html, png=png,
                                       lock_budget_s=settings.lock_budget_s):
            echo(f"wrote {path}")
        return
    with open_warehouse(settings.db, read_only=True, lock_budget_s=settings.lock_budget_s) as wh:
        cols, rows = report(wh, day=day, scenario=scenario, full=fmt in ("csv", "json"))
    if not rows:
        what = f" for {day}" if day else ""
        what += f" and scenario {scenario}" if scenario else ""
        fail(f"no report rows{what} in {settings.db} — run `capcover run` first")
    echo(render(cols, rows, fmt, title="capcover daily report"))


@click.command("sql")
@click.argument("query")
@format_option
def sql_cmd(query: str, fmt: str) -> None:
    """Read-only SQL on the warehouse, e.g. "SELECT * FROM report_daily".

    One SELECT (or EXPLAIN) statement; it may read the warehouse and the published snapshot
    folder only. Values are printed exactly as queried in every format.
    """
    from report.tables import render
    from warehouse.db import open_sandboxed, run_user_sql

    settings = load_reader("publish_dir")
    with open_sandboxed(settings.db, readable_dirs=[settings.publish_path()],
                        lock_budget_s=settings.lock_budget_s) as wh:
        cols, rows = run_user_sql(wh, query)
    echo(render(cols, rows, fmt, exact=True))


@click.command("config")
@format_option
def config_cmd(fmt: str) -> None:
    """Print the effective settings (secrets masked)."""
    from report.tables import render

    settings = load()
    rows = [(k, str(v)) for k, v in settings.masked().items() if k != "scenario"]
    rows.append(("scenarios", ", ".join(s.name for s in settings.scenarios())))
    echo(render(["setting", "value"], rows, fmt))


def register(group: click.Group) -> None:
    for command in (report_cmd, sql_cmd, config_cmd):
        group.add_command(command)
