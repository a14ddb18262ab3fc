"""`capcover explain` in every format, and the "why" in alerts and the run's artifact."""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import replace

import pytest

from capcover.cli.main import main
from capcover.flows.sequence import run_daily
from capcover.model.text import md_text
from capcover.report.artifacts import summary_markdown
from capcover.warehouse.db import open_warehouse
from tests.conftest import category_payload, market_pages
from tests.helpers import report_row
from tests.test_explain import D1, D2, add_coins, add_quote, add_reports

PARAGRAPH_START = "bought coverage rose 17.2% since 2024-04-01 (0.965 \u2192 1.130):"


@pytest.fixture
def db(env):
    """Two days: coins a 10 -> 12 and c 3 -> left, d entered (billions); the H100 purchase
    median 30,000 -> 32,000 with one quote entering; one fixed-price scenario beside it."""
    path = env["CAPCOVER_DB"]
    with open_warehouse(path) as wh:
        add_coins(wh, D1, {"a": 10e9, "c": 3e9})
        add_coins(wh, D2, {"a": 12e9, "d": 2e9})
        add_quote(wh, "q-old", "s1", D1, 30_000)
        add_quote(wh, "q-new", "s2", D2, 34_000)
        add_reports(
            wh,
            report_row(
                D1,
                "bought",
                20e9,
                constituents_market_cap_usd=13e9,
                quotes=1,
                median=30_000,
                price=30_000 * 0.96,
            ),
            report_row(
                D2,
                "bought",
                25e9,
                constituents_market_cap_usd=14e9,
                quotes=2,
                median=32_000,
                price=32_000 * 0.96,
            ),
            report_row(D1, "fixed", 20e9, constituents_market_cap_usd=13e9),
            report_row(D2, "fixed", 25e9, constituents_market_cap_usd=14e9),
        )
    return path


def _explain(capsys, *args) -> str:
    assert main(["explain", *args]) == 0
    return capsys.readouterr().out


def test_explain_table_prints_the_paragraph_and_every_table(db, capsys):
    out = _explain(capsys, "--date", "2024-04-02", "--scenario", "bought")
    text = " ".join(out.split())  # the paragraph is wrapped to the terminal's width
    assert PARAGRAPH_START in text
    assert "led by A +10.0%" in text and "1 coin entered and 1 coin left the category" in text
    assert "the H100 purchase price rose 6.7% ($30,000 \u2192 $32,000) (1 quote entered)" in text
    for title in ("moves:", "coins:", "gap:", "prices:", "quotes:"):
        assert title in out
    (quote,) = [line for line in out.splitlines() if " s2 " in line]  # the quote that entered
    assert [c.strip() for c in quote.strip("\u2502").split("\u2502")] == [
        "bought",
        "entered",
        "H100",
        "s2",
        "2024-04-02",
        "$34,000",
    ]
    assert "left" in out and all(len(line) <= 100 for line in out.splitlines())


def test_explain_json_terms_add_up_and_carry_every_section(db, capsys):
    data = json.loads(_explain(capsys, "--format", "json"))
    assert data["report_date"] == "2024-04-02"  # the latest by default
    assert set(data["paragraphs"]) == {"bought", "fixed"}
    assert data["paragraphs"]["bought"].startswith(PARAGRAPH_START)
    moves = {m["scenario"]: m for m in data["moves"]}
    b = moves["bought"]
    assert b["log_change"] == pytest.approx(
        b["cap_effect"] - b["price_effect"] - b["count_effect"], abs=1e-12
    )
    assert b["price_effect"] == pytest.approx(math.log(32 / 30))
    assert moves["fixed"]["price_effect"] == 0
    coins = {c["coin_id"]: c for c in data["coins"]}
    assert coins["c"]["membership"] == "left" and coins["d"]["membership"] == "entered"
    assert sum(c["contribution_usd"] for c in data["coins"]) == pytest.approx(1e9)
    assert data["gap"][0]["gap_change_usd"] == pytest.approx(4e9)  # (25-14) - (20-13)
    prices = {p["scenario"]: p for p in data["prices"]}
    assert (prices["bought"]["previous_central_usd"], prices["bought"]["central_usd"]) == (
        30_000,
        32_000,
    )
    assert prices["fixed"]["central_usd"] is None  # a fixed price has no quote set
    assert prices["fixed"]["unit_price_usd"] == 30_000
    assert [(q["change"], q["quote_id"]) for q in data["quotes"]] == [("entered", "q-new")]


