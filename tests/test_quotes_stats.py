"""Price statistics per (day, SKU, kind), feed snapshots per day, and what the model counts."""

from datetime import UTC, date, datetime

import pytest

from capcover.ingest.models import Quote
from capcover.model.report import price_stats
from capcover.warehouse import load
from capcover.warehouse.db import open_warehouse


def q(
    source,
    sku,
    price,
    *,
    day="2026-11-20",
    hour=9,
    kind="rental_hourly",
    listing=None,
    form=None,
    label=None,
):
    y, m, d = map(int, day.split("-"))
    return Quote(
        observed_at=datetime(y, m, d, hour, tzinfo=UTC),
        source=source,
        kind=kind,
        sku_label=label or sku,
        sku=sku,
        form_factor=form,
        price_raw=price,
        price_unit="USD/GPU-hour",
        price_usd=price,
        tier="on_demand" if kind == "rental_hourly" else "purchase",
        listing_id=listing,
    )


@pytest.fixture
def wh(tmp_path):
    with open_warehouse(tmp_path / "w.duckdb") as w:
        yield w


def test_quote_stats_daily_counts_min_max_and_sources_per_form_factor_and_market(wh):
    with wh.transaction():
        load.load_quotes(
            wh,
            [
                q("vastai", "H100", 1.8, listing="1", form="SXM"),
                q("vastai", "H100", 2.0, listing="2", form="PCIe"),
                q("vastai", "H100", 2.4, listing="3", form="SXM"),
                q("runpod", "H100", 3.29, listing="h|secure", form="SXM"),
                q("runpod", "Tesla V100", 0.2, listing="v|secure"),
                q("vastai", "unmapped", 0.3, listing="9", label="Tesla V100"),
            ],
            "run-1",
        )
    rows = wh.query(
        "SELECT day, sku, form_factor, kind, market, quote_count, min_usd, max_usd,"
        " sources FROM quote_stats_daily WHERE sku = 'H100' ORDER BY form_factor"
    )
    day = date(2026, 11, 20)
    assert rows == [
        (day, "H100", "PCIe", "rental_hourly", "on_demand", 1, 2.0, 2.0, "vastai"),
        (day, "H100", "SXM", "rental_hourly", "on_demand", 3, 1.8, 3.29, "runpod, vastai"),
    ]
    assert wh.scalar("SELECT count(*) FROM quote_stats_daily WHERE sku = 'unmapped'") == 0


def test_quote_feed_snapshot_of_a_day_replaces_the_earlier_one(wh):
    with wh.transaction():
        load.load_quotes(
            wh,
            [q("vastai", "H100", p, listing=str(i), hour=6) for i, p in enumerate([1.8, 1.9, 2.0])],
            "run-1",
        )
    with wh.transaction():  # later the same day: offer 0 is gone, offer 1 repriced
        load.load_quotes(
            wh,
            [
                q("vastai", "H100", 2.1, listing="1", hour=18),
                q("vastai", "H100", 2.0, listing="2", hour=18),
            ],
            "run-2",
        )
    assert wh.query("SELECT listing_id, price_usd FROM gpu_quotes ORDER BY listing_id") == [
        ("1", 2.1),
        ("2", 2.0),
    ]


def test_quote_points_count_every_offer_of_each_sources_latest_day(wh):
    with wh.transaction():
        load.load_quotes(
            wh,
            [
                q("vastai", "H100", 9.0, listing="old", day="2026-11-19"),
                *[q("vastai", "H100", p, listing=str(i)) for i, p in enumerate([1.8, 2.0, 2.2])],
                q("runpod", "H100", 2.69, listing="h|community", day="2026-11-18"),
                q("curated", "H100", 30_000, kind="purchase", day="2024-04-03"),
                q("vastai", "H100", 1.0, listing="future", day="2026-11-21"),
            ],
            "run-1",
        )
    stats = price_stats(load.quote_points(wh, date(2026, 11, 20)))
    rent = stats.get("H100", "rental_hourly", "any", "on_demand", as_of=date(2026, 11, 20))
    # Vast.ai's latest day before the report: its three offers (its value: their median,
    # 2.0); RunPod's latest: one. Two providers, one vote each.
    assert rent.quote_count == 4 and rent.median_usd == pytest.approx((2.0 + 2.69) / 2)
    assert rent.provider_count == 2
    assert rent.sources == "runpod, vastai"
    assert rent.newest_quote_date == date(2026, 11, 20)
    assert rent.oldest_quote_date == date(2026, 11, 18)
    assert stats.get("H100", "purchase", as_of=date(2026, 11, 20)).quote_count == 1
    prices = wh.query(
        "SELECT source, price_usd FROM v_quote_prices "
        "WHERE sku = 'H100' AND kind = 'rental_hourly' ORDER BY source"
    )
    assert prices == [("runpod", 2.69), ("vastai", 1.0)]  # each source's latest day overall
