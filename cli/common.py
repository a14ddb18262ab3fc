"""What every command shares: exit codes, `fail()`, `echo()` and the effective settings (with
the global `--db` applied); click's own pieces (`--format`, date arguments) are in
cli/options.py."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any, NoReturn

if TYPE_CHECKING:
    from capcover.config.reader import ReaderSettings
    from capcover.config.settings import Settings

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


def _with_db(overrides: dict[str, Any]) -> dict[str, Any]:
    click = sys.modules.get("click")
    if click is None:  # not under click: a command function called directly
        return overrides
    ctx = click.get_current_context(silent=True)
    db = (ctx.find_root().obj or {}).get("db") if ctx else None
    if db is not None:
        overrides.setdefault("db", db)
    return overrides


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


def without(
    columns: list[str], rows: list[tuple[Any, ...]], dropped: frozenset[str]
) -> tuple[list[str], list[tuple[Any, ...]]]:
    """`columns` and `rows` without the columns named in `dropped` (a table's narrower view of
    what CSV and JSON print whole)."""
    keep = [i for i, c in enumerate(columns) if c not in dropped]
    return [columns[i] for i in keep], [tuple(r[i] for i in keep) for r in rows]


def echo(text: str, *, err: bool = False) -> None:
    """`text` and a newline on stdout (stderr with `err`), as click writes it, with every
    registered secret scrubbed (config/secrets.py)."""
    import click

    from capcover.config.secrets import scrub

    click.echo(scrub(text), err=err)
