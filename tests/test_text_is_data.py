"""Text from outside is data everywhere it is shown (issue 22, item 8): hostile strings (ANSI
escapes, C0/C1 controls, bidi overrides, Markdown links and images, HTML, spreadsheet
formulas, autolinks, javascript: URLs) through EVERY renderer: the terminal table, CSV, JSON,
Markdown, the HTML report, the alert digest (text and Markdown) and the Prefect artifact's
Markdown. The rules are model/text.py's; these tests generate members of each class."""

from __future__ import annotations

import csv
import html
import io
import json
import re
from datetime import UTC, date, datetime

from hypothesis import given, settings
from hypothesis import strategies as st
from markdown_it import MarkdownIt

from capcover.model.text import defang, escape_controls, md_text, safe_href
from capcover.report.html import render_html
from capcover.report.tables import render
from tests.test_html_report import _handmade

PAYLOADS = [
    "[x](http://evil.example)",
    "![i](http://evil.example/i.png)",
    "<http://evil.example>",
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "http://evil.example/path",
    "www.evil.example",
    "mailto:a@evil.example",
    "a@evil.example",
    "javascript:alert(1)",
    '=HYPERLINK("http://evil.example","x")',
    "+1+1",
    "-2+3",
    "@SUM(A1)",
    " =1+1",
    "\t=1",
    "\r=1",
    "\x1b[31mred\x1b[0m",
    "\x1b]8;;http://evil.example\x07link\x1b]8;;\x07",
    "\u202eevil\u202c",
    "\u2066x\u2069",
    "a\nb",
    "a\u2028b",
    "\x85\x9b",
    "`code`",
    "*em* _em_ **b** ~~s~~",
    "| a | b |",
    "# heading",
    "1. item",
    "&amp; &#x41;",
    "[ref]: http://evil.example",
    "\\[x\\](y)",
]
# Characters that build the classes: controls, bidi, separators, Markdown and HTML syntax.
ALPHABET = st.sampled_from(
    list("\x00\x07\x1b\x7f\x85\x9b\u200e\u202a\u202e\u2066\u2069\u2028[]()<>!*_`#|~&@:=+-./\\ ")
    + list("abcXYZ019")
)
HOSTILE = st.one_of(
    st.sampled_from(PAYLOADS),
    st.text(ALPHABET, max_size=40),
    st.lists(st.sampled_from(PAYLOADS), min_size=2, max_size=4).map(" ".join),
    st.text(max_size=30),
)
# What must never reach a terminal or a page raw (model/text.py's class).
RAW = re.compile(
    "[\x00-\x09\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029]"
)
COMMONMARK = MarkdownIt("commonmark").enable(["table", "strikethrough"])
LINKISH = re.compile(r"<(a|img|script|iframe|object|svg)\b|<[^>]*\b(href|src)=", re.IGNORECASE)


def _md_html(source: str) -> list[str]:
    """`source` rendered by the two Markdown renderers a digest or artifact meets: CommonMark
    (markdown-it) and Python-Markdown as Apprise configures it for HTML services."""
    from apprise.conversion import markdown_to_html

    return [COMMONMARK.render(source), markdown_to_html(source)]


@settings(max_examples=300, deadline=None)
@given(HOSTILE)
def test_markdown_text_renders_literally_and_never_as_a_link(text):
    escaped = md_text(text)
    for rendered in _md_html(escaped):
        assert not LINKISH.search(rendered), rendered
        tags = set(re.findall(r"</?([a-z0-9]+)", rendered))
        assert tags <= {"p"}, (text, rendered)  # no markup at all from the text
    shown = html.unescape(re.sub(r"</?p>", "", COMMONMARK.render(escaped)))
    assert " ".join(shown.split()) == " ".join(defang(escape_controls(text)).split())
    assert "://" not in shown and "www." not in shown.lower()  # nothing left to autolink


@settings(max_examples=200, deadline=None)
@given(st.lists(HOSTILE, min_size=1, max_size=3))
def test_terminal_table_never_carries_a_raw_control(cells):
    cols = [f"c{i}" for i in range(len(cells))]
    out = render(cols, [tuple(cells)], "table", title=cells[0], width=100)
    assert not RAW.search(out)
    wide = render(cols, [tuple(cells)], "table", width=0)
    assert not RAW.search(wide)


@settings(max_examples=200, deadline=None)
@given(st.lists(HOSTILE, min_size=1, max_size=3), st.floats(-1e6, 1e6) | st.integers())
def test_csv_cells_are_never_formulas_and_numbers_are_untouched(cells, number):
    cols = [f"c{i}" for i in range(len(cells))] + ["n"]
    for exact in (False, True):
        out = render(cols, [(*cells, number)], "csv", exact=exact)
        assert not RAW.search(out)
        (row,) = list(csv.DictReader(io.StringIO(out)))
        for i in range(len(cells)):
            value = row[f"c{i}"]
            assert not re.match(r"\s*[=+\-@]", value) or value.startswith("'"), value
        # A negative number is a number, not a formula; an integer is read back as one (a
        # float would round 2**53 + 1, which a full run once drew).
        parse = int if isinstance(number, int) else float
        assert parse(row["n"]) == number


