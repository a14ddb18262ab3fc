"""`capcover`: the command line, a thin layer over flows/, report/, warehouse/ and config/.

One click group; each command group lives in its own module and registers itself here. Exit
codes: 0 ok, 1 the run or query failed, 2 bad usage or configuration, 130 interrupted. Every
error is one line on stderr (`capcover: error: ...`); `--debug` shows the traceback instead.
Commands that only read the warehouse never import Prefect (about a second and 78 MB).
"""

from __future__ import annotations

import sys

import click

from cli.common import EXIT_FAILED, EXIT_USAGE, CommandFailed
from config.errors import ConfigError


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("capcover")
    except PackageNotFoundError:  # running from a source tree that was never installed
        return "0+unknown"


def _print_version(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    # A callback, so the installed version is looked up only for --version (reading the
    # package metadata costs every other command ~15 ms).
    if value and not ctx.resilient_parsing:
        click.echo(f"capcover {_version()}")
        ctx.exit()


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--version", is_flag=True, expose_value=False, is_eager=True,
              callback=_print_version, help="Show the version and exit.")
@click.option("--db", type=click.Path(dir_okay=False), default=None,
              help="DuckDB warehouse file (overrides CAPCOVER_DB).")
@click.option("--debug", is_flag=True, help="Show the traceback of an unexpected error.")
@click.pass_context
def cli(ctx: click.Context, db: str | None, debug: bool) -> None:
    """Could the AI-token sector buy the GPUs its ambitions need? Daily coverage ratio in
    DuckDB."""
    ctx.obj = {"db": db, "debug": debug}


def _register() -> None:
    from cli import alerts, explain, quotes, read, run, status

    for module in (run, read, alerts, quotes, status, explain):
        module.register(cli)


_register()


def main(argv: list[str] | None = None) -> int:
    """Run one command; returns its exit code (the console script exits with it)."""
    args = sys.argv[1:] if argv is None else list(argv)
    debug = "--debug" in args
    try:
        code = cli.main(args=args, prog_name="capcover", standalone_mode=False)
    except CommandFailed as exc:
        click.echo(f"capcover: error: {exc.message}", err=True)
        return exc.code
    except click.exceptions.Exit as exc:  # --help, --version
        return exc.exit_code
    except click.Abort:
        click.echo("capcover: error: interrupted; nothing was committed by the interrupted "
                   "step", err=True)
        return 130
    except click.UsageError as exc:
        hint = f" (see `capcover {exc.ctx.command_path.split(' ', 1)[-1]} --help`)" \
            if exc.ctx and " " in exc.ctx.command_path else " (see `capcover --help`)"
        click.echo(f"capcover: error: {exc.format_message()}{hint}", err=True)
        return EXIT_USAGE
    except KeyboardInterrupt:
        click.echo("capcover: error: interrupted; nothing was committed by the interrupted "
                   "step", err=True)
        return 130
    except BrokenPipeError:
        return _closed_pipe()
    except ConfigError as exc:
        click.echo(f"capcover: error: {exc}", err=True)
        return EXIT_USAGE
    except Exception as exc:  # noqa: BLE001 - never a traceback without --debug
        known = sys.modules.get("warehouse.db")
        if known is not None and isinstance(exc, known.WarehouseError):
            click.echo(f"capcover: error: {exc}", err=True)
            return EXIT_FAILED
        if known is not None and known.is_damage(exc):  # raised below Warehouse's own methods
            where = known.last_opened() or "the warehouse (CAPCOVER_DB)"
            first = (str(exc).strip().splitlines() or [""])[0]
            click.echo(f"capcover: error: {known.damaged_message(where, first)}", err=True)
            return EXIT_FAILED
        if debug:
            raise
        first = (str(exc).strip().splitlines() or [""])[0][:300]
        click.echo(f"capcover: error: unexpected {type(exc).__name__}: {first} — rerun with "
                   f"--debug for the traceback and report it", err=True)
        return EXIT_FAILED
    return code if isinstance(code, int) else 0


def _closed_pipe() -> int:
    """`capcover sql ... | head -2`: the reader went away; stop quietly, like other tools."""
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass
    return EXIT_FAILED


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
