"""`capcover`: the command line, a thin layer over the public API (capcover/api.py) and flows/.

One click group (cli/group.py); each command group lives in its own module and registers itself
there. Exit codes: 0 ok, 1 the run or query failed, 2 bad usage or configuration, 130
interrupted. Every error is one line on stderr (`capcover: error: ...`); `--debug` shows the
traceback instead. Commands that only read the warehouse never import Prefect (about a second
and 78 MB), nor the settings model, requests or rich unless they print with them.
"""

from __future__ import annotations

import sys
from typing import Any

from capcover.cli.common import (
    EXIT_FAILED,
    EXIT_USAGE,
    INVOCATION,
    CommandFailed,
    advice,
    echo,
)
from capcover.config.errors import ConfigError
from capcover.errors import one_line

INTERRUPTED = "interrupted; nothing was committed by the interrupted step"


def __getattr__(name: str) -> Any:
    # `from cli.main import cli`: the click group, loaded on first use (PEP 562).
    if name == "cli":
        from capcover.cli.group import cli

        return cli
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def main(argv: list[str] | None = None) -> int:
    """Run one command; returns its exit code (the console script exits with it).

    stdout and stderr are guarded while it runs (cli/streams.py): secrets scrubbed, and a
    reader that closes the pipe (`| head -1`) turns stdout into /dev/null instead of failing
    the command."""
    from capcover.cli.streams import guard_streams

    saved = sys.stdout, sys.stderr
    guard_streams()
    try:
        return _main(sys.argv[1:] if argv is None else list(argv))
    finally:
        try:
            sys.stdout.flush()  # a pipe's buffered tail, while EPIPE is still handled
        finally:
            sys.stdout, sys.stderr = saved


def _error(text: object) -> None:
    """`capcover: error: <text>` on stderr: one line, whatever it quotes. Text from outside
    (a server's error body, a coin id) may hold terminal control sequences or line breaks:
    they are shown as escapes, never acted on (config/secrets.py `defang`). Its backticked
    `capcover ...` hints paste as invoked (cli/common.py `advice`)."""
    from capcover.config.secrets import defang

    echo(f"capcover: error: {defang(advice(str(text)))}", err=True)


def _main(args: list[str]) -> int:
    debug = "--debug" in args
    INVOCATION["db"] = None
    try:
        return _with_click(args)
    except CommandFailed as exc:
        _error(exc.message)
        return exc.code
    except KeyboardInterrupt:
        _error(INTERRUPTED)
        return 130
    except ConfigError as exc:
        _error(exc)
        return EXIT_USAGE
    except Exception as exc:
        known = sys.modules.get("capcover.warehouse.db")
        if known is not None and isinstance(exc, known.WarehouseError):
            _error(exc)
            return EXIT_FAILED
        if known is not None and known.is_damage(exc):  # raised below Warehouse's own methods
            where = known.last_opened() or "the warehouse (CAPCOVER_DB)"
            _error(known.damaged_message(where, one_line(exc)))
            return EXIT_FAILED
        if debug:
            raise
        _error(
            f"unexpected {type(exc).__name__}: {one_line(exc, 300)} — rerun with --debug for the "
            f"traceback and report it"
        )
        return EXIT_FAILED


def _with_click(args: list[str]) -> int:
    """Parse and run `args` with the click group; its usage errors, --help and interrupts as
    exit codes (other errors propagate to `main`)."""
    import click

    from capcover.cli.group import cli

    try:
        code = cli.main(args=args, prog_name="capcover", standalone_mode=False)
    except click.exceptions.Exit as exc:  # --help, --version
        return exc.exit_code
    except click.Abort:
        _error(INTERRUPTED)
        return 130
    except click.UsageError as exc:
        hint = (
            f" (see `capcover {exc.ctx.command_path.split(' ', 1)[-1]} --help`)"
            if exc.ctx and " " in exc.ctx.command_path
            else " (see `capcover --help`)"
        )
        _error(f"{exc.format_message()}{hint}")
        return EXIT_USAGE
    return code if isinstance(code, int) else 0


def run() -> None:
    """The `capcover` console script."""
    code = main()
    # At exit Python's last garbage collections walk every object still alive: after a Prefect
    # flow (1,400 modules and their pydantic schemas) 0.35 s of the run, measured. Nothing then
    # needs them: the warehouse is closed, the streams are flushed by the interpreter anyway,
    # and the atexit handlers (Prefect's log and event drains) still run. Frozen objects are
    # skipped by those collections.
    import gc

    gc.freeze()
    sys.exit(code)


if __name__ == "__main__":
    run()
