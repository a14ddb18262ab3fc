"""The click group: global options, and every command group registering itself on it."""

from __future__ import annotations

import click


def _print_version(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    # A callback, so the installed version is looked up only for --version (reading the
    # package metadata costs every other command ~15 ms).
    if value and not ctx.resilient_parsing:
        from capcover import installed_version

        click.echo(f"capcover {installed_version()}")
        ctx.exit()


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--version",
    is_flag=True,
    expose_value=False,
    is_eager=True,
    callback=_print_version,
    help="Show the version and exit.",
)
@click.option(
    "--db",
    type=click.Path(dir_okay=False),
    default=None,
    help="DuckDB warehouse file (overrides CAPCOVER_DB).",
)
@click.option("--debug", is_flag=True, help="Show the traceback of an unexpected error.")
@click.pass_context
def cli(ctx: click.Context, db: str | None, debug: bool) -> None:
    """Could the AI-token sector buy the GPUs its ambitions need? Daily coverage ratio in
    DuckDB."""
    from capcover.cli.common import INVOCATION

    ctx.obj = {"db": db, "debug": debug}
    INVOCATION["db"] = db


def _register() -> None:
    from capcover.cli import alerts, explain, quotes, read, run, status, verify

    for module in (run, read, alerts, quotes, status, explain, verify):
        module.register(cli)


_register()
