"""Compute once, pass down (issue 19 item 5): "why it moved" is computed once per run, also on
a day that fires an alert about the move; the run's step durations are written once, never
read back; the scenarios are parsed once per Settings object (the built-in file once per
process)."""

from __future__ import annotations

import json

import pytest

from capcover.config import settings as settings_module
from capcover.config.settings import load_settings
from capcover.flows.sequence import run_daily
from capcover.warehouse import db as db_module
from capcover.warehouse import explain
from capcover.warehouse.db import open_warehouse
from tests.conftest import category_payload

DAY1, DAY2 = "2024-04-02T06:00:00Z", "2024-04-03T06:00:00Z"


def _counting(monkeypatch, module, name: str) -> list:
    """Replace `module.name` by a wrapper that records each call's arguments (a spy: the real
    function still runs)."""
    calls: list = []
    real = getattr(module, name)

    def spy(*args, **kwargs):
        calls.append((args, kwargs))
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, spy)
    return calls


def _run_day(fake_cg, cap: float, updated_at: str):
    fake_cg.clear()
    fake_cg.serve(categories=category_payload(cap=cap, updated_at=updated_at))
    return run_daily(load_settings())


def test_why_it_moved_is_computed_once_on_a_day_that_fires_an_alert(env, fake_cg, monkeypatch):
    monkeypatch.setenv("CAPCOVER_ALERT_SCENARIOS", "coindesk-2024")
    monkeypatch.setenv("CAPCOVER_ALERT_RULES", "threshold_crossed")
    _run_day(fake_cg, 21e9, DAY1)  # below the $21.6B buildout
    reads = _counting(monkeypatch, explain, "ratio_moves")
    result = _run_day(fake_cg, 22.5e9, DAY2)  # above it: the threshold alert fires
    (stored,) = result.alerts
    why = result.explanations["coindesk-2024"]
    assert stored.alert.rule == "threshold_crossed"
    assert stored.alert.message.endswith(f". Why: {why}")  # the alert carries the same text
    assert len(reads) == 1  # one read of the moves serves the alert, the summary, the artifact


def _statements(monkeypatch) -> list[tuple[str, list]]:
    """Every SQL statement the warehouse runs from here on, with its parameters
    (Warehouse._run is the one door)."""
    seen: list[tuple[str, list]] = []
    real = db_module.Warehouse._run

    def spy(self, sql, params):
        seen.append((" ".join(sql.split()), list(params or [])))
        return real(self, sql, params)

    monkeypatch.setattr(db_module.Warehouse, "_run", spy)
    return seen


@pytest.mark.parametrize("publish", ["ok", "fails"])
def test_step_timings_are_written_once_and_never_read_back(
    env, fake_cg, monkeypatch, tmp_path, publish
):
    if publish == "fails":  # a publish folder that cannot be made: the run still succeeds
        (tmp_path / "a-file").write_text("x")
        monkeypatch.setenv("CAPCOVER_PUBLISH_DIR", str(tmp_path / "a-file" / "published"))
    fake_cg.serve()
    statements = _statements(monkeypatch)
    result = run_daily(load_settings())
    reads = [s for s, _ in statements if s.startswith("SELECT") and "step_durations" in s]
    writes = [s for s, _ in statements if s.startswith("UPDATE") and "step_durations" in s]
    (insert,) = [(s, p) for s, p in statements if s.startswith("INSERT OR REPLACE INTO runs")]
    columns = insert[0].split("(", 1)[1].split(")", 1)[0].split(", ")
    assert insert[1][columns.index("step_durations")] is None  # the run's row, before them
    assert reads == [] and len(writes) == 1  # then one write, after publishing
    with open_warehouse(env["CAPCOVER_DB"], read_only=True) as wh:
        steps = json.loads(
            wh.scalar("SELECT step_durations FROM runs WHERE run_id = ?", [result.run_id])
        )
        message = wh.scalar("SELECT message FROM runs WHERE run_id = ?", [result.run_id])
    assert list(steps) == ["fetch_market", "fetch_quotes", "load_model_report", "publish"]
    assert all(isinstance(v, float) and v >= 0 for v in steps.values())
    assert (message or "").startswith("publish to ") == (publish == "fails")


def test_scenarios_are_parsed_once_per_settings_and_the_builtin_file_once(
    env, fake_cg, monkeypatch
):
    settings_module.builtin_scenarios.cache_clear()
    parses = _counting(monkeypatch, settings_module, "parse_scenarios")
    settings = load_settings()  # validates the scenarios: the built-in file and the user's
    assert sorted(kw["where"].endswith("scenarios.toml") for _, kw in parses) == [False, True]
    fake_cg.serve()
    run_daily(settings)
    assert settings.scenarios() == settings.scenarios()
    assert len(parses) == 2  # the run and the calls above parsed nothing again
    load_settings()  # a new Settings object parses its own (user) scenarios, not the file
    assert len(parses) == 3 and not parses[2][1]["where"].endswith("scenarios.toml")
