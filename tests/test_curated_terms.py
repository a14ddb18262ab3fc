"""Curated quotes for 2025-2026: confidence on every entry, committed terms kept apart as their
own market, used parts kept out of new-part prices, and every purchase scenario priced on a
report dated today from the shipped file alone."""

from __future__ import annotations

import re
import tomllib
from datetime import UTC, date, datetime
from typing import get_args

import pytest
from hypothesis import given
from hypothesis import strategies as st

from capcover.cli.main import main
from capcover.config.settings import load_settings
from capcover.ingest import CONFIDENCE_LEVELS, CURATED_QUOTES_PATH, RENTAL_TIERS
from capcover.ingest.errors import BadPayload
from capcover.ingest.models import Quote
from capcover.ingest.quotes import parse_curated
from capcover.model.report import QuotePoint, SectorInputs, build_reports, price_stats
from capcover.model.scenarios import Market, Scenario
from capcover.model.tiers import COMMITTED_TIERS, MARKETS, market_of, tiers_of_market
from capcover.warehouse import load
from capcover.warehouse.db import open_warehouse

TODAY = date(2026, 12, 6)  # the day the 2025-2026 quotes were added
CAP = 25e9


def _points(quotes: list[Quote]) -> list[QuotePoint]:
    """Quote points as warehouse/load.py quote_points hands them to the model."""
    return [
        QuotePoint(
            sku=q.sku,
            kind=q.kind,
            source=q.source,
            price_usd=q.price_usd,
            observed_date=q.observed_date,
            form_factor=q.form_factor,
            market=load.quote_market(q),
            quote_id=load.quote_id(q),
            provider=q.provider,
            tier=q.tier,
            tier_label=q.tier_label,
            condition=q.condition,
        )
        for q in quotes
    ]


def _reports(day: date, points: list[QuotePoint], scenarios: list[Scenario] | None = None):
    at = datetime(day.year, day.month, day.day, 6, tzinfo=UTC)
    sector = SectorInputs(day, "category", "artificial-intelligence", CAP, None, 0, None, None,
                          None, at, at)  # fmt: skip
    scenarios = scenarios or load_settings(environ=False).scenarios()
    rows, skipped = build_reports(sector, scenarios, price_stats(points), "r")
    return {r.scenario: r for r in rows}, dict(skipped)


def shipped() -> list[Quote]:
    return parse_curated(CURATED_QUOTES_PATH.read_text(encoding="utf-8"))


def test_curated_committed_terms_are_one_vocabulary_everywhere():
    # The curated schema's terms are the taxonomy's committed tiers (model/tiers.py) ...
    assert RENTAL_TIERS == tuple(COMMITTED_TIERS.values())
    # ... a scenario may name exactly the taxonomy's markets ...
    assert get_args(Market) == MARKETS == ("on_demand", "spot", *RENTAL_TIERS)
    # ... and each committed term is a market of its own: it selects that tier only, and a
    # quote of that tier is in that market (never on_demand).
    for term in RENTAL_TIERS:
        assert tiers_of_market(term) == (term,) and market_of(term) == term


def test_curated_every_shipped_entry_says_its_confidence_and_new_ones_their_url():
    doc = tomllib.loads(CURATED_QUOTES_PATH.read_text(encoding="utf-8"))
    assert doc["version"] == 2
    for i, entry in enumerate(doc["quote"], start=1):
        assert entry.get("confidence") in CONFIDENCE_LEVELS, i
        if entry["observed"] >= date(2025, 1, 1):
            assert entry["source_url"].startswith("https://"), i
            assert entry.get("note"), i
    quotes = shipped()
    assert {q.confidence for q in quotes} <= set(CONFIDENCE_LEVELS)
    # 2025-2026 purchase quotes for every SKU the new scenarios buy, and the contract points.
    recent = [q for q in quotes if q.observed_date >= date(2025, 1, 1)]
    assert {q.sku for q in recent if q.kind == "purchase"} == {"H100", "H200", "B200", "B300"}
    contract = sorted((q.observed_date, q.price_usd) for q in recent if q.tier == "committed_1y")
    assert contract == [(date(2025, 10, 1), 1.70), (date(2026, 3, 1), 2.35)]
    assert any(q.condition == "used" for q in recent)  # used parts where published


