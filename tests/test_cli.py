"""The command line: read-only SQL, report formats, no Prefect import for readers, docs."""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from cli.main import cli, main
from flows.sequence import run_daily

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


@pytest.mark.parametrize("fmt", ["table", "csv", "json", "markdown"])
def test_cli_report_formats(warehouse_with_reports, capsys, fmt):
    assert main(["report", "--format", fmt]) == 0
    out = capsys.readouterr().out
    assert "coindesk-2024" in out
    if fmt == "json":
        rows = {r["scenario"]: r for r in json.loads(out)}
        assert rows["coindesk-2024"]["coverage_ratio"] == 25e9 / 21.6e9
        assert rows["coindesk-2024"]["report_date"] == "2024-04-03"


def test_cli_report_missing_warehouse_is_one_line(env, capsys):
    assert main(["report"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("capcover: error: no warehouse at") and err.count("\n") == 1


def test_cli_bad_setting_exits_2_naming_it(env, monkeypatch, capsys):
    monkeypatch.setenv("CAPCOVER_COINGECKO_PLAN", "gold")
    assert main(["report"]) == 2
    assert "CAPCOVER_COINGECKO_PLAN" in capsys.readouterr().err


def test_cli_readers_do_not_import_prefect(warehouse_with_reports, env):
    code = ("import sys; from cli.main import main; main(['report']); "
            "main(['sql', 'select 1']); print('PREFECT', 'prefect' in sys.modules)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**env, "PATH": "/usr/bin:/bin"}, cwd=ROOT, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "PREFECT False" in proc.stdout


def test_cli_every_command_is_documented_in_readme():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    commands = cli.commands
    for name in commands:
        assert re.search(rf"capcover {name}\b", readme), f"`capcover {name}` not in README"
