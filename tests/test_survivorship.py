"""Survivorship said where the number is shown: a backfilled row's cap is TODAY's constituents
summed over a past day, and `capcover report`, `capcover explain`, the HTML report and the
column comments say so (a marker beside the number and a footnote)."""

from __future__ import annotations

import io
import json
import os

import pytest

from capcover.cli.main import main
from capcover.config.settings import load_settings
from capcover.fakeapi.coingecko import CoinGecko
from capcover.flows.backfill import run_backfill
from capcover.warehouse.db import open_warehouse


@pytest.fixture
def backfilled(tmp_path, monkeypatch):
    """A warehouse holding only backfilled days (basis history): 20 coins, 30 days."""
    for key in list(os.environ):
        if key.startswith("CAPCOVER_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("CAPCOVER_DB", str(tmp_path / "capcover.duckdb"))
    monkeypatch.setenv("CAPCOVER_GPUHUNT_PROVIDERS", "")
    from rich.console import Console

    with CoinGecko.charts(n_coins=20) as srv:
        monkeypatch.setenv("CAPCOVER_COINGECKO_BASE_URL", srv.base_url)
        monkeypatch.setenv("CAPCOVER_COINGECKO_RATE_PER_MINUTE", "60000")
        settings = load_settings()
        run_backfill(settings, 30, console=Console(file=io.StringIO()))
    return settings


def test_survivorship_report_table_marks_the_cap_and_says_why(backfilled, capsys):
    assert main(["report", "--scenario", "coindesk-2024"]) == 0
    out = capsys.readouterr().out
    cap_cells = [line for line in out.splitlines() if "coindesk-2024" in line]
    assert cap_cells and all("B *" in line for line in cap_cells)
    # The footnote is the last paragraph, under the table, wrapped to the terminal's width.
    lines = out.rstrip().splitlines()
    (start,) = [i for i, ln in enumerate(lines) if ln.startswith("* today's constituents: ")]
    assert lines[start - 1].startswith("\u2514")  # the table's bottom rule
    assert all(ln.startswith("  ") for ln in lines[start + 1 :])  # its continuation lines
    footnote = " ".join(ln.strip() for ln in lines[start:])
    assert footnote.startswith("* today's constituents: on a backfilled row (basis history)")
    assert footnote.endswith("lower bound biased toward survivors (column survivorship_biased)")


def test_survivorship_report_markdown_marks_the_cap_and_escapes_the_footnote(backfilled, capsys):
    assert main(["report", "--scenario", "coindesk-2024", "--format", "markdown"]) == 0
    lines = capsys.readouterr().out.rstrip().splitlines()
    assert "| sector cap |" in lines[0]
    assert all("B * |" in ln for ln in lines[2:-2])
    # The footnote is its own paragraph, its `*` escaped (no Markdown emphasis or list item).
    assert lines[-2] == "" and lines[-1].startswith("\\* today's constituents\\: on a backfilled")


def test_survivorship_footnote_only_under_a_shown_cap(backfilled, capsys):
    assert main(["report", "--columns", "scenario,coverage_ratio"]) == 0
    out = capsys.readouterr().out
    assert "today's constituents" not in out and " *" not in out
    assert main(["report", "--columns", "scenario,sector_market_cap_usd"]) == 0
    assert "today's constituents" in capsys.readouterr().out


def test_survivorship_report_json_carries_the_column(backfilled, capsys):
    assert main(["report", "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows and all(r["survivorship_biased"] is True and r["basis"] == "history" for r in rows)
    assert all(r["sector_cap_method"] == "history-union" for r in rows)


def test_survivorship_explain_marks_the_cap_and_adds_the_footnote(backfilled, capsys):
    assert main(["explain", "--scenario", "coindesk-2024"]) == 0
    text = " ".join(capsys.readouterr().out.split())  # paragraphs wrap to the terminal
    assert "the sector cap (today's constituents*) " in text
    assert "* today's constituents: a backfilled cap sums the coins in the category TODAY" in text


def test_survivorship_html_report_marks_the_cap(backfilled, tmp_path, capsys):
    page = tmp_path / "r.html"
    assert main(["report", "--html", str(page)]) == 0
    html = page.read_text(encoding="utf-8")
    assert "<sup>*</sup> (history basis)" in html
    assert "<sup>*</sup> today's constituents: a backfilled cap" in html


def test_survivorship_a_daily_rows_cap_has_no_marker(fake_cg, settings, capsys):
    from capcover.flows.sequence import run_daily

    fake_cg.serve()
    run_daily(settings)
    capsys.readouterr()
    assert main(["report"]) == 0
    out = capsys.readouterr().out
    assert "B *" not in out and "today's constituents" not in out


def test_survivorship_column_comments_say_it_for_sql_users(backfilled):
    with open_warehouse(backfilled.db, read_only=True) as wh:
        comments = dict(
            wh.query(
                "SELECT column_name, comment FROM duckdb_columns()"
                " WHERE table_name = 'report_daily'"
                " AND column_name IN ('basis', 'sector_market_cap_usd', 'survivorship_biased')"
            )
        )
    for name in ("basis", "sector_market_cap_usd", "survivorship_biased"):
        assert "TODAY's constituents" in comments[name], name
    assert "biased toward the survivors" in comments["survivorship_biased"]
