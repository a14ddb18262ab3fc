"""Alerts a person reads and delivery one can reason about, against real receivers on
127.0.0.1: a real SMTP server (aiosmtpd) for Apprise's mailto://, and webhook receivers
(fakeapi) that answer late, redirect, drip, lie or are not there. Days are driven through the
fake CoinGecko and the plain pipeline (flows.sequence.run_daily) into a real DuckDB file.

The rules under test (docs/cli.md, "Alert delivery"): one message per run per channel; an
outcome is delivered, failed (sent again next run) or unknown (sent once more, then held); no
redirect is followed; alerts that reached no receiver go to the channels configured now.
"""

from __future__ import annotations

import email
import json
import socket
from email.message import Message as Email

import pytest
from aiosmtpd.controller import Controller

from capcover.cli.main import main
from capcover.config.settings import load_settings
from capcover.fakeapi import Drip, FakeAPI, Garbage, Reply, Reset, Slow, Truncated
from capcover.flows.sequence import run_daily
from capcover.notify.redact import REDACTOR
from capcover.warehouse.db import open_warehouse
from capcover.warehouse.queries import list_alerts
from tests.conftest import category_payload

DAY1, DAY2, DAY3, DAY4 = (f"2024-04-0{d}T06:00:00Z" for d in (2, 3, 4, 5))
HOOK = "/hooks/T0pS3cret-digest"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def json_url(api: FakeAPI, path: str = HOOK) -> str:
    return api.url.replace("http://", "json://") + path


@pytest.fixture(autouse=True)
def _own_redactor():
    """Each test redacts only its own channel URLs (the redactor is process-wide: a mailto URL
    of another test would redact its words, such as `from`, in this test's texts)."""
    before = list(REDACTOR.secrets)
    REDACTOR.secrets = []
    yield
    REDACTOR.secrets = before


@pytest.fixture
def hooks():
    with FakeAPI(unmatched=Reply({"ok": True})) as api:
        yield api


@pytest.fixture
def alerting(env, monkeypatch):
    """One alerting scenario with a fixed price (the quote data cannot move its ratio), the
    two movement rules, and a receiver timeout of one second."""
    monkeypatch.setenv("CAPCOVER_ALERT_SCENARIOS", "coindesk-2024")
    monkeypatch.setenv("CAPCOVER_ALERT_RULES", "threshold_crossed,relative_change")
    monkeypatch.setenv("CAPCOVER_ALERT_TIMEOUT_S", "1")
    return monkeypatch


def run_day(fake_cg, cap: float, updated_at: str):
    fake_cg.clear()
    fake_cg.serve(categories=category_payload(cap=cap, updated_at=updated_at))
    return run_daily(load_settings())


def posts(api: FakeAPI, path: str = HOOK) -> list[dict]:
    return [r.json() for r in api.log if r.path == path]


def deliveries(db) -> list[dict]:
    with open_warehouse(db, read_only=True) as wh:
        cols, rows = wh.query_table(
            "SELECT alert_id, channel_id, state, attempts, unknown_attempts, last_error"
            " FROM alert_deliveries ORDER BY alert_id, channel_id"
        )
    return [dict(zip(cols, r, strict=True)) for r in rows]


def alert_rows(db) -> list[dict]:
    with open_warehouse(db, read_only=True) as wh:
        cols, rows = list_alerts(wh)
    return [dict(zip(cols, r, strict=True)) for r in rows]


def crossing(fake_cg, hooks=None):
    """Day 1 (0.972) and day 2 (1.042): coindesk-2024 crosses 1.0, one alert."""
    run_day(fake_cg, 21e9, DAY1)
    return run_day(fake_cg, 22.5e9, DAY2)


# -- one message per run per channel ---------------------------------------------------------


