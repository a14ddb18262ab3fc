"""Commands that only read: `report`, `sql`, `config`. None of them imports Prefect; `report`
and `sql` call the public API's Reader (capcover/api.py), which reads only the settings they
use, and format the tables it returns (report/tables.py, report/views.py). The commands are
plain functions; `register` declares them to click."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Any

from capcover.cli.common import (
    EXIT_OK,
    EXIT_USAGE,
    columns_given,
    echo,
    fail,
    load,
    nothing,
    print_table,
)

if TYPE_CHECKING:
    import click

    from capcover.api import Reader
    from capcover.config.settings import Settings

REPORT_TITLE = "capcover daily report"


def report(
    db: str | None,
    day: date | None,
    scenario: str | None,
    fmt: str,
    html: str | None,
    png: str | None,
    wide: bool = False,
    columns: str | None = None,
    shaped: bool = False,
) -> int:
    """`capcover report`: the report rows of `day` (default: latest), or the HTML/PNG files
    (`shaped`: --format, --wide or --columns were given, which files have no use for)."""
    from capcover.api import Reader
    from capcover.cli.lookup import check_scenario, no_report_on
    from capcover.report.tables import wrap_paragraph
    from capcover.report.views import REPORT, report_footnote

    reader = Reader(db=db)
    if html or png:
        if shaped:
            fail(
                "--format, --wide and --columns shape what is printed; --html and --png write "
                "files (give them in separate commands)",
                EXIT_USAGE,
            )
        return report_files(reader, day, scenario, html, png)
    picked = columns_given(columns)
    any_report = check_scenario(reader, scenario)
    cols, rows = reader.report(day=day, scenario=scenario, full=True)
    empty = (
        no_report_on(reader, day, scenario)
        if day and any_report and not rows
        else f"no report rows in {reader.db} — run `capcover run` first"
    )
    code, keys = print_table(
        REPORT,
        cols,
        rows,
        fmt=fmt,
        wide=wide,
        picked=picked,
        what="capcover report",
        title=REPORT_TITLE,
        empty=empty,
    )
    if code != EXIT_OK:
        return code
    note = report_footnote(cols, rows, keys, fmt)  # the survivorship marker's footnote
    if note is not None and fmt == "markdown":
        echo(f"\n{note}")  # its own paragraph: a line right under a table would be a row
    elif note is not None:
        echo(note if wide else wrap_paragraph(note, indent="  "))
    if fmt in ("table", "markdown") and picked is None:
        report_parameters(reader, day, scenario, fmt, wide)
    return EXIT_OK


def report_parameters(
    reader: Reader, day: date | None, scenario: str | None, fmt: str, wide: bool
) -> None:
    """Under a table or Markdown report, what its compute-equivalent counts and total costs
    were made of (v_report_parameters; CSV and JSON carry them as the rows' own columns, and
    --columns asks for exactly the columns it names, so neither gets this)."""
    from capcover.report.tables import render
    from capcover.report.views import PARAMETERS, choose

    cols, rows = reader.report_parameters(day=day, scenario=scenario)
    if not rows:
        return
    keys, shown, labels = choose(PARAMETERS, cols, rows, fmt=fmt, wide=wide)
    title = "scenario parameters (v_report_parameters)"
    if fmt == "markdown":
        echo(f"\n**{title}**\n")
        echo(render(keys, shown, fmt, labels=labels))
    else:
        echo("")
        echo(render(keys, shown, fmt, title=title, labels=labels, width=0 if wide else None))


def report_files(
    reader: Reader, day: date | None, scenario: str | None, html: str | None, png: str | None
) -> int:
    """`capcover report --html/--png`: the files, for `day` and `scenario` when given."""
    from capcover.cli.lookup import check_scenario, no_report_on

    if (
        (day or scenario)
        and check_scenario(reader, scenario)
        and day
        and not reader.report(day=day, scenario=scenario).rows
    ):
        return nothing(no_report_on(reader, day, scenario), "table")
    for path in reader.write_report(html=html, png=png, day=day, scenario=scenario):
        echo(f"wrote {path}")
    return EXIT_OK


def sql(db: str | None, query: str, fmt: str) -> int:
    """`capcover sql`: one read-only statement on the sandboxed warehouse, values exact."""
    from capcover.api import Reader
    from capcover.report.tables import render

    try:
        cols, rows = Reader(db=db).sql(query)
    except KeyboardInterrupt:  # stopped at once by the sandbox; one line, exit 130
        fail("interrupted; the query was stopped and nothing changed", 130)
    if not rows:
        return nothing("the query returned no rows", fmt, render(cols, rows, fmt, exact=True))
    echo(render(cols, rows, fmt, exact=True))
    return EXIT_OK


def config_rows(settings: Settings) -> list[tuple[str, str, str, str]]:
    """(setting, environment variable, effective value, where it came from) of every setting:
    defaults resolved to what a run uses, lists comma-separated as the variable takes them,
    secrets masked."""
    import os

    from capcover.config.sources import env_values, read_config_file
    from capcover.flows.clients import user_quotes_path
    from capcover.ingest.coingecko import BASE_URLS, RATE_LIMITS

    env = env_values(os.environ)
    path = os.environ.get("CAPCOVER_CONFIG")
    doc = read_config_file(path) if path else {}
    derived: dict[str, tuple[object, str]] = {
        "coingecko_base_url": (
            BASE_URLS[settings.coingecko_plan],
            f"default for plan {settings.coingecko_plan}",
        ),
        "coingecko_rate_per_minute": (
            RATE_LIMITS[settings.coingecko_plan],
            f"default for plan {settings.coingecko_plan}",
        ),
        "quotes_file": (user_quotes_path(settings), "default: beside the warehouse"),
        "publish_dir": (settings.publish_path(), "default: published/ beside the warehouse"),
    }
    rows = []
    for name, value in settings.masked().items():
        if name == "scenario":
            continue
        source = "environment" if name in env else ("config file" if name in doc else "default")
        if value is None and name in derived:
            value, source = derived[name]
        rows.append((name, f"CAPCOVER_{name.upper()}", _config_value(value), source))
    return rows


def _config_value(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, list | tuple):
        return ",".join(_config_value(v) for v in value)
    return str(value)


def config(fmt: str) -> int:
    """`capcover config`: every setting's effective value, one per line, as NAME=value lines a
    shell or an env file takes (the source after a #), secrets masked; then the scenarios."""
    import shlex

    from capcover.report.tables import render

    settings = load()
    rows = config_rows(settings)
    scenarios = ", ".join(s.name for s in settings.scenarios())
    if fmt == "table":
        lines = [
            f"{var}={shlex.quote(value) if value else ''}  # {source if value else 'not set'}"
            for _name, var, value, source in rows
        ]
        lines.append(f"# scenarios: {scenarios}")
        echo("\n".join(lines))
        return EXIT_OK
    cols = ["setting", "variable", "value", "source"]
    data: list[tuple[Any, ...]] = [
        *rows,
        ("scenarios", "", scenarios, "built-in and the config file"),
    ]
    echo(render(cols, data, fmt, width=0))
    return EXIT_OK


def register(group: click.Group) -> None:
    import click

    from capcover.cli.options import (
        DATE,
        db_option,
        explicit,
        format_option,
        root_db,
        table_options,
    )

    @group.command("report")
    @click.option("--date", "day", type=DATE, help="report date (default: latest)")
    @click.option("--scenario", help="one scenario (default: all)")
    @format_option
    @table_options
    @click.option(
        "--html",
        metavar="PATH",
        help="write one self-contained HTML report (charts, inputs, alerts); with --date "
        "and --scenario, as of that date and for that scenario",
    )
    @click.option(
        "--png",
        metavar="PATH",
        help="write the coverage history chart as PNG (honours --date and --scenario too)",
    )
    @db_option
    def report_cmd(
        day: date | None,
        scenario: str | None,
        fmt: str,
        wide: bool,
        columns: str | None,
        html: str | None,
        png: str | None,
    ) -> int:
        """Show report rows (latest date by default): date, scenario, ratio with its band,
        whether it covers, unit price and its basis (a backfilled row's sector cap too,
        marked); every column with --wide."""
        shaped = explicit("fmt") or wide or columns is not None
        return report(root_db(), day, scenario, fmt, html, png, wide, columns, shaped)

    @group.command("sql")
    @click.argument("query")
    @format_option
    @db_option
    def sql_cmd(query: str, fmt: str) -> int:
        """Read-only SQL on the warehouse, e.g. "SELECT * FROM report_daily".

        One SELECT (or EXPLAIN without ANALYZE) statement; it may read the warehouse and the
        published snapshot folder only, within CAPCOVER_SQL_TIMEOUT_S, CAPCOVER_SQL_MEMORY_LIMIT_MB
        and CAPCOVER_SQL_MAX_ROWS. Values are printed exactly as queried in every format.
        """
        return sql(root_db(), query, fmt)

    @group.command("config")
    @format_option
    @db_option
    def config_cmd(fmt: str) -> int:
        """Print the effective value of every setting, one per line (secrets masked)."""
        return config(fmt)
