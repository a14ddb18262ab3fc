"""Read-only commands without click: a plain command line of `sql`, `report`, `alerts`,
`status`, `quotes list` or `explain` is parsed here and run directly (click costs such a
command ~12 ms of its ~0.2 s, most of what it spends beyond DuckDB's own start).

Plain means every word is one the click declarations in cli/ accept exactly: the global
`--db`/`--debug` first, the command, then its own long options (`--name value` or
`--name=value`, each at most once) and arguments, with values click would take unchanged.
Anything else (`--help`, short options, `--`, a value that starts with "-", an unknown or
repeated option, a value click would refuse) returns None, and click parses the line: its
usage errors, help and messages stay the only ones. tests/test_cli_plain.py checks SPECS
against the click commands and both paths' output against each other."""

from __future__ import annotations

import errno
import os
import re
import stat
import sys
from collections.abc import Callable
from datetime import date
from typing import Any

from cli.common import FORMATS, echo

# option -> (parameter, kind, default); the kinds are the click types in cli/ (see _value).
_FORMAT = ("fmt", "format", "table")
_DATE = "date"
# command words -> (module, function, positional parameters, options); the function is called
# as function(db, **parameters), db being the global --db (None: not given).
SPECS: dict[tuple[str, ...], tuple[str, str, tuple[str, ...], dict[str, tuple[str, str, Any]]]] = {
    ("sql",): ("cli.read", "sql", ("query",), {"--format": _FORMAT}),
    ("report",): ("cli.read", "report", (), {
        "--date": ("day", _DATE, None), "--scenario": ("scenario", "text", None),
        "--format": _FORMAT, "--html": ("html", "text", None), "--png": ("png", "text", None)}),
    ("alerts",): ("cli.alerts", "alerts", (), {
        "--since": ("since", _DATE, None), "--undelivered": ("undelivered", "flag", False),
        "--format": _FORMAT}),
    ("status",): ("cli.status", "status", (), {
        "--limit": ("limit", "count", 10), "--format": _FORMAT}),
    ("quotes", "list"): ("cli.quotes", "quotes_list", (), {
        "--sku": ("sku", "text", None), "--kind": ("kind", "kind", None),
        "--source": ("source", "text", None), "--date": ("day", _DATE, None),
        "--stats": ("stats", "flag", False), "--format": _FORMAT}),
    ("explain",): ("cli.explain", "explain", (), {
        "--date": ("day", _DATE, None), "--scenario": ("scenario", "text", None),
        "--format": _FORMAT}),
}
_COUNT = re.compile(r"[0-9]+")


class _Unsure(Exception):
    """Not a plain command line; click parses it."""


def plain_command(args: list[str]) -> Callable[[], int] | None:
    """The command `args` asks for, ready to run (it returns the exit code), or None when
    click must parse `args`."""
    if os.environ.get("_CAPCOVER_COMPLETE"):  # click's shell completion
        return None
    try:
        db, rest = _global_options(args)
        words, rest = _command(rest)
        module, function, positional, options = SPECS[words]
        params = _parameters(rest, positional, options)
    except _Unsure:
        return None
    return lambda: _run(module, function, db, params)


def _global_options(args: list[str]) -> tuple[str | None, list[str]]:
    """(--db's value, the words after the global options)."""
    db, seen, i = None, set(), 0
    while i < len(args) and args[i].startswith("-"):
        name, has_value, value = args[i].partition("=")
        if name in seen or name not in ("--db", "--debug"):
            raise _Unsure
        seen.add(name)
        if name == "--debug":
            if has_value:
                raise _Unsure
            i += 1
            continue
        if not has_value:
            i += 1
            if i >= len(args):
                raise _Unsure
            value = args[i]
        db = _db_path(value)
        i += 1
    return db, args[i:]


def _db_path(value: str) -> str:
    """--db's value as click.Path(dir_okay=False) passes it on; anything it would refuse (a
    folder, an unreadable file) or check further is click's to word."""
    if not value or value.startswith("-"):
        raise _Unsure
    try:
        st = os.stat(value)
    except OSError:
        return value
    if stat.S_ISDIR(st.st_mode) or not os.access(value, os.R_OK):
        raise _Unsure
    return value


def _command(rest: list[str]) -> tuple[tuple[str, ...], list[str]]:
    for words in SPECS:
        if tuple(rest[:len(words)]) == words:
            return words, rest[len(words):]
    raise _Unsure


def _parameters(rest: list[str], positional: tuple[str, ...],
                options: dict[str, tuple[str, str, Any]]) -> dict[str, Any]:
    params = {param: default for param, _kind, default in options.values()}
    given, arguments, i = set(), [], 0
    while i < len(rest):
        word = rest[i]
        i += 1
        if not word.startswith("-"):
            arguments.append(word)
            continue
        name, has_value, value = word.partition("=")
        if name not in options or name in given:  # also --help, -h, --, short options
            raise _Unsure
        given.add(name)
        param, kind, _default = options[name]
        if kind == "flag":
            if has_value:
                raise _Unsure
            params[param] = True
            continue
        if not has_value:
            if i >= len(rest):
                raise _Unsure
            value, i = rest[i], i + 1
        params[param] = _value(kind, value)
    if len(arguments) != len(positional):
        raise _Unsure
    params.update(zip(positional, arguments, strict=True))
    return params


def _value(kind: str, value: str) -> Any:
    """`value` as the option's click type converts it, or _Unsure where click would refuse it
    (or might read it as an option)."""
    if value.startswith("-"):
        raise _Unsure
    if kind == "text":
        return value
    if kind == "format" and value in FORMATS:
        return value
    if kind == "kind":
        from ingest import QUOTE_KINDS

        if value in QUOTE_KINDS:
            return value
    if kind == _DATE:  # cli.options.DateType
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    if kind == "count" and _COUNT.fullmatch(value) and int(value) >= 1:  # IntRange(min=1)
        return int(value)
    raise _Unsure


def _run(module: str, function: str, db: str | None, params: dict[str, Any]) -> int:
    """Call the command as click would from `cli.main`: an interrupt closes the terminal's ^C
    echo with a blank line and reaches `main` as one; a closed pipe exits 1 quietly."""
    from importlib import import_module

    try:
        code = getattr(import_module(module), function)(db, **params)
    except (EOFError, KeyboardInterrupt) as exc:
        echo("", err=True)
        raise KeyboardInterrupt from exc
    except OSError as exc:
        if exc.errno != errno.EPIPE:
            raise
        from click.utils import _PacifyFlushWrapper  # what click.Command.main does here

        sys.stdout = _PacifyFlushWrapper(sys.stdout)
        sys.stderr = _PacifyFlushWrapper(sys.stderr)
        sys.exit(1)
    return code if isinstance(code, int) else 0
