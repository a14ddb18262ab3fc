"""Migrations 050-052 on a warehouse written before them: old quotes get the tier their row can
tell (or NULL where it cannot, with the migration saying why), the same published quote keeps
its id, old report rows keep their method and get the sector columns of their own definition."""

from __future__ import annotations

import hashlib
import shutil
from datetime import UTC, date, datetime

from capcover.ingest.models import Quote
from capcover.warehouse.db import open_warehouse
from capcover.warehouse.load import quote_id
from capcover.warehouse.migrate import MIGRATIONS_DIR, apply_migrations

AT = datetime(2026, 11, 20, 9, tzinfo=UTC)

# (source, kind, tier as the old parsers wrote it, listing_id, note)
OLD_QUOTES = [
    ("vastai", "rental_hourly", "on-demand", "48285735", "offer 48285735, machine 148199"),
    ("runpod", "rental_hourly", "secure cloud, on-demand", "NVIDIA H100 80GB HBM3|secure", None),
    (
        "gpuhunt/gcp",
        "rental_hourly",
        "on-demand",
        "gcp|a3-highgpu-8g|on-demand",
        "a3-highgpu-8g, cheapest of 1 location(s), catalog 1",
    ),
    (
        "gpuhunt/oci",
        "rental_hourly",
        "spot",
        "oci|BM.GPU.H100.8|spot",
        "BM.GPU.H100.8, cheapest of 2 location(s), catalog 1",
    ),
    (
        "gpuhunt/aws",
        "rental_hourly",
        "spot",
        "aws|p5.48xlarge|spot",
        "p5.48xlarge, cheapest of 1 location(s), catalog 1",
    ),
    ("FT", "purchase", None, None, None),
    ("Silicon Data", "rental_hourly", None, None, None),
    ("Broker", "rental_hourly", "interruptible", None, None),
    ("Other", "rental_hourly", "secure cloud", None, None),
]


def _old_warehouse(tmp_path):
    """A warehouse at schema 032 (before this round) with rows the old code wrote."""
    old_dir = tmp_path / "migrations"
    old_dir.mkdir()
    for path in MIGRATIONS_DIR.glob("*.sql"):
        if int(path.name[:3]) <= 32:
            shutil.copy(path, old_dir)
    db = tmp_path / "old.duckdb"
    with open_warehouse(db, migrate=False) as wh:
        apply_migrations(wh, old_dir)
        for i, (source, kind, tier, listing, note) in enumerate(OLD_QUOTES):
            market = (
                None
                if kind != "rental_hourly"
                else (
                    "spot"
                    if "spot" in (tier or "") or "interruptible" in (tier or "")
                    else "on_demand"
                )
            )
            wh.query(
                "INSERT INTO gpu_quotes (quote_id, observed_at, observed_date, source, kind,"
                " sku_label, sku, form_factor, gpu_count_basis, price_raw, price_unit, currency,"
                " usd_per_unit, price_usd, tier, note, run_id, listing_id, market)"
                " VALUES (?, ?, ?, ?, ?, 'H100', 'H100', NULL, 1, 2.0, 'USD/GPU-hour', 'USD', 1.0,"
                " 2.0, ?, ?, 'old-run', ?, ?)",
                [f"q{i}", AT, AT.date(), source, kind, tier, note, listing, market],
            )
        for scenario, basis, categories in (
            ("a", "category", "artificial-intelligence"),
            ("b", "category", "artificial-intelligence,ai-agents"),
        ):
            day = date(2026, 11, 19) if basis == "history" else date(2026, 11, 20)
            wh.query(
                "INSERT INTO report_daily (report_date, scenario, basis, categories,"
                " sector_market_cap_usd, gpu_sku, gpu_count, price_basis, unit_price_usd,"
                " price_quote_count, buildout_cost_usd, coverage_ratio, gpus_affordable,"
                " breakeven_unit_price_usd, share_of_2023_h100_shipments, market_as_of,"
                " fetched_at, run_id, price_method) VALUES (?, ?, ?, ?, 25e9, 'H100', 1, 'x',"
                " 1.0, 1, 1.0, 1.0, 1.0, 1.0, 1.0, ?, ?, 'old-run',"
                " 'mad3.5-median-v1+age7d/1095d')",
                [day, scenario, basis, categories, AT, AT],
            )
        wh.query(
            "INSERT INTO report_daily (report_date, scenario, basis, categories,"
            " sector_market_cap_usd, gpu_sku, gpu_count, price_basis, unit_price_usd,"
            " price_quote_count, buildout_cost_usd, coverage_ratio, gpus_affordable,"
            " breakeven_unit_price_usd, share_of_2023_h100_shipments, market_as_of, fetched_at,"
            " run_id, price_method) VALUES ('2026-01-01', 'a', 'history',"
            " 'artificial-intelligence', 20e9, 'H100', 1, 'fixed', 1.0, 0, 1.0, 1.0, 1.0,"
            " 1.0, 1.0, ?, ?, 'old-backfill', 'fixed')",
            [AT, AT],
        )
    return db


