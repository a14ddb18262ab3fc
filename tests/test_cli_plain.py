"""Read-only commands without click (cli/plain.py): the plain parser knows exactly the options
the click commands declare, prints what click's path prints for every line it takes, leaves
every other line to click, and a read-only command loads none of the modules it does not need
to print its answer (a fresh `python -X importtime -m cli` process each)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import click
import pytest

from cli.common import echo
from cli.main import cli, main
from cli.plain import SPECS, plain_command
from flows.sequence import run_daily
from tests.test_explain import D1, D2, add_coins, add_quote, add_reports, report
from warehouse.db import open_warehouse

ROOT = Path(__file__).resolve().parent.parent
FORMATS = ("table", "csv", "json", "markdown")


@pytest.fixture
def warehouse(fake_cg, settings):
    fake_cg.serve()
    run_daily(settings)
    return settings.db


@pytest.fixture
def two_days(env, tmp_path):
    """A second warehouse with two report days, so `explain` has a move to explain."""
    path = tmp_path / "two-days.duckdb"
    with open_warehouse(path) as wh:
        add_coins(wh, D1, {"a": 10e9, "c": 3e9})
        add_coins(wh, D2, {"a": 12e9, "d": 2e9})
        add_quote(wh, "q-old", "s1", D1, 30_000)
        add_quote(wh, "q-new", "s2", D2, 34_000)
        add_reports(wh, report(D1, "bought", 20e9, constituents=13e9, quotes=1, median=30_000),
                    report(D2, "bought", 25e9, constituents=14e9, quotes=2, median=32_000),
                    report(D1, "fixed", 20e9, constituents=13e9),
                    report(D2, "fixed", 25e9, constituents=14e9))
    return path


# -- the plain parser knows the click commands' options ---------------------------------------

def _click_command(words: tuple[str, ...]) -> click.Command:
    command = cli
    for word in words:
        command = command.commands[word]
    return command


def _kind(param: click.Parameter) -> str:
    """The plain parser's kind for a click parameter's type (cli/plain.py's _value)."""
    if getattr(param, "is_flag", False):
        return "flag"
    if isinstance(param.type, click.Choice):
        return "format" if param.name == "fmt" else "kind"
    if isinstance(param.type, click.IntRange):
        assert (param.type.min, param.type.max, param.type.min_open) == (1, None, False)
        return "count"
    if param.type.name == "YYYY-MM-DD":
        return "date"
    assert param.type is click.STRING, f"{param.name}: a type cli/plain.py does not know"
    return "text"


@pytest.mark.parametrize("words", list(SPECS), ids=" ".join)
def test_plain_specs_are_the_click_commands_parameters(words):
    _module, _function, positional, options = SPECS[words]
    command = _click_command(words)
    # What click passes for an option not given (its declared default, resolved).
    defaults = command.make_context(" ".join(words), [], resilient_parsing=True).params
    declared_options = {
        opt: (p.name, _kind(p), defaults[p.name])
        for p in command.params if isinstance(p, click.Option) for opt in p.opts}
    assert declared_options == options
    assert tuple(p.name for p in command.params if isinstance(p, click.Argument)) == positional
    assert all(len(p.opts) == 1 and not p.secondary_opts and not p.multiple
               for p in command.params if isinstance(p, click.Option))


def test_plain_specs_cover_every_read_only_command():
    assert set(SPECS) == {("sql",), ("report",), ("alerts",), ("status",), ("quotes", "list"),
                          ("explain",)}


# -- the same output on both paths -------------------------------------------------------------

def _both(capsys, argv: list[str]) -> tuple[tuple, tuple]:
    assert plain_command(argv) is not None, argv  # the plain path takes this line
    plain = main(argv), *capsys.readouterr()
    clicked = main(argv, plain=False), *capsys.readouterr()
    return plain, clicked


READ_LINES = [
    ["sql", "SELECT scenario, coverage_ratio, 1.5::DECIMAL(10, 3) AS d FROM report_daily"],
    ["sql", "SELECT '\x1b[31mred\x1b[0m' AS escape, 'caf\u00e9' AS wide, 'a|b' AS pipe"],
    ["sql", "SELECT * FROM no_such_table"],
    ["sql", "DELETE FROM runs"],
    ["sql", ""],
    ["report"], ["report", "--scenario", "coindesk-2024"], ["report", "--date=1999-01-01"],
    ["alerts"], ["alerts", "--undelivered"], ["alerts", "--since", "2020-01-01"],
    ["status"], ["status", "--limit", "1"], ["status", "--limit=007"],
    ["quotes", "list"], ["quotes", "list", "--sku", "H100", "--kind", "purchase"],
    ["quotes", "list", "--stats"], ["quotes", "list", "--source", "nobody"],
    ["explain"],  # one report day: nothing to compare with
]


@pytest.mark.parametrize("argv", READ_LINES, ids=lambda a: " ".join(a)[:40])
def test_plain_prints_what_click_prints_in_every_format(warehouse, capsys, argv):
    for fmt in FORMATS:
        for line in ([*argv, "--format", fmt], ["--db", str(warehouse), *argv, f"--format={fmt}"]):
            plain, clicked = _both(capsys, line)
            assert plain == clicked


@pytest.mark.parametrize("fmt", FORMATS)
def test_plain_explain_prints_what_click_prints(two_days, capsys, fmt):
    for argv in (["explain"], ["explain", "--scenario", "bought"], ["explain", "--date",
                                                                    "2024-04-01"]):
        plain, clicked = _both(capsys, ["--db", str(two_days), *argv, "--format", fmt])
        assert plain == clicked
        assert plain[0] == (1 if "2024-04-01" in argv else 0)


def test_plain_errors_are_clicks_errors(env, tmp_path, capsys):
    missing = str(tmp_path / "none.duckdb")
    for argv in (["--db", missing, "report"], ["--db", missing, "--debug", "sql", "select 1"],
                 ["report"], ["status"], ["alerts"], ["quotes", "list"], ["explain"]):
        plain, clicked = _both(capsys, argv)
        assert plain == clicked and plain[0] == 1 and plain[2].startswith("capcover: error: ")


@pytest.mark.parametrize("text", ["plain", "", "caf\u00e9 \u2192", "\x1b[31mred\x1b[0m", "a\nb\n"])
def test_common_echo_writes_what_click_echo_writes(capsys, text):
    for err in (False, True):
        echo(text, err=err)
        ours = capsys.readouterr()
        click.echo(text, err=err)
        assert ours == capsys.readouterr()


# -- every other line is click's ---------------------------------------------------------------

@pytest.mark.parametrize("argv", [
    ["--help"], ["-h"], ["--version"], ["sql", "--help"], ["report", "-h"], ["quotes"],
    ["quotes", "add", "--sku", "H100"], ["run"], ["config"], ["nosuch"],
    ["sql"], ["sql", "select 1", "select 2"], ["sql", "--", "select 1"], ["sql", "-"],
    ["sql", "-x"], ["report", "--nope"], ["report", "--format"], ["report", "--format", "xml"],
    ["report", "--format=XML"], ["report", "--format", "csv", "--format", "json"],
    ["report", "--date", "2024-13-01"], ["report", "--date", "-1"], ["report", "extra"],
    ["alerts", "--undelivered=yes"], ["status", "--limit", "0"], ["status", "--limit", "+5"],
    ["status", "--limit", " 5"], ["quotes", "list", "--kind", "bogus"], ["report", "--debug"],
    ["--db"], ["--db", "", "report"], ["--db", "-x", "report"], ["--debug", "--debug", "sql",
                                                                 "select 1"],
    ["--debug=1", "report"], ["--nope", "report"], ["sql", "select 1", "--format", "-x"],
], ids=lambda a: " ".join(a)[:40])
def test_plain_leaves_every_other_line_to_click(argv):
    assert plain_command(argv) is None


def test_plain_leaves_a_folder_as_db_and_shell_completion_to_click(tmp_path, monkeypatch):
    assert plain_command(["--db", str(tmp_path), "report"]) is None  # click: "is a directory"
    assert plain_command(["--db", str(tmp_path / "x.duckdb"), "report"]) is not None
    monkeypatch.setenv("_CAPCOVER_COMPLETE", "bash_complete")
    assert plain_command(["report"]) is None


def test_plain_usage_errors_read_as_before(env, capsys):
    assert main(["report", "--format", "xml"]) == 2
    assert capsys.readouterr().err == (
        "capcover: error: Invalid value for '--format': 'xml' is not one of 'table', 'csv', "
        "'json', 'markdown'. (see `capcover report --help`)\n")


# -- what a read-only command loads ------------------------------------------------------------

# Not needed to print any read-only answer (rich only draws tables the plain drawer cannot).
NEVER = ("click", "rich", "pydantic", "pydantic_settings", "requests", "prefect", "apprise",
         "jinja2", "matplotlib", "model.alerts", "model.scenarios", "model.plausibility",
         "warehouse.alerts", "warehouse.load", "warehouse.history", "config.settings",
         "ingest.http", "ingest.clients", "flows.sequence", "report.html", "cli.group",
         "cli.run")
PRICE_METHOD = ("model.report", "model.prices", "model.coverage")


def _imported(argv: list[str], env: dict[str, str]) -> tuple[int, set[str]]:
    """Exit code and every module `python -X importtime -m cli argv` imported."""
    proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "cli", *argv],
                          capture_output=True, text=True, cwd=ROOT, timeout=120,
                          env={**env, "PATH": "/usr/bin:/bin"})
    names = {line.rsplit("|", 1)[1].strip() for line in proc.stderr.splitlines()
             if line.startswith("import time:") and "imported package" not in line}
    return proc.returncode, names


@pytest.mark.parametrize(("argv", "code", "allowed"), [
    (["sql", "select 1"], 0, ()),
    (["report"], 0, ()),
    (["alerts"], 0, ()),
    (["status"], 0, ()),
    (["quotes", "list"], 0, ()),
    (["quotes", "list", "--stats"], 0, PRICE_METHOD),
    (["explain"], 1, ("model.explain",)),
], ids=lambda a: " ".join(a) if isinstance(a, list) else "")
def test_plain_read_only_commands_import_only_what_they_print_with(warehouse, env, argv, code,
                                                                   allowed):
    for fmt in FORMATS:
        rc, names = _imported([*argv, "--format", fmt], env)
        assert rc == code
        loaded = {n for n in names if n.split(".")[0] in NEVER or n in NEVER}
        assert loaded == set(), fmt
        unneeded = {n for n in names if n in (*PRICE_METHOD, "model.explain")} - set(allowed)
        assert unneeded == set(), fmt
        assert "cli.plain" in names  # the plain path ran it
