"""The alert rules are pure functions of two reports: no warehouse, no network."""

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

from capcover.model.alerts import (
    AlertRules,
    FeedFailure,
    evaluate,
    relative_change,
    stale_data,
    threshold_crossed,
)
from capcover.model.report import ReportRow
from tests.helpers import report_row

AS_OF = datetime(2024, 4, 3, 6, 40, tzinfo=UTC)


def row(
    day: date,
    cap: float,
    *,
    scenario="coindesk-2024",
    price=30_000.0,
    quotes=0,
    as_of=None,
    fetched=None,
) -> ReportRow:
    as_of = as_of or datetime(day.year, day.month, day.day, 6, 40, tzinfo=UTC)
    return report_row(
        day,
        scenario,
        cap,
        price=price,
        quotes=quotes,
        median=price if quotes else None,
        constituents_count=260,
        price_basis="purchase median" if quotes else "fixed $30,000",
        price_sources="FT, CoinDesk" if quotes else None,
        price_as_of=date(2024, 4, 3) if quotes else None,
        market_as_of=as_of,
        fetched_at=fetched or as_of + timedelta(minutes=5),
        run_id="r1",
    )


D1, D2 = date(2024, 4, 2), date(2024, 4, 3)


def test_threshold_crossed_upwards_says_what_changed():
    (alert,) = threshold_crossed(row(D1, 21e9), row(D2, 22.5e9))
    assert (alert.rule, alert.level) == ("threshold_crossed", "1.0")
    assert alert.scenario == "coindesk-2024"
    assert alert.previous_ratio == 21e9 / 21.6e9 and alert.current_ratio == 22.5e9 / 21.6e9
    assert alert.message == (
        "AI-token market cap now covers 720,000 H100 at $30,000 "
        "(coindesk-2024): ratio 1.042, was 0.972 on 2024-04-02 "
        "(report 2024-04-03)"
    )
    inputs = dict(alert.inputs)
    assert inputs["buildout cost"] == "720,000 H100 x $30,000 = $21.60B"
    assert inputs["sector market cap"].startswith("$22.50B")
    assert "previous report" in inputs


def test_threshold_crossed_downwards_and_each_configured_level():
    (down,) = threshold_crossed(row(D1, 22.5e9), row(D2, 21e9))
    assert "no longer covers" in down.message
    alerts = threshold_crossed(row(D1, 10e9), row(D2, 40e9), levels=(1.0, 1.5, 3.0))
    assert [a.level for a in alerts] == ["1.0", "1.5"]  # 0.46 -> 1.85 crosses two levels


def test_threshold_crossed_needs_a_crossing_and_a_previous_report():
    assert threshold_crossed(None, row(D2, 30e9)) == []
    assert threshold_crossed(row(D1, 23e9), row(D2, 30e9)) == []  # above both days
    # exactly 1.0 counts as covering: 0.99 -> 1.0 crosses, 1.0 -> 1.01 does not
    assert len(threshold_crossed(row(D1, 21.4e9), row(D2, 21.6e9))) == 1
    assert threshold_crossed(row(D1, 21.6e9), row(D2, 21.7e9)) == []


def test_relative_change_fires_beyond_the_percentage_only():
    assert relative_change(row(D1, 20e9), row(D2, 21.9e9), pct=10) == []  # +9.5 %
    (alert,) = relative_change(row(D1, 20e9), row(D2, 23e9), pct=10)  # +15 %
    assert alert.level == "10%"
    assert "rose 15.0%" in alert.message and "sector cap +15.0%" in alert.message
    (fell,) = relative_change(row(D1, 20e9), row(D2, 15e9), pct=20)
    assert "fell 25.0%" in fell.message
    assert relative_change(None, row(D2, 20e9)) == []


def test_stale_data_compares_the_as_of_with_the_fetch_time():
    fresh = row(D2, 25e9, fetched=AS_OF + timedelta(hours=35))
    assert stale_data(None, fresh, stale_after_h=36) == []
    old = row(D2, 25e9, fetched=AS_OF + timedelta(hours=40))
    (alert,) = stale_data(None, old, stale_after_h=36)
    assert (alert.rule, alert.level) == ("stale_data", "coingecko")
    assert "40 h old" in alert.message and "limit 36 h" in alert.message


def test_stale_data_quote_feed_failing_for_n_days_hits_quote_priced_scenarios_only():
    failing = (FeedFailure("vastai", 3, date(2024, 4, 1), "HTTP 503"),)
    priced = row(D2, 25e9, scenario="h100-purchase", quotes=3)
    (alert,) = stale_data(None, priced, feed_failures=failing, feed_failure_days=3)
    assert alert.level == "quotes:vastai"
    assert "failed on 3 consecutive run days (since 2024-04-01)" in alert.message
    assert dict(alert.inputs)["last feed error"] == "HTTP 503"
    assert stale_data(None, priced, feed_failures=failing, feed_failure_days=4) == []
    assert stale_data(None, row(D2, 25e9), feed_failures=failing, feed_failure_days=1) == []


def test_evaluate_only_alerting_scenarios_and_enabled_rules():
    prev = {
        "coindesk-2024": row(D1, 21e9),
        "sora-base-89k": row(D1, 21e9, scenario="sora-base-89k"),
    }
    cur = [row(D2, 25e9), row(D2, 25e9, scenario="sora-base-89k")]
    fired = evaluate(prev, cur, AlertRules(scenarios=("coindesk-2024",)))
    assert {(a.scenario, a.rule) for a in fired} == {
        ("coindesk-2024", "threshold_crossed"),
        ("coindesk-2024", "relative_change"),
    }
    only = evaluate(
        prev, cur, AlertRules(scenarios=("coindesk-2024",), enabled=("relative_change",))
    )
    assert [a.rule for a in only] == ["relative_change"]


def test_alert_identity_is_its_key():
    a = threshold_crossed(row(D1, 21e9), row(D2, 22.5e9))[0]
    b = threshold_crossed(row(D1, 20e9), replace(row(D2, 23e9), run_id="r2"))[0]
    assert a.key == b.key and a.alert_id == b.alert_id and len(a.alert_id) == 16