def _csv_blocks(out: str) -> dict[str, str]:
    """`explain --format csv`'s blocks by their `# <section>` head (an empty section: its head
    alone, the body "")."""
    return {head: body for head, _, body in (b.partition("\n") for b in out.split("\n\n"))}


def test_explain_csv_has_one_block_per_section(db, capsys):
    out = _explain(capsys, "--format", "csv", "--scenario", "bought")
    blocks = _csv_blocks(out)
    assert list(blocks) == [
        "# moves",
        "# coins",
        "# gap",
        "# prices",
        "# quotes",
        "# parameters",
        "# depth",
    ]
    assert blocks["# parameters"] == ""  # no compute-equivalent, no total cost: its head only
    assert blocks["# depth"] == ""  # no rental row: no count of rentable GPUs
    (move,) = csv.DictReader(io.StringIO(blocks["# moves"]))
    assert move["scenario"] == "bought" and move["previous_report_date"] == "2024-04-01"
    assert float(move["cap_effect"]) == pytest.approx(math.log(1.25))
    coins = {r["coin_id"]: r for r in csv.DictReader(io.StringIO(blocks["# coins"]))}
    assert float(coins["a"]["contribution_usd"]) == 2e9
    (quote,) = csv.DictReader(io.StringIO(blocks["# quotes"]))
    assert (quote["change"], quote["source"], float(quote["price_usd"])) == (
        "entered",
        "s2",
        34_000,
    )


def test_explain_markdown_has_the_paragraph_and_tables(db, capsys):
    out = _explain(capsys, "--format", "markdown", "--scenario", "fixed")
    # The paragraph is Markdown-escaped (it names coins from outside): it reads as plain text.
    assert out.startswith("## Why it moved (2024-04-02)\n\n" + md_text("fixed coverage rose 25.0%"))
    assert md_text("the H100 price is fixed at $30,000.") in out
    assert "### moves:" in out and "| scenario | since | ratio | change | cap | price |" in out
    assert "| fixed | 2024-04-01 | 0.926 \u2192 1.157 | 0.223 | 0.223 | 0.000 | 0.000 |" in out