def test_digest_one_message_per_run_with_the_why_once_per_scenario(env, alerting, fake_cg, hooks):
    alerting.setenv("CAPCOVER_ALERT_SCENARIOS", "coindesk-2024,h100-purchase")
    alerting.setenv("CAPCOVER_ALERT_URLS", json_url(hooks))
    # Day 1 below 1.0 in both scenarios (the shipped quotes price h100-purchase at $28,750
    # then, $30,000 from 2024-04-03 on), day 2 above it and moved by more than 10 %: coindesk
    # 0.926 -> 1.111 (+20 %), h100-purchase 0.966 -> 1.111 (+15 %).
    run_day(fake_cg, 20e9, DAY1)
    result = run_day(fake_cg, 24e9, DAY2)  # crossed and moved, in both scenarios
    assert len(result.alerts) == 4
    (post,) = posts(hooks)  # ONE message for the run's four alerts
    assert post["title"] == "capcover: 4 alerts for 2024-04-03"
    text = post["message"]
    lines = text.splitlines()
    assert lines[0] == "coindesk-2024 (report 2024-04-03)"
    assert "h100-purchase (report 2024-04-03)" in lines
    assert sum(line.startswith("- ") for line in lines) == 4  # each alert once
    assert sum(line.startswith("Why it moved: ") for line in lines) == 2  # once per scenario
    assert text.count("Why: ") == 0  # the alerts' own copies of it are left out
    assert result.alerts_delivered == 4 and result.delivery.messages == 1
    run_day(fake_cg, 24e9, DAY2)  # a rerun of the day: nothing new, nothing sent
    assert len(posts(hooks)) == 1


def test_digest_reaches_a_real_smtp_server_once_per_run_with_its_line_breaks(
    env, alerting, fake_cg
):
    got: list[bytes] = []

    class Inbox:
        async def handle_DATA(self, server, session, envelope):
            got.append(envelope.content)
            return "250 OK"

    port = _free_port()
    smtp = Controller(Inbox(), hostname="127.0.0.1", port=port)
    smtp.start()
    try:
        alerting.setenv("CAPCOVER_ALERT_SCENARIOS", "coindesk-2024,h100-purchase")
        alerting.setenv("CAPCOVER_ALERT_TIMEOUT_S", "10")
        alerting.setenv(
            "CAPCOVER_ALERT_URLS",
            f"mailto://127.0.0.1:{port}?from=capcover@example.com&to=ops@example.com&mode=insecure",
        )
        run_day(fake_cg, 20e9, DAY1)  # both scenarios below 1.0, as in the test above
        result = run_day(fake_cg, 24e9, DAY2)
        assert result.alerts_delivered == 4
        run_day(fake_cg, 24.1e9, DAY3)  # nothing new fires: no second mail
    finally:
        smtp.stop()
    (raw,) = got  # one mail for the run's four alerts
    mail = email.message_from_bytes(raw)
    assert mail["Subject"] == "capcover: 4 alerts for 2024-04-03"
    body = _text_part(mail)
    lines = [line.rstrip() for line in body.splitlines()]
    assert lines[0] == "coindesk-2024 (report 2024-04-03)"
    assert lines[1].startswith("- AI-token market cap now covers 720,000 H100 at $30,000")
    assert sum(line.startswith("Why it moved: ") for line in lines) == 2
    assert len(lines) > 10  # the line breaks arrived


def _text_part(mail: Email) -> str:
    for part in mail.walk():
        if part.get_content_type() == "text/plain":
            return part.get_payload(decode=True).decode()
    raise AssertionError(f"no text/plain part in {[p.get_content_type() for p in mail.walk()]}")


# -- outcomes: delivered, failed, unknown ---------------------------------------------------


def test_delivery_answer_after_a_delay_within_the_timeout_is_delivered_once(
    env, alerting, fake_cg, hooks
):
    alerting.setenv("CAPCOVER_ALERT_TIMEOUT_S", "5")
    alerting.setenv("CAPCOVER_ALERT_URLS", json_url(hooks))
    hooks.script(HOOK, Slow(1.5))  # today: "a webhook answering after 6 s", scaled down
    result = crossing(fake_cg)
    assert result.alerts_delivered == 1 and not result.alert_unknown
    run_day(fake_cg, 22.6e9, DAY3)
    assert len(posts(hooks)) == 1  # never sent again


def test_delivery_no_answer_in_time_is_unknown_sent_once_more_then_held(
    env, alerting, fake_cg, hooks, capsys
):
    alerting.setenv("CAPCOVER_ALERT_URLS", json_url(hooks))
    hooks.script(HOOK, Slow(3), Slow(3))  # answers, but after the 1 s timeout, twice
    first = crossing(fake_cg)
    (line,) = first.alert_unknown
    assert "within 1 s after the message was sent" in line
    assert "sent once more with the next run" in line
    (d,) = deliveries(env["CAPCOVER_DB"])
    assert (d["state"], d["unknown_attempts"]) == ("unknown", 1)
    second = run_day(fake_cg, 22.6e9, DAY3)
    assert "now held for a person" in second.alert_unknown[0]
    (d,) = deliveries(env["CAPCOVER_DB"])
    assert (d["state"], d["attempts"], d["unknown_attempts"]) == ("held", 2, 2)
    for day in (DAY3, DAY4):  # never re-sent on its own, run after run
        run_day(fake_cg, 22.7e9, day)
    assert len(posts(hooks)) == 2
    capsys.readouterr()
    assert main(["alerts", "--undelivered"]) == 0
    out = capsys.readouterr().out
    assert " held " in out and "capcover alerts release ID" in " ".join(out.split())
    (row,) = alert_rows(env["CAPCOVER_DB"])
    assert row["delivery_state"] == "held"
    assert main(["alerts", "release", row["alert_id"]]) == 0
    assert "1 delivery released: sent with the next run" in capsys.readouterr().out
    run_day(fake_cg, 22.7e9, DAY4)  # the receiver answers in time now
    assert len(posts(hooks)) == 3
    assert alert_rows(env["CAPCOVER_DB"])[0]["delivery_state"] == "delivered"


