"""Commands that only read: `report`, `sql`, `config`. None of them imports Prefect; `report`
and `sql` call the public API's Reader (capcover/api.py), which reads only the settings they
use. The commands are plain functions; `register` declares them to click."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import click

from capcover.cli.common import echo, fail, load


def report(
    db: str | None,
    day: date | None,
    scenario: str | None,
    fmt: str,
    html: str | None,
    png: str | None,
) -> None:
    """`capcover report`: the report rows of `day` (default: latest), or the HTML/PNG files."""
    from capcover.api import Reader
    from capcover.report.tables import render

    reader = Reader(db=db)
    if html or png:
        for path in reader.write_report(html=html, png=png):
            echo(f"wrote {path}")
        return
    cols, rows = reader.report(day=day, scenario=scenario, full=fmt in ("csv", "json"))
    if not rows:
        what = f" for {day}" if day else ""
        what += f" and scenario {scenario}" if scenario else ""
        fail(f"no report rows{what} in {reader.db} — run `capcover run` first")
    note = None
    if fmt in ("table", "markdown") and "basis" in cols:
        rows, note = _mark_survivors(cols, rows)
    echo(render(cols, rows, fmt, title="capcover daily report"))
    if note:
        echo(note)


SURVIVORS = (
    "* today's constituents: on a backfilled row (basis history) the sector cap sums the coins "
    "in the category TODAY over that past day; coins that left or died since are missing, so it "
    "is a lower bound biased toward survivors (column survivorship_biased)"
)


def _mark_survivors(cols: list[str], rows: list[tuple]) -> tuple[list[tuple], str | None]:
    """The readable report with a marker beside each backfilled row's sector cap, and the
    footnote that says what it means (CSV and JSON carry survivorship_biased instead)."""
    from capcover.report.tables import marked

    basis, cap = cols.index("basis"), cols.index("sector_market_cap_usd")
    out, any_marked = [], False
    for r in rows:
        if r[basis] == "history":
            r = (*r[:cap], marked(r[cap], "*"), *r[cap + 1 :])
            any_marked = True
        out.append(r)
    return out, SURVIVORS if any_marked else None


def sql(db: str | None, query: str, fmt: str) -> None:
    """`capcover sql`: one read-only statement on the sandboxed warehouse, values exact."""
    from capcover.api import Reader
    from capcover.report.tables import render

    try:
        cols, rows = Reader(db=db).sql(query)
    except KeyboardInterrupt:  # stopped at once by the sandbox; one line, exit 130
        fail("interrupted; the query was stopped and nothing changed", 130)
    echo(render(cols, rows, fmt, exact=True))


def register(group: click.Group) -> None:
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
    def report_cmd(
        day: date | None, scenario: str | None, fmt: str, html: str | None, png: str | None
    ) -> None:
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