@settings(max_examples=200, deadline=None)
@given(st.lists(HOSTILE, min_size=1, max_size=3))
def test_json_keeps_the_exact_text_escaped(cells):
    cols = [f"c{i}" for i in range(len(cells))]
    out = render(cols, [tuple(cells)], "json")
    assert out.isascii() and not RAW.search(out)
    assert list(json.loads(out)[0].values()) == cells


@settings(max_examples=150, deadline=None)
@given(st.lists(HOSTILE, min_size=1, max_size=3))
def test_markdown_table_cells_stay_in_their_cells(cells):
    cols = [f"c{i}" for i in range(len(cells))]
    out = render(cols, [tuple(cells)], "markdown")
    body = out.splitlines()
    assert len(body) == 3  # header, rule, one row: no line break from the text
    for rendered in _md_html(out):
        assert not LINKISH.search(rendered), rendered
        assert rendered.count("<td") == len(cells)  # no cell boundary from the text


@settings(max_examples=60, deadline=None)
@given(HOSTILE, HOSTILE, HOSTILE)
def test_html_report_shows_hostile_names_and_urls_as_text(name, symbol, url):

    data = _handmade("coindesk-2024", name)
    data.constituents[0]["symbol"] = symbol
    data.quotes = [
        {
            "sku": "H100",
            "kind": "purchase",
            "source": symbol,
            "price_usd": 30000.0,
            "observed_date": date(2024, 4, 1),
            "source_url": url,
        }
    ]
    page = render_html(data)
    body = page.split("<body>", 1)[1]
    assert not RAW.search(body)
    assert "<script" not in body.lower()
    links = re.findall(r'<a href="([^"]*)"', body)
    assert all(safe_href(html.unescape(h)) for h in links)
    assert len(links) == (1 if safe_href(url) else 0)


def _digest(scenario: str, message: str, why: str, value: str):
    from capcover.notify.digest import DigestAlert, digest

    alert = DigestAlert(
        "0123456789abcdef",
        date(2024, 4, 3),
        scenario,
        "threshold_crossed",
        "1.0",
        f"{message}. Why: {why}",
        {"sector market cap": value, "buildout cost": "$21.60B"},
    )
    return digest([alert], run_id="r1", undelivered_hint="`capcover alerts --undelivered`")


@settings(max_examples=150, deadline=None)
@given(HOSTILE, HOSTILE, HOSTILE.filter(bool), HOSTILE)
def test_alert_digest_bodies_keep_their_shape_and_make_no_links(scenario, message, why, value):
    msg = _digest(scenario, message, why, value)
    # Text: only capcover's own line breaks, so the shape never depends on the text.
    assert not RAW.search(msg.text) and not RAW.search(msg.title)
    shape = _digest("s", "m", "w", "v").text
    assert len(msg.text.splitlines()) == len(shape.splitlines())
    for rendered in _md_html(msg.markdown):
        assert not LINKISH.search(rendered), rendered
    assert not RAW.search(msg.markdown)


@settings(max_examples=100, deadline=None)
@given(HOSTILE, HOSTILE, HOSTILE)
def test_prefect_artifact_markdown_makes_no_links(scenario, why, message):
    from capcover.model.report import ReportRow
    from capcover.model.run import RunResult
    from capcover.report.artifacts import report_table, summary_markdown

    names = {f.name for f in ReportRow.__dataclass_fields__.values()}
    values = {n: None for n in names}
    values.update(
        report_date=date(2024, 4, 3),
        scenario=scenario,
        gpu_sku="H100",
        gpu_count=720_000,
        unit_price_usd=30_000.0,
        buildout_cost_usd=21.6e9,
        sector_market_cap_usd=25e9,
        coverage_ratio=1.157,
        price_basis=message,
        basis="category",
        market_as_of=datetime(2024, 4, 3, tzinfo=UTC),
    )
    row = ReportRow(**values)

    class Stored:
        class alert:
            pass

    Stored.alert.message = f"{message}. Why: {why}"
    result = RunResult(
        run_id="r1",
        kind="daily",
        as_of_date=date(2024, 4, 3),
        reports=[row],
        sector_market_cap_usd=25e9,
        alerts=[Stored],
        explanations={scenario: why},
        skipped=[(scenario, message)],
    )
    text = summary_markdown(result)
    assert not RAW.search(text)
    for rendered in _md_html(text):
        assert not LINKISH.search(rendered), rendered
    assert not any(RAW.search(str(v)) for r in report_table(result) for v in r.values())
