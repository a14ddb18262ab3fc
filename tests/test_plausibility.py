"""Plausibility (issue 12.3, model side): a sector cap outside the sane band fails the run
cleanly; a scenario ratio that moves more than CAPCOVER_MAX_DAILY_MOVE times day over day is
quarantined instead of reported and alerted on."""

from __future__ import annotations

import json
import math
from datetime import UTC, date, datetime

import pytest

from capcover.cli.main import main
from capcover.config.settings import load_settings
from capcover.flows.sequence import run_daily
from capcover.model.plausibility import ImplausibleData, check_moves, check_sector_cap, move_factor
from capcover.model.report import ReportRow
from capcover.report.summary import summary_text
from capcover.warehouse.db import open_warehouse
from tests.conftest import category_payload, table_snapshot

DAY1, DAY2 = "2024-04-03T06:40:12.345Z", "2024-04-04T06:40:12.345Z"


def _row(scenario: str, ratio: float, day: date = date(2024, 4, 4)) -> ReportRow:
    now = datetime(2024, 4, 4, tzinfo=UTC)
    return ReportRow(
        day,
        scenario,
        "category",
        "ai",
        25e9,
        None,
        1,
        None,
        None,
        None,
        "H100",
        1,
        "fixed",
        None,
        1.0,
        0,
        None,
        None,
        1.0,
        ratio,
        1.0,
        1.0,
        0.0,
        now,
        now,
        "run",
    )


# -- pure checks ----------------------------------------------------------------------------


def test_check_sector_cap_accepts_the_band_inclusive():
    for cap in (1e6, 25e9, 1e14):
        assert check_sector_cap(cap, low_usd=1e6, high_usd=1e14) is None


@pytest.mark.parametrize("cap", [1e30, 1e14 * 1.01, 999_999.0, 0.0, -5.0])
def test_check_sector_cap_outside_the_band_names_cap_and_band(cap):
    why = check_sector_cap(cap, low_usd=1e6, high_usd=1e14)
    assert why is not None and "outside the plausible band" in why
    assert "CAPCOVER_SECTOR_CAP_MIN_USD" in why


@pytest.mark.parametrize("cap", [math.inf, -math.inf, math.nan])
def test_check_sector_cap_non_finite_is_refused(cap):
    assert "not a finite number" in check_sector_cap(cap, low_usd=1e6, high_usd=1e14)


def test_move_factor_is_symmetric_and_none_without_a_positive_base():
    assert move_factor(20.0, 2.0) == move_factor(2.0, 20.0) == 10.0
    assert move_factor(1.0, 0.0) is None and move_factor(0.0, 1.0) is None
    assert move_factor(math.nan, 1.0) is None


def test_check_moves_first_day_is_never_quarantined():
    (verdict,) = check_moves([_row("a", 1e9)], {}, max_move=10)
    assert not verdict.quarantined and verdict.factor is None


def test_check_moves_beyond_the_limit_up_or_down_is_quarantined_with_a_reason():
    previous = {name: _row(name, 1.0, date(2024, 4, 3)) for name in ("up", "down", "edge")}
    verdicts = {
        v.scenario: v
        for v in check_moves(
            [_row("up", 10.5), _row("down", 0.09), _row("edge", 10.0)], previous, max_move=10
        )
    }
    assert verdicts["up"].quarantined and verdicts["down"].quarantined
    assert not verdicts["edge"].quarantined  # exactly x10 is allowed
    reason = verdicts["up"].reason
    assert "2024-04-03" in reason and "CAPCOVER_MAX_DAILY_MOVE=10" in reason


# -- wired into the run ---------------------------------------------------------------------


def test_plausibility_sector_cap_1e30_fails_the_run_and_changes_no_table(fake_cg, settings):
    fake_cg.serve(categories=category_payload(updated_at=DAY1))
    run_daily(settings)
    before = table_snapshot(settings.db)
    fake_cg.server.clear()
    fake_cg.serve(categories=category_payload(cap=1e30, updated_at=DAY2))
    with pytest.raises(ImplausibleData, match=r"^2024-04-04: sector market cap \$1e\+30 is out"):
        run_daily(settings)
    assert table_snapshot(settings.db) == before
    with open_warehouse(settings.db, read_only=True) as wh:
        status, message = wh.query("SELECT status, message FROM runs ORDER BY started_at DESC")[0]
        assert wh.scalar("SELECT count(*) FROM alerts WHERE report_date = '2024-04-04'") == 0
    assert status == "failed" and "outside the plausible band" in message