def test_delivery_held_alert_confirmed_by_a_person_is_never_sent_again(
    env, alerting, fake_cg, hooks, capsys
):
    alerting.setenv("CAPCOVER_ALERT_URLS", json_url(hooks))
    hooks.script(HOOK, Slow(3), Slow(3))
    crossing(fake_cg)
    run_day(fake_cg, 22.6e9, DAY3)
    (row,) = alert_rows(env["CAPCOVER_DB"])
    assert main(["alerts", "confirm", row["alert_id"]]) == 0
    assert alert_rows(env["CAPCOVER_DB"])[0]["delivery_state"] == "delivered"
    run_day(fake_cg, 22.7e9, DAY4)
    assert len(posts(hooks)) == 2
    assert main(["alerts", "confirm", row["alert_id"]]) == 1  # nothing held any more
    assert "no held or unknown delivery matches" in capsys.readouterr().err


def test_delivery_redirect_is_a_failure_naming_where_it_pointed_and_is_not_followed(
    env, alerting, fake_cg, hooks
):
    with FakeAPI() as elsewhere:
        target = elsewhere.url.replace("127.0.0.1", "localhost") + "/moved-here"
        hooks.add(HOOK, Reply({"moved": True}, status=302, headers={"Location": target}))
        alerting.setenv("CAPCOVER_ALERT_URLS", json_url(hooks))
        result = crossing(fake_cg)
        assert elsewhere.log == []  # no GET (nor POST) followed the 302
    (failure,) = result.alert_failures
    assert f"HTTP 302 redirect to {target} — not followed" in failure
    assert result.alerts_delivered == 0
    (d,) = deliveries(env["CAPCOVER_DB"])
    assert d["state"] == "failed" and target in d["last_error"]
    assert alert_rows(env["CAPCOVER_DB"])[0]["delivery_state"] == "failed"  # not delivered


def test_delivery_dripping_receiver_is_unknown_at_the_deadline(env, alerting, fake_cg, hooks):
    alerting.setenv("CAPCOVER_ALERT_URLS", json_url(hooks))
    # the status line and headers a byte every 0.2 s: every read succeeds
    hooks.script(HOOK, Drip(0.2, headers=True))
    result = crossing(fake_cg)
    (line,) = result.alert_unknown
    assert "no complete answer within 1 s after the message was sent" in line
    assert deliveries(env["CAPCOVER_DB"])[0]["state"] == "unknown"


@pytest.mark.parametrize(
    ("fault", "state", "says"),
    [
        (Truncated(), "delivered", "HTTP 200"),  # says 200, then hangs up mid-body: its word
        (Garbage(), "unknown", "the connection ended without a valid answer"),  # not HTTP
        (Reset(), "unknown", "the connection ended without a valid answer"),  # read, then RST
        (Reply({"error": "no"}, status=503), "failed", "HTTP 503 from the receiver"),
    ],
    ids=["truncated-200", "garbage", "reset-after-read", "503"],
)
def test_delivery_lying_receivers_get_the_outcome_their_answer_deserves(
    env, alerting, fake_cg, hooks, fault, state, says
):
    alerting.setenv("CAPCOVER_ALERT_URLS", json_url(hooks))
    hooks.script(HOOK, fault)
    result = crossing(fake_cg)
    (d,) = deliveries(env["CAPCOVER_DB"])
    assert d["state"] == state
    if state == "delivered":
        assert result.alerts_delivered == 1
    else:
        assert says in d["last_error"]


