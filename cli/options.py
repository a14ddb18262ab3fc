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