def test_plausibility_sector_cap_outside_band_is_one_line_exit_1_on_the_cli(fake_cg, env, capsys):
    fake_cg.serve(categories=category_payload(cap=1e30))
    assert main(["run", "--dry-run"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("capcover: error: dry run failed: 2024-04-03: sector market cap")
    assert "\n" not in err


def test_plausibility_band_is_a_setting(fake_cg, env, monkeypatch):
    monkeypatch.setenv("CAPCOVER_SECTOR_CAP_MAX_USD", "1e10")  # the fake's cap is 25e9
    fake_cg.serve()
    with pytest.raises(ImplausibleData, match="1e\\+10"):
        run_daily(load_settings())


def _probe_config(tmp_path, monkeypatch, gpu_count: int) -> None:
    # One user scenario whose ratio is 0.5 with 1,000 GPUs: redefining it with 10 GPUs moves
    # it x100 while the built-ins stay put (same cap, same quotes).
    cfg = tmp_path / "capcover.toml"
    cfg.write_text(
        '[[scenario]]\nname = "probe"\ngpu_sku = "H100"\n'
        f'gpu_count = {gpu_count}\nprice = {{ kind = "fixed", unit_price_usd = 5e7 }}\n'
    )
    monkeypatch.setenv("CAPCOVER_CONFIG", str(cfg))
    monkeypatch.setenv("CAPCOVER_ALERT_SCENARIOS", "probe,coindesk-2024")


def test_plausibility_move_beyond_limit_is_quarantined_not_reported_or_alerted(
    fake_cg, env, tmp_path, monkeypatch
):
    _probe_config(tmp_path, monkeypatch, 1000)
    fake_cg.serve(categories=category_payload(updated_at=DAY1))
    first = run_daily(load_settings())
    assert {r.scenario: r.coverage_ratio for r in first.reports}["probe"] == 0.5
    _probe_config(tmp_path, monkeypatch, 10)  # ratio 50: would cross 1.0 and move 9,900%
    fake_cg.server.clear()
    fake_cg.serve(categories=category_payload(updated_at=DAY2))
    result = run_daily(load_settings())

    assert "probe" not in {r.scenario for r in result.reports}
    assert "coindesk-2024" in {r.scenario for r in result.reports}  # the others go on
    reason = dict(result.skipped)["probe"]
    assert reason.startswith("quarantined: coverage ratio 50 moved x100 against 2024-04-03")
    assert not [a for a in result.alerts if a.alert.scenario == "probe"]
    assert "probe" in summary_text(result, env["CAPCOVER_DB"])
    assert "quarantined" in summary_text(result, env["CAPCOVER_DB"])
    with open_warehouse(env["CAPCOVER_DB"], read_only=True) as wh:
        assert (
            wh.scalar(
                "SELECT count(*) FROM report_daily WHERE scenario = 'probe' "
                "AND report_date = '2024-04-04'"
            )
            == 0
        )
        ((source, key, why, record),) = wh.query(
            "SELECT source, record_key, reason, record_json FROM quarantine WHERE source = 'model'"
        )
        assert (
            wh.scalar(
                "SELECT count(*) FROM alerts WHERE scenario = 'probe' "
                "AND report_date = '2024-04-04'"
            )
            == 0
        )
        runs_quarantined = wh.scalar(
            "SELECT quarantined FROM runs WHERE run_id = ?", [result.run_id]
        )
    assert (source, key) == ("model", "2024-04-04/probe") and "x100" in why
    assert json.loads(record)["coverage_ratio"] == 50.0
    assert runs_quarantined == result.quarantined >= 1


def test_plausibility_move_within_limit_is_reported(fake_cg, env, tmp_path, monkeypatch):
    _probe_config(tmp_path, monkeypatch, 1000)
    fake_cg.serve(categories=category_payload(updated_at=DAY1))
    run_daily(load_settings())
    _probe_config(tmp_path, monkeypatch, 100)  # x10 exactly: allowed
    fake_cg.server.clear()
    fake_cg.serve(categories=category_payload(updated_at=DAY2))
    result = run_daily(load_settings())
    assert {r.scenario: r.coverage_ratio for r in result.reports}["probe"] == 5.0
    assert "probe" not in dict(result.skipped)


def test_plausibility_max_daily_move_is_a_setting(fake_cg, env, tmp_path, monkeypatch):
    _probe_config(tmp_path, monkeypatch, 1000)
    fake_cg.serve(categories=category_payload(updated_at=DAY1))
    run_daily(load_settings())
    _probe_config(tmp_path, monkeypatch, 100)
    monkeypatch.setenv("CAPCOVER_MAX_DAILY_MOVE", "5")
    fake_cg.server.clear()
    fake_cg.serve(categories=category_payload(updated_at=DAY2))
    result = run_daily(load_settings())
    assert "CAPCOVER_MAX_DAILY_MOVE=5" in dict(result.skipped)["probe"]
