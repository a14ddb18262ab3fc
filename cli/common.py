"""What every command shares: exit codes, `fail()`, `echo()` and the effective settings (with
the global `--db` applied). Free of click at import, so the read-only commands can run without
it (cli/plain.py); click's own pieces (`--format`, date arguments) are in cli/options.py."""

from __future__ import annotations

import codecs
import io
import sys
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


def __getattr__(name: str) -> Any:
    # `from cli.common import DATE, format_option` (as before they moved): click's pieces,
    # loaded on first use (PEP 562), so importing cli.common never loads click.
    if name in ("DATE", "DateType", "format_option"):
        from cli import options

        return getattr(options, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _with_db(overrides: dict[str, Any]) -> dict[str, Any]:
    click = sys.modules.get("click")
    if click is None:  # not under click (cli/plain.py passes --db itself)
        return overrides
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


def load_reader(*keys: str, db: str | None = None):
    """What a read-only command needs: the warehouse path and lock budget, plus `keys` (e.g.
    "publish_dir", "schedule_cron"), by the same rules as `load()` but without the settings
    model (config/reader.py); `db` is the global `--db` option (None: not given, or taken from
    click's context when click runs the command)."""
    from config.reader import load_reader_settings

    return load_reader_settings(keys, **_with_db({} if db is None else {"db": db}))


def echo(text: str, *, err: bool = False) -> None:
    """`text` and a newline on stdout (stderr with `err`), exactly as click.echo writes it,
    without importing click for the plain case: a text stream in a non-ASCII encoding and no
    escape character (click strips ANSI codes off a non-terminal and re-wraps ASCII streams;
    those cases are left to click itself)."""
    stream = sys.stderr if err else sys.stdout
    if "\x1b" in text or not _plain_stream(stream):
        import click

        click.echo(text, err=err)
        return
    stream.write(text + "\n")
    stream.flush()


def _plain_stream(stream: Any) -> bool:
    """Whether click.echo would write to `stream` as it is (click/_compat.py)."""
    if not isinstance(stream, io.TextIOBase):
        return False
    encoding = getattr(stream, "encoding", None)
    if encoding is None or getattr(stream, "errors", None) is None:
        return False
    try:
        return codecs.lookup(encoding).name != "ascii"
    except LookupError:
        return True