def test_delivery_failure_is_printed_once(env, alerting, fake_cg, capsys):
    alerting.setenv("CAPCOVER_ALERT_URLS", f"json://127.0.0.1:{_free_port()}{HOOK}")
    run_day(fake_cg, 21e9, DAY1)
    fake_cg.clear()
    fake_cg.serve(categories=category_payload(cap=22.5e9, updated_at=DAY2))
    capsys.readouterr()
    assert main(["run"]) == 0  # a delivery failure never fails the run
    out, err = capsys.readouterr()
    assert (out + err).count("no connection") == 1, out + err
    assert "alert delivery FAILED" in out and "alert delivery failed" not in err


def test_delivery_refused_connection_is_failed_and_sent_again_next_run(env, alerting, fake_cg):
    port = _free_port()  # nothing listens
    alerting.setenv("CAPCOVER_ALERT_URLS", f"json://127.0.0.1:{port}{HOOK}")
    result = crossing(fake_cg)
    (failure,) = result.alert_failures
    assert "no connection" in failure and "sent again with the next run" in failure
    (d,) = deliveries(env["CAPCOVER_DB"])
    assert (d["state"], d["unknown_attempts"]) == ("failed", 0)
    run_day(fake_cg, 22.6e9, DAY3)
    assert deliveries(env["CAPCOVER_DB"])[0]["attempts"] == 2  # failed is retried each run


# -- the channels configured now ------------------------------------------------------------


def test_delivery_alerts_that_reached_no_receiver_go_to_the_corrected_url(
    env, alerting, fake_cg, hooks
):
    wrong = f"json://127.0.0.1:{_free_port()}{HOOK}"  # a typo in the port: nothing there
    alerting.setenv("CAPCOVER_ALERT_URLS", wrong)
    crossing(fake_cg)
    assert alert_rows(env["CAPCOVER_DB"])[0]["delivery_state"] == "failed"
    alerting.setenv("CAPCOVER_ALERT_URLS", json_url(hooks))  # corrected
    result = run_day(fake_cg, 22.6e9, DAY3)  # fires nothing new
    (post,) = posts(hooks)
    assert "coindesk-2024 (report 2024-04-03)" in post["message"]
    assert result.alerts_delivered == 1
    states = sorted(d["state"] for d in deliveries(env["CAPCOVER_DB"]))
    assert states == ["delivered", "superseded"]  # the old URL's row is kept, superseded
    assert alert_rows(env["CAPCOVER_DB"])[0]["delivery_state"] == "delivered"


def test_delivery_an_alert_that_reached_a_receiver_is_not_sent_to_a_new_channel(
    env, alerting, fake_cg, hooks
):
    alerting.setenv("CAPCOVER_ALERT_URLS", json_url(hooks, "/first"))
    crossing(fake_cg)
    assert len(posts(hooks, "/first")) == 1
    alerting.setenv("CAPCOVER_ALERT_URLS", json_url(hooks, "/second"))
    run_day(fake_cg, 22.6e9, DAY3)
    assert posts(hooks, "/second") == []


# -- capcover alerts test --------------------------------------------------------------------


def test_alerts_test_reaches_every_channel_and_reports_each(env, hooks, monkeypatch, capsys):
    down = f"json://127.0.0.1:{_free_port()}/down"
    monkeypatch.setenv("CAPCOVER_ALERT_URLS", f"{json_url(hooks)},{down}")
    assert main(["alerts", "test"]) == 1  # one channel did not get it
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 2
    assert out[0].startswith("json:") and ": delivered — HTTP 200 (" in out[0]
    assert ": failed — no connection: " in out[1]
    (post,) = posts(hooks)
    assert post["title"] == "capcover TEST alert (not a market signal)"
    assert post["message"].splitlines()[0].startswith("This is a test message from capcover")
    assert "T0pS3cret" not in " ".join(out)
    monkeypatch.setenv("CAPCOVER_ALERT_URLS", json_url(hooks))
    assert main(["alerts", "test"]) == 0
    assert not (env["CAPCOVER_DB"] and __import__("os").path.exists(env["CAPCOVER_DB"]))


def test_alerts_test_without_a_channel_says_how_to_add_one(env, capsys):
    assert main(["alerts", "test"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("capcover: error: no alert channel configured: set CAPCOVER_ALERT_URLS")


def test_alerts_test_payload_is_apprise_json(env, hooks, monkeypatch):
    monkeypatch.setenv("CAPCOVER_ALERT_URLS", json_url(hooks) + "?:type=&:source=capcover")
    assert main(["alerts", "test"]) == 0
    (req,) = hooks.log
    body = json.loads(req.body)
    assert set(body) == {"version", "title", "message", "attachments", "source"}
    assert req.headers["Content-Type"] == "application/json"
