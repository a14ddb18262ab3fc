"""The paper's table: published figures recomputed from their inputs through the real scenario
machinery (the built-in scenarios of model/scenarios.toml, the throughput table of
model/throughput.toml, the price method, build_reports), within 0.1% of what was published.

Each case names where its inputs and its published result come from. The sector cap is the
article's $25B in every case (CoinDesk, 2024-04-03, citing CoinGecko); prices are fed as one
quote of the scenario's kind, so the price method's median is that price.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from capcover.config.settings import load_settings, throughput_table
from capcover.model.report import QuotePoint, ReportRow, SectorInputs, build_reports, price_stats
from capcover.model.throughput import equivalent_count

CAP_USD = 25e9  # CoinDesk 2024-04-03: the AI-token category "at $25 billion", per CoinGecko
REL = 1e-3  # within 0.1%


def _row(scenario: str, day: date, *points: QuotePoint) -> ReportRow:
    """The built-in `scenario`'s report row on `day` with the sector at $25B and `points` as
    the only quotes."""
    at = datetime(day.year, day.month, day.day, 6, tzinfo=UTC)
    sector = SectorInputs(day, "category", "artificial-intelligence", CAP_USD, None, 0, None,
                          None, None, at, at)  # fmt: skip
    (builtin,) = [s for s in load_settings(environ=False).scenarios() if s.name == scenario]
    rows, skipped = build_reports(sector, [builtin], price_stats(list(points)), "paper")
    assert skipped == [], skipped
    return rows[0]


def test_paper_coindesk_2024_is_25b_over_720k_h100_at_30k():
    # CoinDesk, 2024-04-03, "Crypto AI Projects Would Need to Buy Chips Worth Their Entire
    # Market Cap": 720,000 H100 (Factorial Funds' peak estimate) x $30,000 = $21.6B against
    # the category's $25B: 25 / 21.6 = 1.157.
    r = _row("coindesk-2024", date(2024, 4, 3))
    assert (r.gpu_count, r.unit_price_usd, r.buildout_cost_usd) == (720_000, 30_000, 21.6e9)
    assert r.coverage_ratio == pytest.approx(1.157, rel=REL)
    assert f"{r.coverage_ratio:.3f}" == "1.157"  # printed exactly as the article's ratio


def test_paper_sora_base_case_is_89k_h100_at_the_article_price():
    # Factorial Funds' base case, as reported by CoinDesk (2024-04-03): about 89,000 H100;
    # priced at the article's $30,000 (one curated purchase quote, the CoinDesk figure):
    # 25e9 / (89,000 x 30,000) = 9.363.
    day = date(2024, 4, 3)
    quote = QuotePoint("H100", "purchase", "CoinDesk", 30_000, day)
    r = _row("sora-base-89k", day, quote)
    assert r.gpu_count == 89_000 and r.unit_price_usd == 30_000
    assert r.coverage_ratio == pytest.approx(9.363, rel=REL)


@pytest.mark.parametrize(
    ("observed", "usd_per_gpu_hour", "published_ratio"),
    [
        # SemiAnalysis' neocloud survey of 1-year H100 contract prices (the article "The Great
        # GPU Shortage", https://newsletter.semianalysis.com/p/the-great-gpu-shortage-rental-capacity,
        # as reported 2026-04): $1.70 per GPU-hour at the October 2025 low and $2.35 in March
        # 2026. The fleet for a year: 25e9 / (720,000 x 8,760 x price) = 2.332 and 1.687.
        (date(2025, 10, 1), 1.70, 2.332),
        (date(2026, 3, 1), 2.35, 1.687),
    ],
)
def test_paper_one_year_contract_rental(observed, usd_per_gpu_hour, published_ratio):
    quote = QuotePoint(
        "H100", "rental_hourly", "SemiAnalysis", usd_per_gpu_hour, observed, None, "committed_1y"
    )
    r = _row("h100-rent-1y-contract", observed, quote)
    assert r.price_market == "committed_1y" and r.gpu_count == 720_000
    assert r.unit_price_usd == pytest.approx(usd_per_gpu_hour * 8_760)
    assert r.coverage_ratio == pytest.approx(published_ratio, rel=REL)


def test_paper_h100_equivalent_b200_is_316640_gpus_at_40k():
    # The case (#21): $25B against 316,640 B200 x $40,000 (the top of Jensen Huang's
    # $30,000-40,000 B200 price, CNBC 2024-03-19) = 1.974. The count is the 720,000 H100 of the
    # CoinDesk article in dense FP8: H100 SXM 1,979 TFLOPS (NVIDIA's 3,958 with sparsity,
    # halved) against the HGX B200's 4,500 (NVIDIA's HGX table: 72 PFLOPS with sparsity per 8
    # GPUs) - model/throughput.toml v1.
    day = date(2026, 12, 6)
    r = _row("h100eq-720k-b200", day, QuotePoint("B200", "purchase", "CNBC", 40_000, day))
    assert (r.compute_reference_tflops, r.compute_chip_tflops) == (1979, 4500)
    assert r.compute_table_version == throughput_table().version == 1
    assert r.gpu_count == 316_640 == 720_000 * 1979 // 4500
    assert r.coverage_ratio == pytest.approx(1.974, rel=REL)


def test_paper_the_b200_count_depends_on_the_platform_and_the_b300_needs_as_many():
    # Where the sources give other counts (docs/scenarios.md): the same B200 in a GB200 NVL72
    # rack runs at up to 1,200 W and 5,000 dense FP8 TFLOPS (NVIDIA's GB200 NVL72 table), so
    # the 720,000 H100 would be 284,976 GPUs and the ratio 2.193 at $40,000. The issue's
    # 316,640 is the HGX B200 figure (4,500). Its "B300 ~7,000" is no vendor figure we found:
    # NVIDIA's HGX table gives the HGX B300 the HGX B200's FP8 (4,500), so 316,640 again; at
    # 7,000 it would have been 203,554.
    table = throughput_table()
    h100 = table.tflops("H100 SXM", "dense_fp8")
    assert equivalent_count(720_000, h100, table.tflops("GB200 NVL72", "dense_fp8")) == 284_976
    assert CAP_USD / (284_976 * 40_000) == pytest.approx(2.193, rel=REL)
    assert equivalent_count(720_000, h100, table.tflops("B300 HGX", "dense_fp8")) == 316_640
    assert equivalent_count(720_000, h100, 7_000) == 203_554
    day = date(2026, 12, 6)
    r = _row("h100eq-720k-b300", day, QuotePoint("B300", "purchase", "HF", 45_000, day))
    assert r.gpu_count == 316_640 and r.compute_chip == "B300 HGX"
