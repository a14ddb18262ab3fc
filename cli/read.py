"""Commands that only read: `report`, `sql`, `config`. None of them imports Prefect; `report`
and `sql` read only the settings they use (cli.common.load_reader). The commands are plain
functions; `register` declares them to click."""

from __future__ import annotations

from capcover.cli.common import echo, fail, load, load_reader


def report(db, day, scenario, fmt, html, png) -> None:
    """`capcover report`: the report rows of `day` (default: latest), or the HTML/PNG files."""
    from capcover.report.tables import render
    from capcover.warehouse.db import open_warehouse
    from capcover.warehouse.queries import report as report_rows

    settings = load_reader(db=db)
    if html or png:
        from capcover.report.html import write_report_files

        for path in write_report_files(
            settings.db, html=html, png=png, lock_budget_s=settings.lock_budget_s
        ):
            echo(f"wrote {path}")
        return
    with open_warehouse(settings.db, read_only=True, lock_budget_s=settings.lock_budget_s) as wh:
        cols, rows = report_rows(wh, day=day, scenario=scenario, full=fmt in ("csv", "json"))
    if not rows:
        what = f" for {day}" if day else ""
        what += f" and scenario {scenario}" if scenario else ""
        fail(f"no report rows{what} in {settings.db} — run `capcover run` first")
    echo(render(cols, rows, fmt, title="capcover daily report"))


def sql(db, query: str, fmt: str) -> None:
    """`capcover sql`: one read-only statement on the sandboxed warehouse, values exact."""
    from capcover.config.reader import SQL_LIMITS
    from capcover.report.tables import render
    from capcover.warehouse.sandbox import open_sandboxed, run_user_sql

    settings = load_reader("publish_dir", *SQL_LIMITS, db=db)
    with open_sandboxed(
        settings.db,
        readable_dirs=[settings.publish_path()],
        lock_budget_s=settings.lock_budget_s,
        memory_limit_mb=settings.sql_memory_limit_mb,
    ) as wh:
        try:
            cols, rows = run_user_sql(
                wh, query, timeout_s=settings.sql_timeout_s, max_rows=settings.sql_max_rows
            )
        except KeyboardInterrupt:  # stopped at once by the sandbox; one line, exit 130
            fail("interrupted; the query was stopped and nothing changed", 130)
    echo(render(cols, rows, fmt, exact=True))


def register(group) -> None:
    import click

    from capcover.cli.options import DATE, format_option, root_db

    @group.command("report")
    @click.option("--date", "day", type=DATE, help="report date (default: latest)")
    @click.option("--scenario", help="one scenario (default: all)")
    @format_option
    @click.option(
        "--html",
        metavar="PATH",
        help="write one self-contained HTML report (chart, inputs, alerts)",
    )
    @click.option("--png", metavar="PATH", help="write the coverage history chart as PNG")
    def report_cmd(day, scenario, fmt, html, png) -> None:
        """Show report rows (latest date by default)."""
        report(root_db(), day, scenario, fmt, html, png)

    @group.command("sql")
    @click.argument("query")
    @format_option
    def sql_cmd(query: str, fmt: str) -> None:
        """Read-only SQL on the warehouse, e.g. "SELECT * FROM report_daily".

        One SELECT (or EXPLAIN without ANALYZE) statement; it may read the warehouse and the
        published snapshot folder only, within CAPCOVER_SQL_TIMEOUT_S, CAPCOVER_SQL_MEMORY_LIMIT_MB
        and CAPCOVER_SQL_MAX_ROWS. Values are printed exactly as queried in every format.
        """
        sql(root_db(), query, fmt)

    @group.command("config")
    @format_option
    def config_cmd(fmt: str) -> None:
        """Print the effective settings (secrets masked)."""
        from capcover.report.tables import render

        settings = load()
        rows = [(k, str(v)) for k, v in settings.masked().items() if k != "scenario"]
        rows.append(("scenarios", ", ".join(s.name for s in settings.scenarios())))
        echo(render(["setting", "value"], rows, fmt))
