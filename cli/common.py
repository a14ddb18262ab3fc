"""What every command shares: exit codes, `fail()`, `echo()` and the effective settings (with
the global `--db` applied); click's own pieces (`--format`, date arguments) are in
cli/options.py."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any, NoReturn

if TYPE_CHECKING:
    from capcover.config.reader import ReaderSettings
    from capcover.config.settings import Settings
    from capcover.report.views import View

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
FORMATS = ("table", "csv", "json", "markdown")  # report.tables.render's formats

# What this invocation was given that hints must repeat: the `--db` option (before or after
# the command). Set by the click callbacks; read by `note` and by cli.main's error lines.
INVOCATION: dict[str, Any] = {"db": None}


class CommandFailed(Exception):
    """A command's one-line failure; `cli.main.main` prints it and exits with `code`."""

    def __init__(self, message: str, code: int = EXIT_FAILED) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


def fail(message: str, code: int = EXIT_FAILED) -> NoReturn:
    """Stop the command: `capcover: error: <message>` on stderr, exit `code`."""
    raise CommandFailed(message, code)


def _with_db(overrides: dict[str, Any]) -> dict[str, Any]:
    click = sys.modules.get("click")
    if click is None:  # not under click: a command function called directly
        return overrides
    ctx = click.get_current_context(silent=True)
    db = (ctx.find_root().obj or {}).get("db") if ctx else None
    if db is not None:
        overrides.setdefault("db", db)
    return overrides


def given_db() -> str | None:
    """The `--db` of this invocation (None: not given)."""
    db: str | None = INVOCATION.get("db")
    return db


def load(**overrides: Any) -> Settings:
    """The effective settings (environment over the config file over defaults), with the global
    `--db` option over all of them."""
    from capcover.config.settings import load_settings

    return load_settings(**_with_db(overrides))


def load_reader(*keys: str, db: str | None = None) -> ReaderSettings:
    """What a read-only command needs: the warehouse path and lock budget, plus `keys` (e.g.
    "publish_dir", "schedule_cron"), by the same rules as `load()` but without the settings
    model (config/reader.py); `db` is the global `--db` option (None: not given, or taken from
    click's context when click runs the command)."""
    from capcover.config.reader import load_reader_settings

    return load_reader_settings(keys, **_with_db({} if db is None else {"db": db}))


def echo(text: str, *, err: bool = False) -> None:
    """`text` and a newline on stdout (stderr with `err`), as click writes it, with every
    registered secret scrubbed (config/secrets.py) and every control character but its line
    breaks escaped (text from outside is never sent raw to a terminal: model/text.py)."""
    import click

    from capcover.config.secrets import scrub
    from capcover.model.text import terminal_text

    click.echo(terminal_text(scrub(text)), err=err)


def advice(text: str) -> str:
    """`text` with its backticked `capcover ...` hints as they paste here (report/advice.py)."""
    from capcover.report.advice import pasteable

    return pasteable(text, given_db())


def note(text: str) -> None:
    """A one-line note on stderr, `capcover: <text>`, hints made pasteable."""
    echo(f"capcover: {advice(text)}", err=True)


def nothing(what: str, fmt: str, empty: str | None = None) -> int:
    """THE rule for an empty result, in every read command: exit 1 (as grep does when nothing
    matched), one line on stderr saying what was looked for and what to do, and for CSV and
    JSON the empty document on stdout (`empty`: a CSV header, `[]`) so a reader still parses
    it."""
    if empty is not None and fmt in ("csv", "json"):
        echo(empty)
    note(what)
    return EXIT_FAILED


def columns_given(columns: str | None) -> list[str] | None:
    """The --columns list of a read command, or exit 2 with the one-line reason."""
    from capcover.report.views import ColumnError, parse_columns

    try:
        return parse_columns(columns)
    except ColumnError as exc:
        fail(str(exc), EXIT_USAGE)


def print_table(
    view: View,
    cols: list[str],
    rows: list[tuple[Any, ...]],
    *,
    fmt: str,
    wide: bool,
    picked: list[str] | None,
    what: str,
    title: str,
    empty: str,
) -> tuple[int, list[str]]:
    """THE way a read command prints one table: the view's columns for the format (exit 2 on
    an unknown --columns name), the empty-result rule (`nothing`, `empty` says what to do), or
    the rendered table. Returns the exit code and the keys of the columns shown."""
    from capcover.report.tables import render
    from capcover.report.views import ColumnError, choose

    try:
        keys, shown, labels = choose(view, cols, rows, fmt=fmt, wide=wide, picked=picked, what=what)
    except ColumnError as exc:
        fail(str(exc), EXIT_USAGE)
    if not shown:
        return nothing(empty, fmt, render(keys, shown, fmt)), list(keys)
    echo(render(keys, shown, fmt, title=title, labels=labels, width=0 if wide else None))
    return EXIT_OK, list(keys)
