"""Alerts end to end: days driven through the fake CoinGecko, the plain pipeline
(flows.sequence.run_daily), a real DuckDB file, and a REAL local HTTP receiver for Apprise's
json:// URLs (pytest-httpserver)."""

from __future__ import annotations

import csv
import io
import json
import logging
import socket

import pytest
from pydantic import SecretStr
from pytest_httpserver import HTTPServer

from capcover.cli.main import main
from capcover.config.errors import ConfigError
from capcover.config.settings import load_settings
from capcover.flows.sequence import run_daily
from capcover.report.summary import summary_text
from capcover.warehouse.db import open_warehouse
from capcover.warehouse.queries import list_alerts
from tests.conftest import category_payload, table_snapshot

SECRET = "T0pS3cretHookPath-9f8e7d6c5b4a"
DAY1, DAY2, DAY3 = "2024-04-02T06:00:00Z", "2024-04-03T06:00:00Z", "2024-04-04T06:00:00Z"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Receiver:
    """A webhook receiver on a fixed port that can be down (not started) or up."""

    def __init__(self) -> None:
        self.port = _free_port()
        self.server = HTTPServer(host="127.0.0.1", port=self.port)
        self.url = f"json://127.0.0.1:{self.port}/hooks/{SECRET}"

    def up(self, status: int = 200) -> None:
        self.server.clear()
        self.server.expect_request(f"/hooks/{SECRET}", method="POST").respond_with_data(
            "ok", status=status
        )
        if not self.server.is_running():
            self.server.start()

    def posts(self) -> list[dict]:
        return [json.loads(req.get_data()) for req, _ in self.server.log]


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    if r.server.is_running():
        r.server.stop()


@pytest.fixture
def alert_env(env, monkeypatch, receiver):
    """One alerting scenario (fixed price, so quote data cannot change the ratio) and the
    two ratio rules; stale data has its own tests."""
    monkeypatch.setenv("CAPCOVER_ALERT_URLS", receiver.url)
    monkeypatch.setenv("CAPCOVER_ALERT_SCENARIOS", "coindesk-2024")
    monkeypatch.setenv("CAPCOVER_ALERT_RULES", "threshold_crossed,relative_change")
    return env


def run_day(fake_cg, cap: float, updated_at: str):
    fake_cg.clear()
    fake_cg.serve(categories=category_payload(cap=cap, updated_at=updated_at))
    return run_daily(load_settings())


def alerts_rows(db) -> list[dict]:
    with open_warehouse(db, read_only=True) as wh:
        cols, rows = list_alerts(wh)
    return [dict(zip(cols, r, strict=True)) for r in rows]


def test_alerts_crossing_posts_exactly_once_and_rerun_posts_none(alert_env, fake_cg, receiver):
    receiver.up()
    first = run_day(fake_cg, 21e9, DAY1)  # ratio 0.972, no previous day
    assert first.alerts == [] and receiver.posts() == []
    second = run_day(fake_cg, 22.5e9, DAY2)  # ratio 1.042: crosses 1.0
    (post,) = receiver.posts()
    assert post["title"] == "capcover: threshold crossed of coindesk-2024, 2024-04-03"
    lines = post["message"].splitlines()
    assert lines[:2] == [
        "coindesk-2024 (report 2024-04-03)",
        "- AI-token market cap now covers 720,000 H100 at $30,000 (coindesk-2024): ratio 1.042, "
        "was 0.972 on 2024-04-02 (report 2024-04-03)",
    ]
    assert "  buildout cost: 720,000 H100 x $30,000 = $21.60B" in lines
    assert second.alerts_delivered == 1 and second.alert_failures == []
    text = summary_text(second, alert_env["CAPCOVER_DB"])
    assert "alerts delivered: 1 in 1 message(s)" in text and "no channel configured" not in text

    rerun = run_day(fake_cg, 22.5e9, DAY2)
    assert len(receiver.posts()) == 1  # the rerun sent nothing
    assert [s.new for s in rerun.alerts] == [False]
    (row,) = alerts_rows(alert_env["CAPCOVER_DB"])
    assert (row["rule"], row["delivery_state"], row["delivered"], row["attempts"]) == (
        "threshold_crossed",
        "delivered",
        1,
        1,
    )
    assert row["previous_ratio"] == pytest.approx(21 / 21.6)
    assert row["current_ratio"] == pytest.approx(22.5 / 21.6)


