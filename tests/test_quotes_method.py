"""The pooled statistic of method mad3.5-median-v1 (`estimate`, kept for its rows and for
`quotes list --stats`) on hand-computed cases, the staleness window, the method id, and the
ratio band every report row gets (the provider vote itself: tests/test_price_method.py)."""

from datetime import UTC, date, datetime, timedelta

import pytest

from capcover.model.prices import MaxAge, estimate, fresh, parse_method_id
from capcover.model.report import QuotePoint, SectorInputs, build_reports, price_stats
from capcover.model.scenarios import Scenario

DAY = date(2024, 4, 3)

# prices -> (quote_count, kept_count, central, q1, q3), worked out by hand:
CASES = [
    # one quote: everything is that quote
    ([5.0], (1, 1, 5.0, 5.0, 5.0)),
    # median 2.5, MAD 1.0, largest z 0.6745 * 1.5 = 1.01: all kept; q1 at 0.75, q3 at 2.25
    ([4.0, 1.0, 3.0, 2.0], (4, 4, 2.5, 1.75, 3.25)),
    # the fake gpuhunt on-demand H100 SXM set: median 11.0, MAD 8.01, z(400) = 32.8 dropped;
    # kept 6: median (2.99 + 11.0) / 2, q1 at 1.25 = 2.5 + 0.25 * 0.49, q3 at 3.75 = 11.0
    ([2.4, 2.5, 2.99, 11.0, 11.0, 12.29, 400.0], (7, 6, 6.995, 2.6225, 11.0)),
    # MAD 0 (most quotes equal): no rule applies, all kept, the median holds
    ([2.0, 2.0, 2.0, 2.0, 200.0], (5, 5, 2.0, 2.0, 2.0)),
    # median 11, MAD 1, z(30) = 0.6745 * 19 = 12.8 dropped; kept [10, 10, 11, 12]
    ([10.0, 10.0, 11.0, 12.0, 30.0], (5, 4, 10.5, 10.0, 11.25)),
]


@pytest.mark.parametrize(("prices", "expected"), CASES)
def test_method_estimate_matches_the_hand_computed_case(prices, expected):
    e = estimate(prices)
    assert (e.quote_count, e.kept_count) == expected[:2]
    assert (e.central_usd, e.q1_usd, e.q3_usd) == pytest.approx(expected[2:])


def test_method_estimate_of_nothing_is_an_error():
    with pytest.raises(ValueError, match="no prices"):
        estimate([])


def test_method_staleness_window_is_per_kind_and_inclusive():
    age = MaxAge(rental_days=7, purchase_days=1095)
    assert fresh(DAY - timedelta(days=7), DAY, "rental_hourly", age)
    assert not fresh(DAY - timedelta(days=8), DAY, "rental_hourly", age)
    assert fresh(DAY - timedelta(days=1095), DAY, "purchase", age)
    assert not fresh(DAY - timedelta(days=1096), DAY, "purchase", age)
    assert not fresh(DAY + timedelta(days=1), DAY, "purchase", age)  # never from the future


def test_method_id_names_the_version_and_the_windows():
    assert MaxAge().method_id() == "provider-vote-v3+age7d/1095d"
    assert MaxAge(rental_days=3).method_id() == "provider-vote-v3+age3d/1095d"
    assert MaxAge().method_id("mad3.5-median-v1") == "mad3.5-median-v1+age7d/1095d"
    assert parse_method_id("mad3.5-median-v1+age30d/365d") == (
        "mad3.5-median-v1",
        MaxAge(30, 365),
    )
    assert parse_method_id("fixed") is None and parse_method_id("median-v0") is None


def _sector() -> SectorInputs:
    now = datetime(2024, 4, 3, 6, tzinfo=UTC)
    return SectorInputs(DAY, "category", "ai", 25e9, None, 0, None, None, None, now, now)


def _scenario(**price) -> Scenario:
    return Scenario.model_validate(
        {"name": "s", "gpu_sku": "H100", "gpu_count": 1000, "price": price}
    )


def test_method_band_is_the_ratio_at_the_quartile_prices():
    # four providers, one vote each: values 1, 2, 3, 4
    pts = [
        QuotePoint("H100", "rental_hourly", src, p, DAY, "SXM", "on_demand")
        for src, p in zip("abcd", (1.0, 2.0, 3.0, 4.0), strict=True)
    ]
    (row,), _ = build_reports(
        _sector(), [_scenario(kind="rental_hourly", hours=8760)], price_stats(pts), "run"
    )
    assert row.quote_median_usd == 2.5 and (row.quote_q1_usd, row.quote_q3_usd) == (1.75, 3.25)
    assert row.coverage_ratio == pytest.approx(25e9 / (1000 * 2.5 * 8760))
    assert row.coverage_ratio_low == pytest.approx(25e9 / (1000 * 3.25 * 8760))
    assert row.coverage_ratio_high == pytest.approx(25e9 / (1000 * 1.75 * 8760))
    assert row.price_method == "provider-vote-v3+age7d/1095d"
    assert (row.price_form_factor, row.price_market) == ("SXM", "on_demand")
    assert (row.price_provider_count, row.price_providers) == (4, "a, b, c, d")


def test_method_fixed_price_has_an_equal_band_and_method_fixed():
    (row,), _ = build_reports(
        _sector(), [_scenario(kind="fixed", unit_price_usd=30_000)], price_stats([]), "run"
    )
    assert row.coverage_ratio_low == row.coverage_ratio == row.coverage_ratio_high
    assert row.price_method == "fixed" and row.quote_q1_usd is None


def test_method_stale_quotes_skip_the_scenario_with_the_reason():
    old = [
        QuotePoint("H100", "rental_hourly", "a", 2.0, DAY - timedelta(days=8), "SXM", "on_demand")
    ]
    rows, skipped = build_reports(
        _sector(), [_scenario(kind="rental_hourly")], price_stats(old), "run"
    )
    assert rows == []
    assert skipped == [
        (
            "s",
            "no on_demand rental_hourly quote for H100 SXM in the 7 days up to 2024-04-03"
            " (1 considered, excluded by rule: 1 stale)",
        )
    ]
    rows, _ = build_reports(
        _sector(),
        [_scenario(kind="rental_hourly")],
        price_stats(old, max_age=MaxAge(rental_days=30)),
        "run",
    )
    assert rows[0].price_method == "provider-vote-v3+age30d/1095d"


def test_method_band_is_in_the_alert_message():
    from dataclasses import replace

    from capcover.model.alerts import threshold_crossed

    pts = [
        QuotePoint("H100", "rental_hourly", src, p, DAY, "SXM", "on_demand")
        for src, p in zip("abcd", (1.0, 2.0, 3.0, 4.0), strict=True)
    ]
    (now,), _ = build_reports(
        _sector(), [_scenario(kind="rental_hourly", hours=8760)], price_stats(pts), "run"
    )
    before = replace(now, report_date=date(2024, 4, 2), coverage_ratio=0.5)
    (alert,) = threshold_crossed(before, now, levels=(1.0,))
    assert (
        f"ratio {now.coverage_ratio:.3f} (band {now.coverage_ratio_low:.3f}\u2013"
        f"{now.coverage_ratio_high:.3f}), was"
    ) in alert.message
