"""click's side of what the commands share: the `--format` option, date arguments and the
global `--db`. Imported only where click parses the command line (cli/group.py)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any, TypeVar

import click

from capcover.report.tables import FORMATS

F = TypeVar("F", bound=Callable[..., Any])


def format_option(fn: F) -> F:
    return click.option(
        "--format",
        "fmt",
        type=click.Choice(FORMATS),
        default="table",
        show_default=True,
        help="output format",
    )(fn)


def _set_db(ctx: click.Context, _param: click.Parameter, value: str | None) -> None:
    # `capcover report --db x` means what `capcover --db x report` means; given in both places,
    # the one after the command wins (it was typed last).
    if value is not None and not ctx.resilient_parsing:
        from capcover.cli.common import INVOCATION

        root = ctx.find_root()
        root.obj = {**(root.obj or {}), "db": value}
        INVOCATION["db"] = value


def db_option(fn: F) -> F:
    """`--db PATH` on a command, as on the group (before the command)."""
    return click.option(
        "--db",
        type=click.Path(dir_okay=False),
        expose_value=False,
        callback=_set_db,
        help="DuckDB warehouse file (overrides CAPCOVER_DB); also accepted before the command.",
    )(fn)


def table_options(fn: F) -> F:
    """`--wide` and `--columns`: which columns the output shows (report/views.py)."""
    fn = click.option(
        "--columns",
        metavar="A,B,...",
        help="exactly these columns, in this order, in every format (names as in --format "
        "csv; an unknown name lists them)",
    )(fn)
    return click.option(
        "--wide",
        is_flag=True,
        help="every column, not fitted to the terminal (the table's default shows the few a "
        "person reads)",
    )(fn)


def explicit(name: str) -> bool:
    """Whether the current command's option `name` was given on the command line (not its
    default)."""
    ctx = click.get_current_context()
    source = ctx.get_parameter_source(name)
    return source is not None and source.name not in ("DEFAULT", "DEFAULT_MAP")


class DateType(click.ParamType):
    name = "YYYY-MM-DD"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> date:
        if isinstance(value, date):
            return value
        try:
            return date.fromisoformat(value)
        except ValueError:
            self.fail(f"not a date (YYYY-MM-DD): {value!r}", param, ctx)


DATE = DateType()


def root_db() -> str | None:
    """The global `--db` option of the command being run (None: not given)."""
    ctx = click.get_current_context()
    return (ctx.find_root().obj or {}).get("db")