def test_alerts_receiver_down_stores_undelivered_and_next_run_delivers_once(
    alert_env, fake_cg, receiver, capsys
):
    run_day(fake_cg, 21e9, DAY1)
    down = run_day(fake_cg, 22.5e9, DAY2)  # nothing listens on the port
    assert down.reports, "the data load must not depend on delivery"
    (failure,) = down.alert_failures
    assert "sent again with the next run" in failure and SECRET not in failure
    assert "alert delivery FAILED" in summary_text(down, alert_env["CAPCOVER_DB"])
    (row,) = alerts_rows(alert_env["CAPCOVER_DB"])
    assert (row["delivery_state"], row["attempts"]) == ("failed", 1)
    assert row["last_error"].startswith("no connection: ")
    with open_warehouse(alert_env["CAPCOVER_DB"], read_only=True) as wh:
        assert wh.scalar("SELECT count(*) FROM report_daily WHERE report_date = '2024-04-03'")

    capsys.readouterr()
    assert main(["alerts", "--undelivered"]) == 0
    out = capsys.readouterr().out
    assert "threshold_crossed" in out and "failed" in out
    assert main(["alerts", "--since", "2024-04-04"]) == 1  # an empty result
    out, err = capsys.readouterr()
    assert out == "" and err.startswith("capcover: no alerts since 2024-04-04 in ")
    assert main(["alerts", "--since", "2024-04-03", "--format", "csv"]) == 0
    out = capsys.readouterr().out
    assert "2024-04-03,coindesk-2024,threshold_crossed,1.0" in out
    reader = csv.DictReader(io.StringIO(out))
    assert reader.fieldnames[:8] == [
        "report_date",
        "scenario",
        "rule",
        "level",
        "previous_ratio",
        "current_ratio",
        "delivery_state",
        "channels",
    ]
    (alert,) = list(reader)
    assert (alert["report_date"], alert["scenario"], alert["rule"], alert["level"]) == (
        "2024-04-03",
        "coindesk-2024",
        "threshold_crossed",
        "1.0",
    )
    assert alert["delivery_state"] == "failed" and alert["attempts"] == "1"
    assert float(alert["current_ratio"]) == pytest.approx(22.5 / 21.6)

    receiver.up()
    nxt = run_day(fake_cg, 22.6e9, DAY3)  # the next day fires nothing new
    assert nxt.alerts == [] and nxt.alerts_delivered == 1
    (post,) = receiver.posts()
    assert "coindesk-2024 (report 2024-04-03)" in post["message"]
    (row,) = alerts_rows(alert_env["CAPCOVER_DB"])
    assert (row["delivery_state"], row["attempts"], row["last_error"]) == ("delivered", 2, None)

    run_day(fake_cg, 22.6e9, DAY3)
    assert len(receiver.posts()) == 1
    capsys.readouterr()
    assert main(["alerts", "--undelivered"]) == 1
    assert "capcover: no undelivered alerts in " in capsys.readouterr().err


def test_alerts_receiver_error_status_is_recorded_and_retried(alert_env, fake_cg, receiver):
    receiver.up(status=500)
    run_day(fake_cg, 23e9, DAY1)
    result = run_day(fake_cg, 20e9, DAY2)  # 1.065 -> 0.926: down through 1.0
    rules = {s.alert.rule for s in result.alerts}
    assert rules == {"threshold_crossed", "relative_change"}  # -13 %
    # ONE message for the run's two alerts; its failure is one line for the channel.
    assert len(receiver.posts()) == 1 and len(result.alert_failures) == 1
    assert "HTTP 500 from the receiver (2 alerts; sent again" in result.alert_failures[0]
    receiver.up()  # (clears the receiver's log)
    run_day(fake_cg, 20e9, DAY2)  # rerun of the same day: retries, fires nothing
    (post,) = receiver.posts()  # both alerts again, in one message
    assert post["title"] == "capcover: 2 alerts for 2024-04-03"
    assert {r["delivery_state"] for r in alerts_rows(alert_env["CAPCOVER_DB"])} == {"delivered"}


def test_alerts_stale_data_fires_per_alerting_scenario_without_a_channel(env, fake_cg):
    # The fake CoinGecko's as-of (2024) is far older than this run's fetch time.
    result = run_day(fake_cg, 25e9, DAY2)
    stale = sorted((s.alert.scenario, s.alert.level) for s in result.alerts)
    assert stale == [("coindesk-2024", "coingecko"), ("h100-purchase", "coingecko")]
    assert "rests on stale market data (report 2024-04-03)" in result.alerts[0].alert.message
    rows = alerts_rows(env["CAPCOVER_DB"])
    assert {r["delivery_state"] for r in rows} == {"no_channel"}  # stored, nowhere to send
    # The summary says so plainly and counts nothing as delivered.
    text = summary_text(result, env["CAPCOVER_DB"])
    assert "alerts: no channel configured (CAPCOVER_ALERT_URLS is empty)" in text
    assert "alerts delivered" not in text and "Prefect events" not in text
    assert (result.alerts_delivered, result.alert_events) == (0, 0)
    run_day(fake_cg, 25e9, DAY2)
    assert len(alerts_rows(env["CAPCOVER_DB"])) == 2  # a rerun never duplicates