def test_migration_old_quotes_get_the_tier_their_row_can_tell(tmp_path):
    db = _old_warehouse(tmp_path)
    with open_warehouse(db) as wh:  # migrates 040+ (this round's migrations among them)
        rows = {
            r[0]: r[1:]
            for r in wh.query(
                "SELECT source, tier, tier_label, market, provider, computed_price, form_factor,"
                " form_factor_v1, capacity_id, machine_id, instance_name FROM gpu_quotes"
            )
        }
    assert rows["vastai"][:5] == ("on_demand", "on-demand", "on_demand", "vastai", False)
    assert rows["vastai"][7:9] == ("machine 148199", "148199")
    assert rows["runpod"][0] == "on_demand"
    assert rows["runpod"][7] == "NVIDIA H100 80GB HBM3|secure cloud"
    # an old gpuhunt on-demand row lost its flags: its tier cannot be told, so it prices nothing
    assert rows["gpuhunt/gcp"][:5] == (None, "on-demand", None, "gcp", False)
    assert rows["gpuhunt/gcp"][9] == "a3-highgpu-8g"
    assert rows["gpuhunt/oci"][:2] == ("spot", "spot") and rows["gpuhunt/oci"][4] is True
    assert rows["gpuhunt/aws"][0] == "spot" and rows["gpuhunt/aws"][4] is False
    assert rows["FT"][0] == "purchase" and rows["FT"][2] is None
    assert rows["Silicon Data"][0] == "on_demand"
    # a taxonomy word is taken as it is: a bid, which no market prices
    assert rows["Broker"][:3] == ("interruptible", "interruptible", None)
    assert rows["Other"][:3] == ("unknown", "secure cloud", None)
    # the form factor untold is "unknown"; what v1 saw (NULL) is kept for its re-derivation
    assert {r[5] for r in rows.values()} == {"unknown"} and {r[6] for r in rows.values()} == {None}


def test_migration_old_report_rows_keep_their_method_and_definition(tmp_path):
    db = _old_warehouse(tmp_path)
    with open_warehouse(db) as wh:
        rows = wh.query(
            "SELECT scenario, basis, price_method, sector_cap_method, coingecko_category_cap_usd,"
            " survivorship_biased, price_provider_count FROM report_daily"
            " ORDER BY report_date, scenario"
        )
    assert rows == [
        ("a", "history", "fixed", "history-union", None, True, None),
        ("a", "category", "mad3.5-median-v1+age7d/1095d", "coingecko-category", 25e9, False, None),
        ("b", "category", "mad3.5-median-v1+age7d/1095d", "category-sum", 25e9, False, None),
    ]


def _old_quote_id(parts: list) -> str:
    return hashlib.sha256("|".join(str(v) for v in parts).encode()).hexdigest()[:32]


def test_migration_a_published_quote_keeps_its_id():
    # What the old code hashed: the tier as the feed worded it, a NULL form factor as None.
    curated = Quote(
        observed_at=AT,
        source="FT",
        kind="purchase",
        sku_label="Nvidia H100",
        sku="H100",
        price_raw=30000,
        price_unit="USD/GPU",
        price_usd=30000,
        tier="purchase",
    )
    old = [
        curated.source,
        AT.isoformat(),
        "purchase",
        "Nvidia H100",
        None,
        30000.0,
        "USD/GPU",
        "USD",
        1,
        None,
        None,
        None,
    ]
    assert quote_id(curated) == _old_quote_id(old)
    vast = curated.model_copy(
        update=dict(
            source="vastai",
            kind="rental_hourly",
            tier="on_demand",
            tier_label="on-demand",
            form_factor="SXM",
            listing_id="48285735",
            price_unit="USD/instance-hour",
        )
    )
    old = [
        "vastai",
        AT.isoformat(),
        "rental_hourly",
        "Nvidia H100",
        "SXM",
        30000.0,
        "USD/instance-hour",
        "USD",
        1,
        "on-demand",
        None,
        None,
        "48285735",
    ]
    assert quote_id(vast) == _old_quote_id(old)
