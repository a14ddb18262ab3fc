"""The public Python API (capcover/api.py; issue 19 item 2): a read-only Reader and `run`,
keyword settings over the environment, the README's example run as written, and the command
line calling it."""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
from datetime import date
from pathlib import Path

import pytest

import capcover
from capcover import api
from capcover.cli.main import main
from capcover.config.settings import load_settings
from capcover.flows.sequence import run_daily
from capcover.warehouse.db import open_warehouse
from tests.conftest import category_payload
from tests.helpers import ROOT, python

DAY1, DAY2 = "2024-04-02T06:00:00Z", "2024-04-03T06:00:00Z"


@pytest.fixture
def two_days(env, fake_cg) -> Path:
    """The env's warehouse with two report days: the second has moves to explain."""
    for cap, day in ((21e9, DAY1), (22.5e9, DAY2)):
        fake_cg.clear()
        fake_cg.serve(categories=category_payload(cap=cap, updated_at=day))
        run_daily(load_settings())
    return Path(env["CAPCOVER_DB"])


def readme_example() -> str:
    """The Python block of the README's "From Python" section, as written there."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("### From Python", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.DOTALL).group(1)


def test_api_readme_example_runs_as_written(two_days, fake_cg, tmp_path, monkeypatch):
    # The example reads data/demo.duckdb and runs into data/capcover.duckdb, relative to here.
    here = tmp_path / "here"
    (here / "data").mkdir(parents=True)
    (here / "data" / "demo.duckdb").write_bytes(two_days.read_bytes())
    monkeypatch.chdir(here)
    fake_cg.clear()
    fake_cg.serve()  # the next run's day, 2024-04-03 again
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(readme_example(), "README.md", "exec"), {})
    lines = out.getvalue().splitlines()
    assert "coindesk-2024 1.042" in lines  # $22.5B / $21.6B
    assert any(line.startswith("2024-04-03 ") and "coindesk-2024" in line for line in lines)
    assert lines[-1].startswith("2024-04-03 {") and "'coindesk-2024': 1.157" in lines[-1]
    # The keyword beat CAPCOVER_DB: the run wrote data/capcover.duckdb, not the env's file.
    with open_warehouse(here / "data" / "capcover.duckdb", read_only=True) as wh:
        assert wh.scalar("SELECT count(*) FROM runs WHERE status = 'ok'") == 1
    with open_warehouse(two_days, read_only=True) as wh:
        assert wh.scalar("SELECT count(*) FROM runs") == 2


def test_api_reader_reads_every_view_the_cli_prints(two_days, tmp_path):
    reader = capcover.Reader(db=two_days)
    report = reader.report()
    assert {r["scenario"] for r in report.records()} >= {"coindesk-2024", "h100-purchase"}
    assert {r["report_date"].isoformat() for r in report.records()} == {"2024-04-03"}
    assert "run_id" in report.columns and "run_id" not in reader.report(full=False).columns
    why = reader.explain()
    assert why is not None and why.report_date.isoformat() == "2024-04-03"
    assert why.paragraphs["coindesk-2024"].startswith("coindesk-2024")
    (move,) = [m for m in why.moves if m["scenario"] == "coindesk-2024"]
    assert move["log_change"] == pytest.approx(
        move["cap_effect"] - move["price_effect"] - move["count_effect"]
    )
    assert json.loads(json.dumps(why.as_dict(), default=str))["report_date"] == "2024-04-03"
    assert reader.sql("SELECT count(*) AS n FROM report_daily").records() == [
        {"n": 2 * len(report.rows)}
    ]
    fired = {(a["scenario"], a["rule"]) for a in reader.alerts().records()}
    assert ("coindesk-2024", "threshold_crossed") in fired  # $21B -> $22.5B crosses $21.6B
    assert [r["status"] for r in reader.runs(limit=5).records()] == ["ok", "ok"]
    assert reader.quotes().rows and reader.quote_stats().columns == list(api.STATS_COLUMNS)
    assert reader.next_run().source.startswith("computed from schedule_cron")
    now = reader.status(limit=1)
    assert len(now.runs.rows) == 1 and now.next_run.at == reader.next_run().at
    (html,) = reader.write_report(html=tmp_path / "r.html")
    assert html.read_text(encoding="utf-8").startswith("<!doctype html>")


def test_api_reader_keyword_settings_beat_the_environment(two_days, env, monkeypatch, tmp_path):
    monkeypatch.setenv("CAPCOVER_DB", str(tmp_path / "elsewhere.duckdb"))
    assert capcover.Reader(db=two_days).report().rows
    assert capcover.Reader(db=two_days).db == two_days
    with pytest.raises(capcover.WarehouseError, match=r"^no warehouse at .*elsewhere\.duckdb"):
        capcover.Reader().report()
    with pytest.raises(capcover.ConfigError, match="^CAPCOVER_LOCK_BUDGET_S: Input should be"):
        capcover.Reader(db=two_days, lock_budget_s=-1)
    with pytest.raises(TypeError, match="takes no setting coingecko_plan"):
        capcover.Reader(coingecko_plan="pro")


def test_api_reader_holds_no_connection_between_calls(two_days):
    reader = capcover.Reader(db=two_days)
    assert reader.report().rows
    with open_warehouse(two_days, lock_budget_s=0) as wh:  # a writer gets the file at once
        assert wh.schema_version > 0


def test_api_run_keyword_settings_beat_the_environment(env, fake_cg, tmp_path):
    fake_cg.serve()
    other = tmp_path / "other.duckdb"
    result = capcover.run(db=other)
    assert result.as_of_date.isoformat() == "2024-04-03" and result.reports
    assert not Path(env["CAPCOVER_DB"]).exists()
    with open_warehouse(other, read_only=True) as wh:
        assert wh.scalar("SELECT count(*) FROM report_daily") == len(result.reports)
    dry = capcover.run(capcover.settings(db=other), dry_run=True)
    assert dry.dry_run and dry.reports
    with open_warehouse(other, read_only=True) as wh:
        assert wh.scalar("SELECT count(*) FROM runs") == 1  # the dry run wrote nothing
    with pytest.raises(TypeError, match="not both"):
        capcover.run(capcover.settings(), db=other)
    with pytest.raises(capcover.ConfigError, match="^coingecko_plann: not a capcover setting"):
        capcover.run(coingecko_plann="pro")


def _spy(monkeypatch, owner, name: str) -> list:
    calls: list = []
    real = getattr(owner, name)

    def spy(*args, **kwargs):
        calls.append(name)
        return real(*args, **kwargs)

    monkeypatch.setattr(owner, name, spy)
    return calls


def test_api_is_what_the_cli_calls(two_days, fake_cg, monkeypatch, capsys):
    seen = {
        name: _spy(monkeypatch, api.Reader, name)
        for name in ("report", "explain", "sql", "alerts", "status", "quotes", "quote_stats")
    }
    runs = _spy(monkeypatch, api, "run")
    for argv in (
        ["report"],
        ["explain"],
        ["sql", "SELECT 1"],
        ["alerts"],
        ["status"],
        ["quotes", "list"],
        ["quotes", "list", "--stats"],
        ["run"],
    ):
        assert main(argv) == 0, capsys.readouterr().err
    assert {name: len(c) for name, c in seen.items()} == dict.fromkeys(seen, 1)
    assert runs == ["run"]


def test_api_reader_names_scenarios_and_the_nearest_report_dates(two_days):
    reader = capcover.Reader(db=two_days)
    names = reader.scenarios()
    assert "coindesk-2024" in names and names == sorted(set(names))
    day1, day2 = date(2024, 4, 2), date(2024, 4, 3)
    assert reader.nearest_reports(date(2024, 4, 10)) == api.NearestReports(day2, None, day2)
    assert reader.nearest_reports(date(2024, 4, 1), scenario="coindesk-2024") == (None, day1, day2)
    assert reader.nearest_reports(day2, scenario="no-such") == (None, None, None)


def test_api_held_alerts_refuse_a_missing_warehouse_and_create_none(tmp_path):
    missing = tmp_path / "missing.duckdb"
    with pytest.raises(capcover.WarehouseError, match=r"^no warehouse at .*missing\.duckdb"):
        capcover.release_alerts(db=missing)
    with pytest.raises(capcover.WarehouseError, match=r"^no warehouse at .*missing\.duckdb"):
        capcover.confirm_alerts(["a1"], db=missing)
    assert not missing.exists()


def test_api_alert_commands_call_the_api(two_days, monkeypatch, capsys):
    released = _spy(monkeypatch, api, "release_alerts")
    confirmed = _spy(monkeypatch, api, "confirm_alerts")
    assert main(["--db", str(two_days), "alerts", "release", "--all"]) == 1  # nothing held
    assert main(["alerts", "confirm", "no-such-id", "--db", str(two_days)]) == 1
    assert "no held or unknown delivery matches no-such-id" in capsys.readouterr().err
    assert (released, confirmed) == (["release_alerts"], ["confirm_alerts"])
    assert capcover.release_alerts(db=two_days) == 0  # and by Python, the same answer


def test_api_import_is_light():
    # `import capcover` and the API's names load no database, no Prefect, no settings model.
    code = (
        "import sys, capcover; capcover.Reader, capcover.run, capcover.Table; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'duckdb', 'prefect', "
        "'pydantic', 'pydantic_settings', 'requests', 'click'}))"
    )
    out = python("-c", code, env=os.environ, check=True)
    assert out.stdout.strip() == "[]"