def test_alerts_stale_data_quote_feed_failing_for_n_days(env, fake_cg, monkeypatch, tmp_path):
    monkeypatch.setenv("CAPCOVER_ALERT_RULES", "stale_data")
    monkeypatch.setenv("CAPCOVER_ALERT_STALE_AFTER_H", "1e9")  # only the feed part here
    monkeypatch.setenv("CAPCOVER_ALERT_FEED_FAILURE_DAYS", "2")
    run_day(fake_cg, 25e9, DAY1)  # quotes load fine
    broken = tmp_path / "broken.toml"  # the user's quotes file, unreadable: curated fails
    broken.write_text("version = [", encoding="utf-8")
    monkeypatch.setenv("CAPCOVER_QUOTES_FILE", str(broken))
    first = run_day(fake_cg, 25e9, DAY2)
    assert "curated" in first.sources_failed and first.alerts == []
    second = run_day(fake_cg, 25e9, DAY3)
    (stored,) = second.alerts
    assert (stored.alert.scenario, stored.alert.level) == ("h100-purchase", "quotes:curated")
    assert "failed on 2 consecutive run days (since 2024-04-03)" in stored.alert.message


def test_alerts_dry_run_prints_would_be_alerts_and_stores_nothing(
    alert_env, fake_cg, receiver, capsys
):
    receiver.up()
    run_day(fake_cg, 21e9, DAY1)
    before = table_snapshot(alert_env["CAPCOVER_DB"])
    fake_cg.clear()
    fake_cg.serve(categories=category_payload(cap=22.5e9, updated_at=DAY2))
    capsys.readouterr()
    assert main(["run", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "DRY RUN" in out and "as of 2024-04-03" in out
    assert "alert [threshold_crossed, would fire]: AI-token market cap now covers" in out
    assert receiver.posts() == []
    assert table_snapshot(alert_env["CAPCOVER_DB"]) == before
    assert alerts_rows(alert_env["CAPCOVER_DB"]) == []
    with open_warehouse(alert_env["CAPCOVER_DB"], read_only=True) as wh:
        assert wh.scalar("SELECT count(*) FROM runs") == 1


def test_alerts_secret_webhook_url_never_in_output_logs_or_warehouse(
    alert_env, fake_cg, receiver, capsys, caplog
):
    caplog.set_level(logging.DEBUG)
    logging.getLogger("apprise").setLevel(logging.DEBUG)  # try to make Apprise talk
    run_day(fake_cg, 21e9, DAY1)
    run_day(fake_cg, 22.5e9, DAY2)  # receiver down: the error path
    receiver.up(status=404)
    run_day(fake_cg, 22.5e9, DAY2)  # an HTTP error path
    receiver.up()
    result = run_day(fake_cg, 22.5e9, DAY2)  # delivered
    assert result.alerts_delivered == 1
    assert receiver.server.log[-1][0].path == f"/hooks/{SECRET}"  # the URL did work
    print(summary_text(result, alert_env["CAPCOVER_DB"]))
    for argv in (["alerts"], ["alerts", "--format", "json"], ["config"]):
        assert main(argv) == 0
    out = capsys.readouterr()
    assert SECRET not in out.out + out.err
    ours = [r for r in caplog.records if r.name != "werkzeug"]  # werkzeug: the receiver's own
    assert ours and not [r for r in ours if SECRET in r.getMessage()]
    with open_warehouse(alert_env["CAPCOVER_DB"], read_only=True) as wh:
        channel = wh.scalar("SELECT DISTINCT channel_id FROM alert_deliveries")
    assert channel.startswith("json:") and SECRET not in channel
    db = alert_env["CAPCOVER_DB"]
    for path in (db, db + ".wal"):
        try:
            with open(path, "rb") as fh:
                assert SECRET.encode() not in fh.read()
        except FileNotFoundError:
            pass


def test_alerts_invalid_channel_url_is_refused_before_the_run(alert_env, monkeypatch):
    monkeypatch.setenv("CAPCOVER_ALERT_URLS", f"nosuchscheme://{SECRET}")
    with pytest.raises(ConfigError, match=r"URL #1 of 1 \(scheme nosuchscheme://\)") as exc:
        load_settings()
    assert SECRET not in str(exc.value)


def test_alerts_invalid_channel_url_fails_delivery_not_the_run(alert_env, fake_cg):
    # Settings built past load_settings (a library caller) skip its URL check: delivery still
    # refuses the URL and the run stands.
    run_day(fake_cg, 21e9, DAY1)
    fake_cg.clear()
    fake_cg.serve(categories=category_payload(cap=22.5e9, updated_at=DAY2))
    settings = load_settings().model_copy(
        update={"alert_urls": [SecretStr(f"nosuchscheme://{SECRET}")]}
    )
    result = run_daily(settings)
    assert result.reports
    (failure,) = result.alert_failures
    assert "not a valid Apprise URL" in failure and SECRET not in failure
    (row,) = alerts_rows(alert_env["CAPCOVER_DB"])
    assert row["delivery_state"] == "failed"


def test_alerts_rerun_with_corrected_data_withdraws_an_unsent_alert(alert_env, fake_cg, receiver):
    run_day(fake_cg, 21e9, DAY1)
    run_day(fake_cg, 22.5e9, DAY2)  # receiver down: crossing stored, unsent
    receiver.up()
    corrected = run_day(fake_cg, 21.2e9, DAY2)  # same day, no crossing after all
    assert corrected.alerts == [] and receiver.posts() == []
    (row,) = alerts_rows(alert_env["CAPCOVER_DB"])
    assert row["delivery_state"] == "withdrawn"
