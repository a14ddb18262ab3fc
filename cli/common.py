"""What every command shares: exit codes, `fail()`, `echo()` and the effective settings (with
the global `--db` applied); click's own pieces (`--format`, date arguments) are in
cli/options.py."""

from __future__ import annotations

import gc
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, NoReturn

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


def load(**overrides: Any):
    """The effective settings (environment over the config file over defaults), with the global
    `--db` option over all of them."""
    from capcover.config.settings import load_settings

    return load_settings(**_with_db(overrides))


def load_reader(*keys: str, db: str | None = None):
    """What a read-only command needs: the warehouse path and lock budget, plus `keys` (e.g.
    "publish_dir", "schedule_cron"), by the same rules as `load()` but without the settings
    model (config/reader.py); `db` is the global `--db` option (None: not given, or taken from
    click's context when click runs the command)."""
    from capcover.config.reader import load_reader_settings

    return load_reader_settings(keys, **_with_db({} if db is None else {"db": db}))


def echo(text: str, *, err: bool = False) -> None:
    """`text` and a newline on stdout (stderr with `err`), as click writes it, with every
    registered secret scrubbed (config/secrets.py)."""
    import click

    from capcover.config.secrets import scrub

    click.echo(scrub(text), err=err)


@contextmanager
def long_lived_imports() -> Iterator[None]:
    """Around imports whose objects live as long as the process (Prefect's: ~100k classes,
    pydantic schemas and settings objects): the cyclic garbage collector is paused while they
    load, then told to leave them alone (`gc.freeze`). Collections during the import found
    nothing to free and cost 0.15-0.2 s of it; later full collections skip them too (64 ms
    each); ~2 MB of import-time garbage stays. Measured on `import flows.daily`."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if was_enabled:
            gc.enable()
