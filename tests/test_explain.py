"""Why the ratio moved: the decomposition in v_ratio_moves on hand-computed cases, the coins'
contributions and membership churn, the category gap, the price set's churn, the paragraph."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime

import pytest

from capcover.model.explain import CapSide, CoinMove, PriceSide, RatioMove, decompose, paragraph
from capcover.model.report import ReportRow
from capcover.warehouse.db import Warehouse, open_warehouse
from capcover.warehouse.explain import (
    category_gap,
    coin_moves,
    explain_paragraph,
    price_changes,
    ratio_moves,
)
from tests.helpers import report_row

AI = "artificial-intelligence"
D1, D2, D3 = date(2024, 4, 1), date(2024, 4, 2), date(2024, 4, 3)


def add_reports(wh: Warehouse, *rows: ReportRow) -> None:
    wh.append("report_daily", [r.as_tuple() for r in rows])


def add_coins(wh: Warehouse, day: date, caps: dict[str, float | None], category: str = AI) -> None:
    at = datetime(day.year, day.month, day.day, 6, 40, tzinfo=UTC)
    for coin_id, cap in caps.items():
        wh.query(
            "INSERT INTO coin_snapshots (as_of_date, category_id, coin_id, symbol, name,"
            " market_cap_usd, fetched_at, run_id) VALUES (?, ?, ?, ?, ?, ?, ?, 'r-test')",
            [day, category, coin_id, coin_id[:3], coin_id.title(), cap, at],
        )


def add_quote(
    wh: Warehouse,
    quote_id: str,
    source: str,
    day: date,
    price: float,
    kind: str = "purchase",
    sku: str = "H100",
) -> None:
    at = datetime(day.year, day.month, day.day, 12, tzinfo=UTC)
    wh.query(
        "INSERT INTO gpu_quotes (quote_id, observed_at, observed_date, source, kind,"
        " sku_label, sku, gpu_count_basis, price_raw, price_unit, currency, usd_per_unit,"
        " price_usd, run_id) VALUES (?, ?, ?, ?, ?, ?, ?, 1, ?, 'per_gpu', 'USD', 1.0, ?,"
        " 'r-test')",
        [quote_id, at, day, source, kind, sku, sku, price, price],
    )


@pytest.fixture
def wh(tmp_path):
    with open_warehouse(tmp_path / "explain.duckdb") as w:
        yield w


def _move(wh, day, scenario) -> dict:
    (row,) = ratio_moves(wh, day, scenario)
    return row


def test_ratio_moves_cap_move_is_all_cap_effect(wh):
    add_reports(wh, report_row(D1, "fixed", 20e9), report_row(D2, "fixed", 25e9))
    m = _move(wh, D2, "fixed")
    assert m["previous_report_date"] == D1
    assert m["previous_ratio"] == pytest.approx(20e9 / 21.6e9)
    assert m["coverage_ratio"] == pytest.approx(25e9 / 21.6e9)
    assert m["log_change"] == pytest.approx(math.log(1.25))
    assert m["cap_effect"] == pytest.approx(math.log(1.25))
    assert m["price_effect"] == 0 and m["count_effect"] == 0


def test_ratio_moves_price_move_is_minus_price_effect(wh):
    add_reports(
        wh,
        report_row(D1, "bought", 25e9, price=30_000, quotes=2, median=30_000),
        report_row(D2, "bought", 25e9, price=32_000, quotes=2, median=32_000),
    )
    m = _move(wh, D2, "bought")
    assert m["cap_effect"] == 0 and m["count_effect"] == 0
    assert m["price_effect"] == pytest.approx(math.log(32 / 30))
    assert m["log_change"] == pytest.approx(-math.log(32 / 30))


def test_ratio_moves_cap_and_price_moving_together_cancel(wh):
    add_reports(
        wh, report_row(D1, "both", 20e9, price=30_000), report_row(D2, "both", 22e9, price=33_000)
    )
    m = _move(wh, D2, "both")
    assert m["cap_effect"] == pytest.approx(math.log(1.1))
    assert m["price_effect"] == pytest.approx(math.log(1.1))
    assert m["log_change"] == pytest.approx(0, abs=1e-12)


def test_ratio_moves_count_change_is_count_effect(wh):
    add_reports(
        wh,
        report_row(D1, "fleet", 25e9, count=720_000),
        report_row(D2, "fleet", 25e9, count=360_000),
    )
    m = _move(wh, D2, "fleet")
    assert m["count_effect"] == pytest.approx(math.log(0.5))
    assert m["log_change"] == pytest.approx(math.log(2))
    assert m["cap_effect"] == 0 and m["price_effect"] == 0


def test_ratio_moves_first_report_has_no_row_and_terms_add_up(wh):
    add_reports(
        wh,
        report_row(D1, "a", 20e9),
        report_row(D2, "a", 21e9, price=31_000),
        report_row(D3, "a", 19e9, price=29_500, count=700_000),
        report_row(D2, "b", 30e9),
    )
    assert ratio_moves(wh, D1) == []
    assert ratio_moves(wh, D2, "b") == []  # b's first report
    assert wh.scalar("SELECT count(*) FROM v_ratio_moves") == 2  # 4 reports, 2 scenarios
    for m in ratio_moves(wh, D2) + ratio_moves(wh, D3):
        assert m["log_change"] == pytest.approx(
            m["cap_effect"] - m["price_effect"] - m["count_effect"], abs=1e-12
        )


def test_decompose_terms_add_up_to_the_log_change():
    log_change, cap, price, count = decompose(25e9, 20e9, 33_000, 30_000, 700_000, 720_000)
    assert log_change == pytest.approx(cap - price - count, abs=1e-12)
    assert cap == pytest.approx(math.log(1.25)) and count == pytest.approx(math.log(700 / 720))


@pytest.fixture
def churn(wh):
    """Two category-basis days: a 10 -> 12, b 5 -> 4, c 3 -> left, d entered at 2, e null -> 1
    (billions); category cap 20 -> 25, so the gap goes 2 -> 6."""
    add_coins(wh, D1, {"a": 10e9, "b": 5e9, "c": 3e9, "e": None})
    add_coins(wh, D2, {"a": 12e9, "b": 4e9, "d": 2e9, "e": 1e9})
    add_reports(
        wh,
        report_row(D1, "fixed", 20e9, constituents_market_cap_usd=18e9),
        report_row(D2, "fixed", 25e9, constituents_market_cap_usd=19e9),
    )
    return wh


def test_coin_moves_contributions_sum_to_the_constituents_change(churn):
    coins = {c["coin_id"]: c for c in coin_moves(churn, D2, "fixed", top=None)}
    assert {k: c["contribution_usd"] for k, c in coins.items()} == {
        "a": 2e9,
        "b": -1e9,
        "c": -3e9,
        "d": 2e9,
        "e": 1e9,
    }
    total = sum(c["contribution_usd"] for c in coins.values())
    assert total == pytest.approx(19e9 - 18e9)
    assert all(c["constituents_change_usd"] == pytest.approx(total) for c in coins.values())
    assert coins["a"]["previous_sum_usd"] == 18e9


def test_coin_moves_membership_churn(churn):
    coins = {c["coin_id"]: c["membership"] for c in coin_moves(churn, D2, "fixed", top=None)}
    assert coins == {"a": "stayed", "b": "stayed", "c": "left", "d": "entered", "e": "stayed"}


def test_coin_moves_top_keeps_the_largest_each_way_and_every_churned_coin(churn):
    coins = [c["coin_id"] for c in coin_moves(churn, D2, "fixed", top=1)]
    # up: a (+2, tie with d broken by id); down: c (-3, also left); d entered
    assert coins == ["a", "d", "c"]


def test_category_gap_is_the_category_figure_moving_without_its_coins(churn):
    (gap,) = category_gap(churn, D2, "fixed")
    assert (gap["previous_gap_usd"], gap["gap_usd"]) == (2e9, 6e9)
    assert gap["gap_change_usd"] == 4e9
    sector_change = gap["sector_market_cap_usd"] - gap["previous_sector_market_cap_usd"]
    constituents = sum(c["contribution_usd"] for c in coin_moves(churn, D2, "fixed", top=None))
    assert sector_change == pytest.approx(constituents + gap["gap_change_usd"])


def test_price_changes_quotes_entered_and_left_with_central_values(wh):
    d0 = date(2024, 3, 1)
    add_quote(wh, "q-s1-old", "s1", d0, 30_000)
    add_quote(wh, "q-s2", "s2", d0, 28_000)
    add_quote(wh, "q-s1-new", "s1", D2, 33_000)  # s1's newer quote replaces its old one
    add_quote(wh, "q-s3", "s3", D2, 31_000)  # a new source
    add_quote(wh, "q-rent", "s4", D2, 2.5, kind="rental_hourly")  # another kind: not in
    add_reports(
        wh,
        report_row(D1, "bought", 25e9, price=29_000, quotes=2, median=29_000),
        report_row(D2, "bought", 25e9, price=31_000, quotes=3, median=31_000),
    )
    summary, changes = price_changes(wh, _move(wh, D2, "bought"))
    assert (summary["previous_central_usd"], summary["central_usd"]) == (29_000, 31_000)
    assert (summary["previous_quote_count"], summary["price_quote_count"]) == (2, 3)
    assert sorted((c["change"], c["quote_id"]) for c in changes) == [
        ("entered", "q-s1-new"),
        ("entered", "q-s3"),
        ("left", "q-s1-old"),
    ]
    assert (summary["quotes_entered"], summary["quotes_left"]) == (2, 1)


def test_explain_paragraph_names_coins_churn_gap_and_price(churn):
    text = explain_paragraph(churn, D2, "fixed")
    assert text == (
        "fixed coverage rose 25.0% since 2024-04-01 (0.926 \u2192 1.157): the sector"
        " cap rose 25.0%, led by A +10.0% and D +10.0%; 1 coin entered and 1 coin"
        " left the category; CoinGecko's category figure moved +20.0% beyond its"
        " coins; the H100 price is fixed at $30,000."
    )


def test_explain_paragraph_is_none_without_a_previous_report(churn):
    assert explain_paragraph(churn, D1, "fixed") is None
    assert explain_paragraph(churn, D2, "no-such-scenario") is None


def _ratio_move(**kw) -> RatioMove:
    base = dict(
        report_date=D2,
        scenario="h100-rent",
        previous_report_date=D1,
        coverage_ratio=1.0,
        previous_ratio=1.0,
        sector_market_cap_usd=20e9,
        previous_sector_market_cap_usd=20e9,
        unit_price_usd=30_000,
        previous_unit_price_usd=30_000,
        gpu_count=720_000,
        previous_gpu_count=720_000,
        gpu_sku="H100",
        price_kind="rental_hourly",
    )
    return RatioMove(**{**base, **kw})


def test_paragraph_falling_price_side_and_count_change():
    move = _ratio_move(
        coverage_ratio=0.8,
        previous_ratio=0.9,
        sector_market_cap_usd=18e9,
        unit_price_usd=30_750,
        gpu_count=700_000,
    )
    cap = CapSide(
        coins=(
            CoinMove("fetch-ai", "fet", -1.24e9),
            CoinMove("render", "rndr", -0.58e9),
            CoinMove("x", "x", 0.1e9),
            CoinMove("gone", "gone", -0.1e9, "left"),
            CoinMove("gone2", None, -0.05e9, "left"),
        )
    )
    price = PriceSide(previous_central_usd=2.00, central_usd=2.05, entered=1, left=0)
    text = paragraph(move, cap, price)
    assert text.startswith(
        "h100-rent coverage fell 11.1% since 2024-04-01 (0.900 \u2192 0.800):"
        " the sector cap fell 10.0%, led by FET \u22126.2% and RNDR \u22122.9%;"
        " 2 coins left the category;"
    )
    assert (
        "the H100 on-demand rental price rose 2.5% ($2.00 \u2192 $2.05) (1 quote entered)" in text
    )
    assert text.endswith("the GPU count changed from 720,000 to 700,000.")
    assert "\n" not in text


def test_with_explanation_extends_only_movement_alerts():
    from capcover.model.alerts import Alert, with_explanation

    def alert(rule: str) -> Alert:
        return Alert(D2, "fixed", rule, "1.0", D1, 0.9, 1.1, f"{rule} message (report {D2})")

    why = "fixed coverage rose 22.2% since 2024-04-01 (0.900 \u2192 1.100): ..."
    for rule in ("threshold_crossed", "relative_change"):
        explained = with_explanation(alert(rule), why)
        assert explained.message == f"{rule} message (report 2024-04-02). Why: {why}"
        assert explained.key == alert(rule).key  # the same alert, never a second one
    assert with_explanation(alert("stale_data"), why) == alert("stale_data")
    assert with_explanation(alert("relative_change"), None) == alert("relative_change")