def test_curated_shipped_quotes_price_every_purchase_scenario_on_a_report_of_today():
    rows, skipped = _reports(TODAY, _points(shipped()))
    # Only the on-demand and spot rentals need the live feeds; everything else prices from the
    # file. The contract points are considered (H100 rentals) and excluded: no form factor said.
    assert skipped == {
        "h100-rent-1y": "no on_demand rental_hourly quote for H100 SXM in the 7 days up to "
        "2026-12-06 (2 considered, excluded by rule: 2 form_factor)",
        "h100-rent-1y-spot": "no spot rental_hourly quote for H100 SXM in the 7 days up to "
        "2026-12-06 (2 considered, excluded by rule: 2 form_factor)",
    }
    # New parts only (the used H100 SXM at $22-25k is left out): CoinDesk 2024, Hugging Face
    # 2024 and AI Infra Map 2026, all $30,000; the 2023 figures are past the 1,095-day window.
    assert (rows["h100-purchase"].unit_price_usd, rows["h100-purchase"].price_quote_count) == (
        30_000,
        3,
    )
    assert rows["h100-purchase"].price_condition == "new"
    assert rows["h100-purchase"].price_providers == "AI Infra Map, CoinDesk, Hugging Face"
    # One vote per publisher (provider-vote-v2), a range's two ends one provider's: H200
    # Hugging Face 32k, AI Infra Map 35k, RunLocalAI 28-31k (29.5k) -> 32k; B200 NVIDIA
    # 30-40k (35k), AI Infra Map 40k, RunLocalAI 40-43k (41.5k) -> 40k.
    h200, b200 = rows["h200-purchase"], rows["b200-purchase"]
    assert (h200.unit_price_usd, h200.price_provider_count, h200.price_quote_count) == (
        32_000,
        3,
        4,
    )
    assert (b200.unit_price_usd, b200.price_provider_count, b200.price_quote_count) == (
        40_000,
        3,
        5,
    )
    assert rows["b300-purchase"].unit_price_usd == 45_000
    assert (rows["mi300x-purchase"].unit_price_usd, rows["mi300x-purchase"].price_providers) == (
        12_500,
        "MI300X street estimate",
    )
    contract = rows["h100-rent-1y-contract"]
    assert (contract.quote_median_usd, contract.price_market) == (2.35, "committed_1y")
    assert contract.price_as_of == date(2026, 3, 1)
    assert contract.price_method.endswith("+age365d/1095d")  # the scenario's own window
    assert rows["h100eq-720k-b200"].coverage_ratio == pytest.approx(CAP / (316_640 * 40_000))


def test_curated_contract_points_age_out_after_a_year_and_price_in_between():
    points = _points(shipped())
    rows, _ = _reports(date(2025, 12, 1), points)
    assert rows["h100-rent-1y-contract"].quote_median_usd == 1.70  # the October 2025 point
    _, skipped = _reports(date(2027, 3, 2), points)
    assert skipped["h100-rent-1y-contract"] == (
        "no committed_1y rental_hourly quote for H100 in the 365 days up to 2027-03-02"
        " (2 considered, excluded by rule: 2 stale)"
    )


def test_curated_contract_prices_never_price_on_demand_and_used_only_when_asked():
    points = _points(shipped())
    on_demand = Scenario.model_validate(
        {
            "name": "od",
            "gpu_sku": "H100",
            "gpu_count": 1,
            "form_factor": "any",
            "price": {"kind": "rental_hourly"},
            "max_age_days": 3650,
        }  # fmt: skip
    )
    used = Scenario.model_validate(
        {
            "name": "used",
            "gpu_sku": "H100",
            "gpu_count": 1,
            "condition": "used",
            "price": {"kind": "purchase"},
        }  # fmt: skip
    )
    rows, skipped = _reports(TODAY, points, [on_demand, used])
    assert skipped == {
        "od": "no on_demand rental_hourly quote for H100 in the 3650 days up to 2026-12-06"
        " (2 considered, excluded by rule: 2 tier)"  # contract prices are not on-demand ones
    }
    assert rows["used"].unit_price_usd == 23_500 and rows["used"].price_condition == "used"


def test_curated_terms_and_confidence_reach_the_warehouse(tmp_path):
    with open_warehouse(tmp_path / "w.duckdb") as wh:
        load.load_quotes(wh, shipped(), "r-test")
        got = wh.query(
            "SELECT observed_date, market, confidence FROM gpu_quotes"
            " WHERE tier = 'committed_1y' ORDER BY observed_date"
        )
        assert got == [
            (date(2025, 10, 1), "committed_1y", "medium"),
            (date(2026, 3, 1), "committed_1y", "medium"),
        ]
        assert wh.query("SELECT DISTINCT confidence FROM v_quote_prices ORDER BY 1") == [
            ("high",),
            ("low",),
            ("medium",),
        ]
        assert wh.scalar("SELECT count(*) FROM gpu_quotes WHERE confidence IS NULL") == 0


