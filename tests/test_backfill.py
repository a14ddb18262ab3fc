"""`capcover backfill`: per-coin history over real HTTP into a real DuckDB file, paced by the
HTTP layer's token bucket against a fake server that ENFORCES its rate limit."""

from __future__ import annotations

import io
import json
import os
import random
from datetime import UTC, date, datetime

import pytest

from capcover.cli.main import main
from capcover.config.settings import load_settings
from capcover.fakeapi.coingecko import CoinGecko, coin_cap
from capcover.flows.backfill import run_backfill
from capcover.ingest.history import parse_market_chart
from capcover.ingest.http import RawResponse, TokenBucket
from capcover.model.report import ReportRow
from capcover.warehouse.db import open_warehouse
from tests.conftest import reference


@pytest.fixture
def backfill_env(tmp_path, monkeypatch):
    """Settings pointing at a CoinGecko started by the test (set the base URL later)."""
    for key in list(os.environ):
        if key.startswith("CAPCOVER_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("CAPCOVER_DB", str(tmp_path / "capcover.duckdb"))
    monkeypatch.setenv("CAPCOVER_HTTP_RETRY_BUDGET_S", "10")
    monkeypatch.setenv("CAPCOVER_LOCK_BUDGET_S", "5")

    def point_at(server: CoinGecko, rate_per_s: float) -> None:
        monkeypatch.setenv("CAPCOVER_COINGECKO_BASE_URL", server.base_url)
        monkeypatch.setenv("CAPCOVER_COINGECKO_RATE_PER_MINUTE", str(rate_per_s * 60))

    return point_at


def quiet_console():
    from rich.console import Console

    return Console(file=io.StringIO(), force_terminal=False)


def test_backfill_paces_at_the_server_limit_with_no_429_and_one_request_per_coin(backfill_env):
    # The server tolerates half a slot of scheduling jitter (a loaded CI machine), nothing more:
    # the negative control below shows one unpaced burst already draws 429s from it.
    with CoinGecko.charts(n_coins=30, rate_per_s=10, jitter_s=0.05) as srv:
        backfill_env(srv, 10)
        result = run_backfill(load_settings(), 365, console=quiet_console())
    assert sum(srv.rejected.values()) == 0
    per_coin = srv.chart_requests()
    assert len(per_coin) == 30 and set(per_coin.values()) == {1}
    assert result.coins_done == 30 and result.rate_limited == 0
    assert result.http_requests == 30 + 3  # + categories, one markets page and the empty one


def test_fake_server_enforces_its_limit_on_an_unpaced_client():
    import requests

    with CoinGecko.charts(n_coins=3, rate_per_s=10, jitter_s=0.05) as srv:
        statuses = [
            requests.get(
                f"{srv.base_url}/coins/ai-coin-001/market_chart",
                params={"vs_currency": "usd", "days": 2},
                timeout=5,
            ).status_code
            for _ in range(12)
        ]
    assert statuses.count(200) == 10 and statuses.count(429) == 2


def test_backfill_honours_a_429_anyway_and_finishes(backfill_env):
    with CoinGecko.charts(n_coins=5, scripted_429=("ai-coin-003",), retry_after_s=1) as srv:
        backfill_env(srv, 600)
        result = run_backfill(load_settings(), 30, console=quiet_console())
    assert srv.chart_requests()["ai-coin-003"] == 2
    assert result.rate_limited == 1 and result.retry_wait_s >= 1.0
    assert result.coins_done == 5


def test_token_bucket_never_lets_two_requests_closer_than_the_rate_after_late_wakeups():
    # A strict server (capacity 1, zero tolerance) against the bucket, with a machine that wakes
    # sleepers late at random: the next request must not make up for the lost time.
    rng = random.Random(5)
    clock = [0.0]
    bucket = TokenBucket(
        60.0,
        clock=lambda: clock[0],
        sleep=lambda s: clock.__setitem__(0, clock[0] + s + rng.uniform(0, 0.7)),
    )
    sent = []
    for _ in range(200):
        bucket.acquire()
        sent.append(clock[0])
        clock[0] += rng.choice([0.0, 0.1, 2.5])  # work between requests, sometimes idle
    gaps = [b - a for a, b in zip(sent, sent[1:], strict=False)]
    assert min(gaps) >= 1.0 - 1e-9


def test_backfill_beyond_365_days_on_a_public_plan_is_refused_before_any_request(
    backfill_env, capsys
):
    with CoinGecko.charts(n_coins=3) as srv:
        backfill_env(srv, 600)
        code = main(["backfill", "--days", "400"])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert len(err.splitlines()) == 1 and "365" in err and "10012" in err
    assert sum(srv.requests.values()) == 0


def test_backfill_maps_error_10012_to_the_same_clear_message(backfill_env, monkeypatch, capsys):
    monkeypatch.setenv("CAPCOVER_COINGECKO_PLAN", "pro")  # no client-side cap on pro
    monkeypatch.setenv("CAPCOVER_COINGECKO_API_KEY", "CG-test-key-123")
    with CoinGecko.charts(n_coins=3) as srv:  # this fake answers days > 365 with 10012
        backfill_env(srv, 600)
        code = main(["backfill", "--days", "400"])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert "365" in err and "10012" in err and "CG-test-key" not in err
    assert len(err.splitlines()) == 1


def test_backfill_writes_history_reports_and_never_overwrites_category_days(backfill_env):
    with CoinGecko.charts(n_coins=8, missing=("ai-coin-008",)) as srv:
        backfill_env(srv, 600)
        settings = load_settings()
        # A day a daily run already reported (basis 'category') must survive the backfill.
        with open_warehouse(settings.db) as wh:
            # The columns of migration 001 by name: later migrations add columns.
            cols = ", ".join(list(ReportRow.__dataclass_fields__)[:26])
            values = """('2024-04-01', 'coindesk-2024',
                'category', 'artificial-intelligence', 9e9, NULL, 1, NULL, NULL, NULL, 'H100',
                720000, 'fixed', NULL, 30000, 0, NULL, NULL, 2.16e10, 0.41, 1, 1, 1,
                '2024-04-01 06:00:00+00', '2024-04-01 06:00:00+00', 'daily-run')"""
            wh.query(f"INSERT INTO report_daily ({cols}) VALUES {values}")  # noqa: S608
        result = run_backfill(settings, 30, console=quiet_console())
    assert result.coins_done == 7 and result.coins_missing == 1
    assert result.days_kept_category == [date(2024, 4, 1)]
    with open_warehouse(settings.db, read_only=True) as wh:
        kept = wh.query(
            "SELECT basis, sector_market_cap_usd, run_id FROM report_daily "
            "WHERE report_date = '2024-04-01' AND scenario = 'coindesk-2024'"
        )
        assert kept == [("category", 9e9, "daily-run")]
        days = wh.query(
            "SELECT count(DISTINCT report_date), min(report_date), max(report_date)"
            " FROM report_daily WHERE basis = 'history'"
        )[0]
        assert days == (29, date(2024, 3, 5), date(2024, 4, 3))  # 30 days, one kept
        # The sector = the de-duplicated sum of the constituents on that day (first point).
        cap = wh.scalar(
            "SELECT sector_market_cap_usd FROM report_daily WHERE report_date ="
            " '2024-03-05' AND scenario = 'coindesk-2024'"
        )
        assert cap == pytest.approx(sum(coin_cap(i) for i in range(1, 8)))
        n_coins = wh.scalar(
            "SELECT constituents_count FROM report_daily WHERE report_date ="
            " '2024-03-05' AND scenario = 'coindesk-2024'"
        )
        assert n_coins == 7
        assert wh.scalar("SELECT status FROM backfill_jobs") == "done"
        assert wh.scalar("SELECT count(*) FROM runs WHERE kind = 'backfill'") == 1


def test_backfill_rerun_after_a_finished_job_replaces_history_rows_without_duplicates(backfill_env):
    with CoinGecko.charts(n_coins=4) as srv:
        backfill_env(srv, 600)
        run_backfill(load_settings(), 10, console=quiet_console())
        run_backfill(load_settings(), 10, console=quiet_console())
    with open_warehouse(load_settings().db, read_only=True) as wh:
        assert wh.scalar("SELECT count(*) FROM coin_history") == 4 * 10
        assert (
            wh.scalar("SELECT count(*) - count(DISTINCT (report_date, scenario)) FROM report_daily")
            == 0
        )


def test_backfill_progress_bar_is_quiet_off_a_terminal_and_shown_on_one(backfill_env):
    from rich.console import Console

    with CoinGecko.charts(n_coins=3) as srv:
        backfill_env(srv, 600)
        off = io.StringIO()
        run_backfill(load_settings(), 5, console=Console(file=off, force_terminal=False))
        on = io.StringIO()
        run_backfill(load_settings(), 6, console=Console(file=on, force_terminal=True, width=160))
    assert off.getvalue() == ""
    shown = on.getvalue()
    assert "backfill" in shown and "3/3" in shown and "req" in shown and "429s" in shown


def test_market_chart_parse_drops_the_now_point_and_keeps_the_first_point_of_each_day():
    payload = reference("cgdocs_openapi__coins_id_market_chart.json")["payload"]
    raw = RawResponse(
        "coingecko",
        "/coins/bitcoin/market_chart",
        "GET",
        "http://x",
        {},
        None,
        200,
        json.dumps(payload),
        datetime.now(UTC),
        1.0,
        1,
    )
    points = parse_market_chart(raw, "bitcoin")
    assert [p.day for p in points] == [date(2024, 3, 31), date(2024, 4, 1)]
    assert points[0].market_cap_usd == 1370247487960.09
    assert all(p.point_at.hour == 0 and p.point_at.minute == 0 for p in points)
    # Hourly granularity (ranges under 90 days): the day's first point stands for the day.
    hourly = {
        "prices": [],
        "total_volumes": [],
        "market_caps": [[1711843200000 + h * 3_600_000 + 1234, float(h)] for h in range(30)],
    }
    raw2 = RawResponse(
        "coingecko",
        "/coins/x/market_chart",
        "GET",
        "http://x",
        {},
        None,
        200,
        json.dumps(hourly),
        datetime.now(UTC),
        1.0,
        1,
    )
    days = {p.day: p.market_cap_usd for p in parse_market_chart(raw2, "x")}
    assert days == {date(2024, 3, 31): 0.0, date(2024, 4, 1): 24.0}


def test_backfill_reports_are_rebuilt_identically_from_the_archive(backfill_env):
    from capcover.flows.rebuild import rebuild

    with CoinGecko.charts(n_coins=5) as srv:
        backfill_env(srv, 600)
        settings = load_settings()
        run_backfill(settings, 20, console=quiet_console())
    query = (
        "SELECT report_date, scenario, basis, sector_market_cap_usd, coverage_ratio, run_id"
        " FROM report_daily ORDER BY ALL"
    )
    with open_warehouse(settings.db, read_only=True) as wh:
        before = wh.query(query)
    rebuild(settings)
    with open_warehouse(settings.db, read_only=True) as wh:
        assert wh.query(query) == before and len(before) > 20


def test_rebuild_rederives_a_damaged_coin_history_from_the_archived_charts(backfill_env):
    from capcover.flows.rebuild import rebuild

    with CoinGecko.charts(n_coins=5) as srv:
        backfill_env(srv, 600)
        settings = load_settings()
        run_backfill(settings, 20, console=quiet_console())
        run_backfill(settings, 8, console=quiet_console())  # a second job: its days win
    query = "SELECT * FROM coin_history ORDER BY coin_id, day"
    with open_warehouse(settings.db) as wh:
        before = wh.query(query)
        assert {r[7] for r in before} == set(
            r[0] for r in wh.query("SELECT job_id FROM backfill_jobs")
        )
        wh.query("DELETE FROM coin_history WHERE coin_id = 'ai-coin-002'")
        wh.query(
            "UPDATE coin_history SET market_cap_usd = -1, job_id = 'x'"
            " WHERE coin_id = 'ai-coin-003'"
        )
        wh.query(
            "INSERT INTO coin_history SELECT 'ai-coin-999', day, point_at, 1, 1, 1,"
            " fetched_at, job_id FROM coin_history WHERE coin_id = 'ai-coin-001'"
        )
        assert wh.query(query) != before
    rebuild(settings)
    with open_warehouse(settings.db, read_only=True) as wh:
        assert wh.query(query) == before and len(before) == 5 * 20


def test_backfill_writer_keeps_coins_before_a_malformed_chart_and_stops_on_its_error(backfill_env):
    from capcover.flows.backfill import _CoinWriter
    from capcover.ingest.errors import BadPayload
    from capcover.warehouse import history as hist

    settings = load_settings()
    good = json.dumps(
        {
            "prices": [[1711843200000, 1.0]],
            "market_caps": [[1711843200000, 2.0]],
            "total_volumes": [[1711843200000, 3.0]],
        }
    )
    with open_warehouse(settings.db) as wh:
        hist.create_job(wh, "job-1", "ai", 5, ["a", "b", "c"], datetime.now(UTC), None)

    def raw(coin: str, body: str) -> RawResponse:
        return RawResponse(
            "coingecko",
            f"/coins/{coin}/market_chart",
            "GET",
            "http://x",
            {},
            None,
            200,
            body,
            datetime.now(UTC),
            1.0,
            1,
        )

    writer = _CoinWriter(settings, "job-1", "run-1")
    writer.start()
    for seq, (coin, body) in enumerate(
        [("a", good), ("b", "<html>busy</html>"), ("c", good)], start=1
    ):
        writer.put(coin, seq, datetime.now(UTC), [(seq, raw(coin, body))])
    writer.close()
    assert isinstance(writer.error, BadPayload)
    assert str(writer.error) == (
        "coingecko /coins/b/market_chart: expected JSON, got an HTML page — retry later"
    )
    with open_warehouse(settings.db, read_only=True) as wh:
        status = dict(wh.query("SELECT coin_id, status FROM backfill_progress"))
        rows = wh.query("SELECT coin_id, market_cap_usd FROM coin_history")
    assert status == {"a": "done", "b": "pending", "c": "pending"}
    assert rows == [("a", 2.0)]
