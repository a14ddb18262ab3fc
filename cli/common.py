"""What every command shares: exit codes, `fail()`, the `--format` option, date arguments and
the effective settings (with the global `--db` applied)."""

from __future__ import annotations

from datetime import date
from typing import Any, NoReturn

import click

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
FORMATS = ("table", "csv", "json", "markdown")  # report.tables.render's formats


class CommandFailed(Exception):
    """A command's one-line failure; `cli.main.main` prints it and exits with `code`."""

    def __init__(self, message: str, code: int = EXIT_FAILED) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


def fail(message: str, code: int = EXIT_FAILED) -> NoReturn:
    """Stop the command: `capcover: error: <message>` on stderr, exit `code`."""
    raise CommandFailed(message, code)


def format_option(fn):
    return click.option("--format", "fmt", type=click.Choice(FORMATS), default="table",
                        show_default=True, help="output format")(fn)


class DateType(click.ParamType):
    name = "YYYY-MM-DD"

    def convert(self, value: Any, param, ctx) -> date:
        if isinstance(value, date):
            return value
        try:
            return date.fromisoformat(value)
        except ValueError:
            self.fail(f"not a date (YYYY-MM-DD): {value!r}", param, ctx)


DATE = DateType()


def _with_db(overrides: dict[str, Any]) -> dict[str, Any]:
    ctx = click.get_current_context(silent=True)
    db = (ctx.find_root().obj or {}).get("db") if ctx else None
    if db is not None:
        overrides.setdefault("db", db)
    return overrides


def load(**overrides: Any):
    """The effective settings (environment over the config file over defaults), with the global
    `--db` option over all of them."""
    from config.settings import load_settings

    return load_settings(**_with_db(overrides))


def load_reader(*keys: str):
    """What a read-only command needs: the warehouse path and lock budget, plus `keys` (e.g.
    "publish_dir", "schedule_cron"), by the same rules as `load()` but without the settings
    model (config/reader.py)."""
    from config.reader import load_reader_settings

    return load_reader_settings(keys, **_with_db({}))


def echo(text: str) -> None:
    click.echo(text)
