"""Why it moved, read once: `why_it_moved` (behind `capcover explain`) reads each view once for
all scenarios, and what it returns is what the one-scenario reads give one by one."""

from __future__ import annotations

from dataclasses import replace

import pytest

from capcover.warehouse.db import open_warehouse
from capcover.warehouse.explain import (
    _ranked_coin_moves,
    _within_top,
    category_gap,
    coin_moves,
    explain_paragraph,
    explanations,
    price_changes,
    price_changes_of,
    ratio_moves,
    why_it_moved,
)
from tests.helpers import report_row
from tests.test_explain import D1, D2, add_coins, add_quote, add_reports

SCENARIOS = ("bought", "cheap", "fixed", "rented")


@pytest.fixture
def wh(tmp_path):
    """Two days, four scenarios: coins that rose, fell, stood still (zero contribution), had
    no cap, entered and left; purchase quotes entering and leaving; a rental quote set."""
    with open_warehouse(tmp_path / "reads.duckdb") as w:
        add_coins(w, D1, {"a": 10e9, "b": 5e9, "c": 3e9, "e": None, "f": 1e9, "g": 2e9, "h": 4e9})
        add_coins(w, D2, {"a": 12e9, "b": 4e9, "d": 2e9, "e": 1e9, "f": 1e9, "g": 2.5e9, "h": 3e9})
        add_quote(w, "q-old", "s1", D1, 30_000)
        add_quote(w, "q-keep", "s2", D1, 29_000)
        add_quote(w, "q-new", "s1", D2, 34_000)
        add_quote(w, "q-rent", "s3", D1, 2.5, kind="rental_hourly")
        rows = []
        for day, cap, constituents in ((D1, 20e9, 25e9), (D2, 25e9, 25.5e9)):
            rows += [
                report_row(day, "fixed", cap, constituents_market_cap_usd=constituents),
                report_row(
                    day, "cheap", cap, price=20_000.0, constituents_market_cap_usd=constituents
                ),
                report_row(
                    day,
                    "bought",
                    cap,
                    constituents_market_cap_usd=constituents,
                    quotes=2,
                    median=29_500 if day == D1 else 31_500,
                    price=29_500 if day == D1 else 31_500,
                ),
            ]
            rows.append(
                replace(
                    report_row(
                        day,
                        "rented",
                        cap,
                        constituents_market_cap_usd=constituents,
                        quotes=1,
                        median=2.5,
                        price=2.5 * 8_760,
                    ),
                    price_basis="median rental quote x 8,760 h",
                )
            )
        add_reports(w, *rows)
        yield w


def test_why_it_moved_is_each_read_alone_for_every_scenario(wh):
    why = why_it_moved(wh, D2)
    moves = ratio_moves(wh, D2)
    assert [m["scenario"] for m in why["moves"]] == list(SCENARIOS) and why["moves"] == moves
    assert why["coins"] == coin_moves(wh, D2, top=5)
    assert why["gap"] == category_gap(wh, D2)
    assert why["paragraphs"] == explanations(wh, D2)
    # The batched reads agree with reading one scenario at a time.
    assert why["price_changes"] == [price_changes(wh, m) for m in moves]
    assert why["paragraphs"] == {s: explain_paragraph(wh, D2, s) for s in SCENARIOS}
    for s in SCENARIOS:
        (move,) = ratio_moves(wh, D2, s)
        assert price_changes_of(wh, [move]) == [price_changes(wh, move)]


def test_why_it_moved_price_changes_name_entered_and_left_quotes_per_scenario(wh):
    changes = {
        summary["scenario"]: (summary, quotes)
        for summary, quotes in why_it_moved(wh, D2)["price_changes"]
    }
    summary, quotes = changes["bought"]
    assert sorted((q["change"], q["quote_id"]) for q in quotes) == [
        ("entered", "q-new"),
        ("left", "q-old"),
    ]
    assert (summary["quotes_entered"], summary["quotes_left"]) == (1, 1)
    assert changes["rented"][1] == [] and changes["fixed"][1] == []  # same set; no set
    assert (changes["bought"][0]["previous_central_usd"], summary["central_usd"]) == (
        29_500,
        31_500,
    )


@pytest.mark.parametrize("top", [0, 1, 2, 3, 5])
def test_coin_moves_smaller_top_cut_from_ranked_rows_is_the_sql_filter(wh, top):
    # Cut in Python from rows read for top=5 (or for every coin) == filtered by the SQL itself.
    for read_top in (5, None):
        for scenario in (None, "fixed"):
            ranked = _ranked_coin_moves(wh, D2, scenario, read_top)
            assert _within_top(ranked, top) == coin_moves(wh, D2, scenario, top=top)


def test_why_it_moved_without_a_previous_report_is_empty(wh):
    why = why_it_moved(wh, D1)
    assert why["moves"] == [] and why["price_changes"] == [] and why["paragraphs"] == {}
    assert why["coins"] == coin_moves(wh, D1) == []
