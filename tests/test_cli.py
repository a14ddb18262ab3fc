"""The command line: read-only SQL, report formats, no Prefect import for readers, docs."""

import csv
import io
import json
import re
from pathlib import Path

import pytest

from capcover.cli.main import cli, main
from capcover.flows.sequence import run_daily
from capcover.warehouse.db import open_warehouse
from capcover.warehouse.queries import report
from tests.helpers import PLAIN_PATH, commands_in_fresh_process

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def warehouse_with_reports(fake_cg, settings):
    fake_cg.serve()
    run_daily(settings)
    return settings.db


def test_cli_sql_refuses_writes_and_changes_nothing(warehouse_with_reports, capsys):
    assert main(["sql", "DELETE FROM report_daily"]) == 1
    err = capsys.readouterr().err
    assert "read-only" in err and err.count("\n") == 1
    assert main(["sql", "SELECT count(*) AS n FROM report_daily", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["n"] == 4  # fixed + 3 purchase-priced


REPORT_LABELS = ["date", "scenario", "ratio (band)", "covers?", "unit price", "price basis"]


def _table_rows(out: str) -> list[list[str]]:
    """The body rows of a boxed table (one line per row: the test warehouse wraps nothing)."""
    return [
        [c.strip() for c in line.strip().strip("\u2502").split("\u2502")]
        for line in out.splitlines()
        if line.startswith("\u2502")
    ]


@pytest.mark.parametrize("fmt", ["table", "csv", "json", "markdown"])
def test_cli_report_formats(warehouse_with_reports, capsys, fmt):
    """JSON and CSV carry every column at full precision; the table and Markdown show the few
    columns a person reads, each number in its one format (1.157, $30,000)."""
    assert main(["report", "--format", fmt]) == 0
    out = capsys.readouterr().out
    with open_warehouse(warehouse_with_reports, read_only=True) as wh:
        columns = report(wh, full=True)[0]
    if fmt == "json":
        rows = {r["scenario"]: r for r in json.loads(out)}
        assert list(rows["coindesk-2024"]) == columns
        assert rows["coindesk-2024"]["coverage_ratio"] == 25e9 / 21.6e9
        assert rows["coindesk-2024"]["report_date"] == "2024-04-03"
        assert rows["coindesk-2024"]["sector_market_cap_usd"] == 25e9
    elif fmt == "csv":
        reader = csv.DictReader(io.StringIO(out))
        assert reader.fieldnames == columns
        rows = {r["scenario"]: r for r in reader}
        assert len(rows) == 4  # fixed + 3 purchase-priced
        row = rows["coindesk-2024"]
        assert float(row["coverage_ratio"]) == 25e9 / 21.6e9
        assert (row["report_date"], float(row["sector_market_cap_usd"])) == ("2024-04-03", 25e9)
    elif fmt == "markdown":
        lines = out.splitlines()
        assert lines[0] == "| " + " | ".join(_md(label) for label in REPORT_LABELS) + " |"
        assert lines[1] == "|" + "---|" * len(REPORT_LABELS)
        (row,) = [line for line in lines if "| coindesk\\-2024 |" in line]
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert cells == [
            "2024-04-03",
            "coindesk\\-2024",
            "1.157",
            "yes",
            "$30,000",
            _md("fixed $30,000"),
        ]
        assert len(lines) == 2 + 4
    else:
        lines = out.splitlines()
        (header,) = [line for line in lines if line.startswith("\u2503")]
        assert [c.strip() for c in header.strip().strip("\u2503").split("\u2503")] == REPORT_LABELS
        rows = {r[1]: r for r in _table_rows(out)}
        assert rows["coindesk-2024"] == [
            "2024-04-03",
            "coindesk-2024",
            "1.157",
            "yes",
            "$30,000",
            "fixed $30,000",
        ]
        assert all(len(line) <= 100 for line in lines)


def _md(text: str) -> str:
    from capcover.model.text import md_text

    return md_text(text)


def test_cli_report_wide_and_columns_choose_the_columns(warehouse_with_reports, capsys):
    assert main(["report", "--wide"]) == 0
    wide = capsys.readouterr().out
    with open_warehouse(warehouse_with_reports, read_only=True) as wh:
        columns = report(wh, full=True)[0]
    (header,) = [line for line in wide.splitlines() if line.startswith("\u2503")]
    assert [c.strip() for c in header.strip("\u2503").split("\u2503")][:2] == ["date", "scenario"]
    assert len(header.split("\u2503")) - 2 == len(columns) + 1  # every column and covers?
    assert main(["report", "--columns", "scenario,gpu_count,covers", "--format", "csv"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "scenario,gpu_count,covers"
    assert "coindesk-2024,720000,True" in lines
    assert main(["report", "--columns", "scenario,nope"]) == 2
    err = capsys.readouterr().err
    assert "capcover report has no column 'nope'; its columns: report_date, scenario" in err
    assert err.count("\n") == 1


def test_cli_report_missing_warehouse_is_one_line(env, capsys):
    assert main(["report"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("capcover: error: no warehouse at") and err.count("\n") == 1


def test_cli_bad_setting_exits_2_naming_it(env, monkeypatch, capsys):
    # `run` reads every setting; read-only commands read only theirs (tests/test_readers_lean.py).
    monkeypatch.setenv("CAPCOVER_COINGECKO_PLAN", "gold")
    assert main(["run", "--dry-run"]) == 2
    assert "CAPCOVER_COINGECKO_PLAN" in capsys.readouterr().err


def test_cli_readers_do_not_import_prefect(warehouse_with_reports, env):
    seen = commands_in_fresh_process(
        ["report"], ["sql", "select 1"], env={**env, "PATH": PLAIN_PATH}
    )
    assert seen.codes == [0, 0], seen.stderr
    assert seen.loaded("prefect") == []


def test_cli_every_command_is_documented_in_readme():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    commands = cli.commands
    for name in commands:
        assert re.search(rf"capcover {name}\b", readme), f"`capcover {name}` not in README"
