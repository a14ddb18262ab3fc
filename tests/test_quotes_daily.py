"""The daily run against fake CoinGecko, Vast.ai and RunPod: normalised quotes from all three
sources, every built-in scenario in report_daily with its quote count, and one feed down."""

from datetime import UTC, datetime

import pytest

from capcover.config.settings import load_settings
from capcover.fakeapi import Reply
from capcover.fakeapi.gpu import captured_h100_sxm_asks, vast_market
from capcover.flows.sequence import run_daily
from capcover.model.prices import median
from capcover.report.summary import summary_text
from capcover.warehouse.db import open_warehouse
from tests.conftest import TEXT, category_payload

BUILTIN = {
    "coindesk-2024",
    "h100-purchase",
    "h100-all-in",
    "h100-rent-1y",
    "h100-rent-1y-spot",
    "sora-base-89k",
    "h200-purchase",
    "b200-purchase",
    "mi300x-purchase",
    "b300-purchase",
    "h100eq-720k-h200",
    "h100eq-720k-b200",
    "h100eq-720k-b300",
    "h100eq-89k-h200",
    "h100eq-89k-b200",
    "h100eq-89k-b300",
    "h100-total-cost-5y",
    "h100-rent-1y-contract",
}


@pytest.fixture
def today_cg(fake_cg):
    """CoinGecko's category as of now, so today's feed quotes count for today's report."""
    fake_cg.serve(categories=category_payload(updated_at=datetime.now(UTC).isoformat()))
    return fake_cg


def expected_h100_rental() -> dict[str, list[float]]:
    """Per provider, the on-demand H100 SXM prices h100-rent-1y votes with (PCIe and NVL are
    other parts): Vast.ai's captured book, each machine once at its cheapest price per GPU
    (the bid, the de-verified host and the rented offer kept out); RunPod's two clouds."""
    machines: dict[int, float] = {}
    for o in captured_h100_sxm_asks():
        per_gpu = o["dph_total"] / o["num_gpus"]
        machines[o["machine_id"]] = min(per_gpu, machines.get(o["machine_id"], per_gpu))
    return {"vastai": sorted(machines.values()), "runpod": [2.69, 3.29]}


def test_quotes_daily_run_stores_normalised_quotes_from_all_three_sources(today_cg, settings):
    result = run_daily(settings)
    assert result.sources_failed == []
    with open_warehouse(settings.db, read_only=True) as wh:
        by_source = dict(
            wh.query(
                "SELECT source, count(*) FROM gpu_quotes "
                "WHERE listing_id IS NOT NULL GROUP BY source"
            )
        )
        # Vast.ai: every offer but the malformed one (bids, rented offers and de-verified
        # hosts stored with what they are); RunPod: one quote per listed price field.
        assert by_source == {"vastai": len(vast_market()) - 1, "runpod": 49}
        # Every entry of the shipped curated file (ingest/data/quotes.toml v2).
        assert wh.scalar("SELECT count(*) FROM gpu_quotes WHERE listing_id IS NULL") == 22
        skus = {r[0] for r in wh.query("SELECT DISTINCT sku FROM gpu_quotes")}
        assert {"H100", "H200", "B200", "MI300X"} <= skus
        forms = dict(
            wh.query(
                "SELECT sku_label, any_value(form_factor) FROM gpu_quotes "
                "WHERE source = 'vastai' GROUP BY sku_label"
            )
        )
        assert forms == {
            "H100 SXM": "SXM",
            "H100 PCIE": "PCIe",
            "H100 NVL": "NVL",
            "H200": "unknown",
            "B200": "unknown",
        }
        assert wh.scalar("SELECT count(*) FROM quarantine WHERE source = 'vastai'") == 1


def test_quotes_daily_report_holds_every_builtin_scenario_with_its_quote_count(today_cg, settings):
    result = run_daily(settings)
    assert result.skipped == []
    with open_warehouse(settings.db, read_only=True) as wh:
        rows = {
            r[0]: r[1:]
            for r in wh.query(
                "SELECT scenario, price_quote_count, quote_median_usd, unit_price_usd,"
                " price_sources, price_as_of FROM report_daily"
            )
        }
    assert set(rows) == BUILTIN
    votes = expected_h100_rental()
    count, med, unit, sources, as_of = rows["h100-rent-1y"]
    assert len(votes["vastai"]) == 8  # 19 captured offers, 8 machines
    central = median([median(v) for v in votes.values()])  # two providers, one vote each
    assert count == 8 + 2 and med == pytest.approx(central)
    assert unit == pytest.approx(central * 8760)
    assert sources == "runpod, vastai" and as_of == datetime.now(UTC).date()
    # Purchase quotes older than the 1,095-day window (the three of 2023) no longer count, nor
    # do used parts: CoinDesk 2024, Hugging Face 2024 and AI Infra Map 2026, all $30,000.
    assert rows["h100-purchase"][0] == 3 and rows["h100-purchase"][1] == 30_000
    assert rows["coindesk-2024"][0] == 0
    assert rows["h100-all-in"][2] == pytest.approx(30_000 * 1.84)


def test_quotes_daily_one_feed_down_still_yields_a_complete_report(today_cg, env, monkeypatch):
    # Vast.ai unreachable: nothing listens on the discard port of this host.
    monkeypatch.setenv("CAPCOVER_VASTAI_BASE_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("CAPCOVER_HTTP_RETRY_BUDGET_S", "0")
    settings = load_settings()
    result = run_daily(settings)
    assert result.sources_failed == ["vastai"]
    assert {r.scenario for r in result.reports} == BUILTIN
    rent = next(r for r in result.reports if r.scenario == "h100-rent-1y")
    assert rent.price_sources == "runpod" and rent.price_quote_count == 2  # its 2 SXM prices
    with open_warehouse(settings.db, read_only=True) as wh:
        status, failed, summary = wh.query("SELECT status, sources_failed, summary FROM runs")[0]
        assert (status, failed) == ("ok", "vastai")
        assert '"sources_failed": ["vastai"]' in summary
        assert "vastai /api/v0/bundles/: connection failed" in summary  # why, in one line
        assert wh.scalar("SELECT count(*) FROM report_daily") == len(BUILTIN)
    assert "quote feeds failed: vastai (vastai /api/v0/bundles/: connection failed" in (
        summary_text(result, settings.db)
    )


def test_quotes_daily_feed_down_uses_the_latest_quotes_it_has(today_cg, env, monkeypatch, feed_api):
    settings = load_settings()
    run_daily(settings)  # today: all feeds up
    # A later run the same day: RunPod answers 503. Its snapshot from the earlier run is the
    # latest it has, so the rental price still stands on both sources, dated as before.
    monkeypatch.setenv("CAPCOVER_RUNPOD_BASE_URL", feed_api.url_for("/down"))
    monkeypatch.setenv("CAPCOVER_HTTP_RETRY_BUDGET_S", "0")
    feed_api.add("/down/graphql", Reply(raw="busy", status=503, content_type=TEXT))
    result = run_daily(load_settings())
    assert result.sources_failed == ["runpod"]
    rent = next(r for r in result.reports if r.scenario == "h100-rent-1y")
    assert rent.price_sources == "runpod, vastai"
    assert rent.price_as_of == datetime.now(UTC).date()
