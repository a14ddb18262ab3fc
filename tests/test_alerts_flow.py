"""The Prefect flow path against a Prefect API (the test harness's) delivers alerts the same way
as the plain path, plus a Prefect event `capcover.coverage.<rule>` tracked as its own channel
(so it is emitted exactly once too) and counted as an event, not a delivery."""

import importlib

import pytest

from capcover.report.summary import summary_text
from capcover.warehouse.db import open_warehouse
from tests.conftest import category_payload
from tests.test_alerts_delivery import DAY1, DAY2, Receiver, alerts_rows


@pytest.fixture(scope="module")
def prefect_harness():
    # flows.daily first: its Prefect defaults (start-up timeout, logging) must be in the
    # environment before Prefect reads its settings, and its bound temporary server must be
    # the default one the harness restores afterwards (for the demo, later in a full run).
    importlib.import_module("capcover.flows.daily")
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.mark.slow
def test_alerts_flow_delivers_webhook_and_prefect_event_once(
    prefect_harness, env, fake_cg, monkeypatch
):
    from capcover.flows.daily import run_flow

    receiver = Receiver()
    receiver.up()
    monkeypatch.setenv("CAPCOVER_ALERT_URLS", receiver.url)
    monkeypatch.setenv("CAPCOVER_ALERT_SCENARIOS", "coindesk-2024")
    monkeypatch.setenv("CAPCOVER_ALERT_RULES", "threshold_crossed")
    try:
        results = []
        for cap, day in ((21e9, DAY1), (22.5e9, DAY2), (22.5e9, DAY2)):  # the last: a rerun
            fake_cg.clear()
            fake_cg.serve(categories=category_payload(cap=cap, updated_at=day))
            results.append(run_flow())
        result = results[-1]
        assert len(receiver.posts()) == 1
        # The webhook is a delivery; the Prefect event is an event, reported on its own line.
        crossing = results[1]
        assert (crossing.alerts_delivered, crossing.alert_events) == (1, 1)
        text = summary_text(crossing, env["CAPCOVER_DB"])
        assert "alerts delivered: 1 in 1 message(s) (one per channel); channels failed: 0" in text
        assert "Prefect events emitted: 1" in text
        assert [s.new for s in result.alerts] == [False]
    finally:
        receiver.server.stop()
    (row,) = alerts_rows(env["CAPCOVER_DB"])
    assert (row["delivery_state"], row["channels"], row["delivered"]) == ("delivered", 2, 2)
    with open_warehouse(env["CAPCOVER_DB"], read_only=True) as wh:
        channels = dict(wh.query("SELECT channel_id, attempts FROM alert_deliveries"))
        # runs.alerts_sent counts deliveries to receivers, as `capcover status` says: the
        # crossing run's one webhook, not its Prefect event.
        sent = wh.scalar("SELECT alerts_sent FROM runs WHERE run_id = ?", [crossing.run_id])
    assert channels.pop("prefect-event") == 1
    (webhook_attempts,) = channels.values()
    assert webhook_attempts == 1
    assert sent == 1