def test_explain_a_first_day_is_an_empty_result_in_one_line(db, capsys):
    assert main(["explain", "--date", "2024-04-01"]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err == (
        f"capcover: the report of 2024-04-01 has no previous report to compare with in {db} "
        "— pick a later --date (see `capcover report`)\n"
    )


def test_explain_missing_warehouse_is_one_line(env, capsys):
    assert main(["explain"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("capcover: error: no warehouse at") and err.count("\n") == 1


def _day(updated_at: str, cap: float, factor: float, drop_last: bool = False):
    pages = market_pages()
    for page in pages:
        for c in page:
            if c["market_cap"]:
                c["market_cap"] = c["market_cap"] * factor
    if drop_last:
        pages[-1] = pages[-1][:-1]
    return category_payload(cap=cap, updated_at=updated_at), pages


def test_daily_run_alerts_and_artifact_carry_the_explanation(fake_cg, settings):
    cats, pages = _day("2024-04-02T06:40:00.000Z", 20e9, 1.0)
    fake_cg.serve(categories=cats, pages=pages)
    first = run_daily(settings)
    assert first.explanations == {}  # nothing to compare with yet
    fake_cg.clear()
    cats, pages = _day("2024-04-03T06:40:00.000Z", 25e9, 1.1, drop_last=True)
    fake_cg.serve(categories=cats, pages=pages)
    result = run_daily(settings)

    why = result.explanations["coindesk-2024"]
    assert why.startswith("coindesk-2024 coverage rose 25.0% since 2024-04-02")
    assert "1 coin left the category" in why
    moved = [
        a.alert for a in result.alerts if a.alert.rule in ("threshold_crossed", "relative_change")
    ]
    assert moved and all(
        a.message.endswith(f". Why: {result.explanations[a.scenario]}") for a in moved
    )
    with open_warehouse(settings.db, read_only=True) as wh:
        stored = wh.query(
            "SELECT message FROM alerts WHERE rule = 'relative_change'"
            " AND scenario = 'coindesk-2024'"
        )
    assert stored[0][0].endswith(f"Why: {why}")
    md = summary_markdown(result)
    assert "**Why it moved**" in md and f"- {md_text(why)}" in md
    assert "**Why it moved**" not in summary_markdown(replace(result, explanations={}))


@pytest.fixture
def tco_db(db):
    """The two days of `db` plus a total-cost and a compute-equivalent scenario on both."""
    costs = {
        "tco_years": 5.0,
        "tco_watts_per_gpu": 700.0,
        "tco_pue": 1.54,
        "tco_usd_per_kwh": 0.0806,
        "tco_hosting_usd_per_kw_month": 184.06,
        "tco_capex_usd": 55_200.0,
        "tco_power_usd": 3_805.64,
        "tco_hosting_usd": 7_730.52,
    }
    compute = {
        "compute_equivalents": 720_000,
        "compute_reference": "H100 SXM",
        "compute_chip": "B200 HGX",
        "compute_metric": "dense_fp8",
        "compute_reference_tflops": 1979.0,
        "compute_chip_tflops": 4500.0,
        "compute_table_version": 1,
    }
    with open_warehouse(db) as wh:
        add_reports(
            wh,
            *[
                report_row(day, "tco", cap, price=66_736.13, **costs)
                for day, cap in ((D1, 20e9), (D2, 25e9))
            ],
            *[
                report_row(day, "b200eq", cap, count=316_640, price=40_000, **compute)
                for day, cap in ((D1, 20e9), (D2, 25e9))
            ],
        )
    return db


def test_explain_shows_the_scenario_parameters_in_every_format(tco_db, capsys):
    out = _explain(capsys, "--scenario", "tco")
    assert "parameters: scenario parameters" in out
    (pue,) = [line for line in out.splitlines() if " tco_pue " in line]
    assert [c.strip() for c in pue.strip().strip("│").split("│")][:4] == [
        "tco",
        "tco_pue",
        "1.54",
        "ratio",
    ]
    data = json.loads(_explain(capsys, "--scenario", "tco", "--format", "json"))
    params = {p["parameter"]: p for p in data["parameters"]}
    assert params["tco_hosting_usd_per_kw_month"]["value"] == 184.06
    assert params["tco_hosting_usd_per_kw_month"]["unit"] == "USD per kW-month"
    assert params["unit_price_usd"]["note"] == "capex + power + hosting"
    assert [p["parameter"] for p in data["parameters"]][:2] == ["tco_years", "tco_watts_per_gpu"]
    out = _explain(capsys, "--scenario", "b200eq", "--format", "csv")
    blocks = _csv_blocks(out)
    rows = {r["parameter"]: r for r in csv.DictReader(io.StringIO(blocks["# parameters"]))}
    assert float(rows["compute_equivalents"]["value"]) == 720_000
    assert rows["compute_chip_tflops"]["unit"] == "dense_fp8 TFLOPS per B200 HGX"
    assert rows["compute_chip_tflops"]["note"] == "throughput table v1"
    assert rows["gpu_count"]["note"] == "round(720000 x 1979.0 / 4500.0)"


def test_api_reader_gives_the_scenario_parameters_as_the_cli_prints_them(tco_db):
    from capcover.api import Reader

    reader = Reader(db=tco_db)
    table = reader.report_parameters(scenario="b200eq")
    assert table.columns == ["scenario", "parameter", "value", "unit", "note"]
    by = {r["parameter"]: r for r in table.records()}
    assert by["gpu_count"]["value"] == 316_640 and by["compute_chip_tflops"]["value"] == 4500
    assert reader.report_parameters(scenario="fixed").rows == []  # no parameters: none
    why = reader.explain(scenario="tco")
    assert [p["parameter"] for p in why.parameters][-1] == "unit_price_usd"
    assert why.as_dict()["parameters"] == why.parameters