ENTRY = """version = 1
[[quote]]
observed = 2026-01-01
source = "s"
kind = "rental_hourly"
sku_label = "H100"
sku = "H100"
price = 2.0
unit = "USD/GPU-hour"
"""


@given(st.text(alphabet="abcdefghijklmnopqrstuvwxyz_0123456789", max_size=8))
def test_curated_a_misspelt_committed_term_is_rejected_naming_the_entry(suffix):
    tier = "committed" + suffix
    text = ENTRY + f'tier = "{tier}"\n'
    if tier in RENTAL_TIERS:
        (q,) = parse_curated(text)
        assert load.quote_market(q) == tier
        return
    with pytest.raises(BadPayload, match=re.escape('entry #1 (H100): ValueError("tier')):
        parse_curated(text)


@given(
    st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=12).filter(
        lambda t: t not in CONFIDENCE_LEVELS
    )
)
def test_curated_an_unknown_confidence_is_rejected_naming_the_entry(level):
    import json

    text = ENTRY + f"confidence = {json.dumps(level, ensure_ascii=False)}\n"
    with pytest.raises(BadPayload, match=r"entry #1 \(H100\): Input should be 'high'"):
        parse_curated(text)


@pytest.fixture
def quotes_file(tmp_path, monkeypatch, env):
    path = tmp_path / "my-quotes.toml"
    path.write_text("version = 1\n", encoding="utf-8")
    monkeypatch.setenv("CAPCOVER_QUOTES_FILE", str(path))
    return path


def test_quotes_add_writes_tier_and_confidence(quotes_file, capsys):
    args = ["quotes", "add", "--sku", "H100", "--kind", "rental_hourly", "--price", "2.35",
            "--source", "SemiAnalysis (manual entry)", "--date", "2026-03-01",
            "--tier", "committed_1y", "--confidence", "medium"]  # fmt: skip
    assert main(args) == 0
    capsys.readouterr()
    (q,) = parse_curated(quotes_file.read_text(encoding="utf-8"))
    assert (q.tier, q.confidence, load.quote_market(q)) == (
        "committed_1y",
        "medium",
        "committed_1y",
    )


def test_quotes_add_tier_on_a_purchase_is_one_line_and_exit_2(quotes_file, capsys):
    before = quotes_file.read_text(encoding="utf-8")
    args = ["quotes", "add", "--sku", "H100", "--price", "30000", "--source", "x",
            "--tier", "committed_1y"]  # fmt: skip
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "--tier committed_1y is a rental term: use it with --kind rental_hourly" in err
    assert err.count("\n") == 1 and quotes_file.read_text(encoding="utf-8") == before


def test_curated_price_groups_keep_used_parts_apart_from_new():
    groups = price_stats(_points(shipped())).groups(TODAY)
    h100_sxm = {
        g.condition: g.median_usd
        for g in groups
        if (g.sku, g.form_factor, g.kind) == ("H100", "SXM", "purchase")
    }
    assert h100_sxm == {"new": 30_000, "used": 23_500}  # Hugging Face MSRP; RunLocalAI $22-25k
    everything = price_stats(_points(shipped())).groups()  # no staleness window
    assert {(g.market, g.condition) for g in everything if g.kind == "rental_hourly"} == {
        ("committed_1y", None)  # rentals have no condition; the contract points are apart
    }


def test_curated_every_shipped_entry_names_its_provider_and_a_range_votes_once():
    doc = tomllib.loads(CURATED_QUOTES_PATH.read_text(encoding="utf-8"))
    # Both ends of a published range (same day, SKU and note) name one provider and come by
    # one route (source): the method's `route` rule would keep only one end of two routes.
    ends: dict[tuple, set[tuple[str, str]]] = {}
    for i, entry in enumerate(doc["quote"], start=1):
        assert isinstance(entry.get("provider"), str) and entry["provider"].strip(), i
        ends.setdefault((entry["observed"], entry["sku"], entry["note"]), set()).add(
            (entry["source"], entry["provider"])
        )
    assert all(len(voices) == 1 for voices in ends.values()), ends
    assert sum(1 for voices in ends.values() for _ in voices) < len(doc["quote"])  # ranges
    # So Raymond James' 2023 range is one vote at its middle beside the FT's $30,000.
    raymond_james = [p for p in _points(shipped()) if p.observed_date.year == 2023]
    book = price_stats(raymond_james)
    stat = book.get("H100", "purchase", as_of=date(2023, 9, 1))
    assert (stat.provider_count, stat.providers) == (2, "Financial Times, Raymond James")
    assert stat.median_usd == (27_500 + 30_000) / 2
    assert all(d.kept for d in stat.decisions)  # both ends voted, as one provider
