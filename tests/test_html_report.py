"""`capcover report --html/--png`: one self-contained file rendered from a jinja2 template, every
scenario charted by report/chart.py, opened in headless Chromium (Debian's `chromium` package)
at 390 px and 1400 px wide.

Tests that need Chromium skip with the reason when it is missing, unless
CAPCOVER_REQUIRE_CHROMIUM=1 (set by .ci/run), which turns the skip into a failure.
"""

from __future__ import annotations

import html
import io
import json
import math
import os
import re
import shutil
import subprocess
import tempfile
from contextlib import redirect_stdout
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from capcover.cli.main import main
from capcover.config.settings import load_settings
from capcover.fakeapi.coingecko import CoinGecko
from capcover.flows.backfill import run_backfill
from capcover.report import chart
from capcover.report.html import (
    COLOURS,
    ReportData,
    chart_series,
    day_over_day,
    gather,
    render_html,
)
from capcover.warehouse.db import open_warehouse

CHROMIUM_PATHS = ("/usr/bin/chromium",)
REQUIRE_VAR = "CAPCOVER_REQUIRE_CHROMIUM"
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
)


# -- Chromium: found, skipped with a reason, or required -------------------------------------


def find_chromium(paths=CHROMIUM_PATHS, search_path: str | None = None, environ=os.environ) -> str:
    """The Chromium binary; otherwise skip with the reason, or fail when `environ` requires it."""
    for candidate in paths:
        if os.access(candidate, os.X_OK):
            return candidate
    found = shutil.which("chromium", path=search_path)
    if found:
        return found
    reason = (
        "Chromium not found (/usr/bin/chromium or `chromium` on PATH): "
        "apt-get install -y chromium to run the browser tests"
    )
    if environ.get(REQUIRE_VAR) == "1":
        pytest.fail(f"{reason}; {REQUIRE_VAR}=1 requires them", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def chromium() -> str:
    return find_chromium()


def run_chromium(binary: str, url: str, width: int, height: int, *extra: str) -> str:
    """Run headless Chromium on `url` in a fresh profile; its stdout (the DOM with --dump-dom)."""
    with tempfile.TemporaryDirectory(prefix="capcover-chromium-") as profile:
        done = subprocess.run(
            [
                binary,
                *CHROMIUM_FLAGS,
                f"--user-data-dir={profile}",
                f"--window-size={width},{height}",
                *extra,
                url,
            ],
            check=True,
            capture_output=True,
            text=True,
            timeout=120,
        )
    return done.stdout


# Measures the report laid out in an iframe exactly `width` CSS px wide: headless Chromium's
# window is at least 500 px, and an iframe's viewport is what a 390 px phone gives the page.
FRAME = """<!doctype html><html><head><meta charset="utf-8"><style>body{{margin:0}}
iframe{{border:0;display:block}}</style></head><body>
<iframe id="report" style="width:{width}px;height:{height}px" srcdoc="{srcdoc}"></iframe>
<script>
window.addEventListener("load", function () {{
  var doc = document.getElementById("report").contentDocument, root = doc.documentElement;
  var charts = [].map.call(doc.querySelectorAll(".card"), function (card) {{
    var svg = card.querySelector("svg.chart-svg"), r = svg ? svg.getBoundingClientRect() : null;
    return {{scenario: card.dataset.scenario, left: r ? r.left : 0, top: r ? r.top : 0,
             width: r ? r.width : 0, height: r ? r.height : 0}};
  }});
  function box(el) {{
    var r = el.getBoundingClientRect();
    return {{left: r.left, right: r.right, width: r.width, height: r.height,
             text: el.textContent.trim()}};
  }}
  var tables = [].map.call(doc.querySelectorAll("table"), function (t) {{
    var wrap = t.parentElement;
    return {{id: t.id, scrollWidth: wrap.scrollWidth, clientWidth: wrap.clientWidth,
             width: t.getBoundingClientRect().width}};
  }});
  var answers = [].map.call(doc.querySelectorAll("#latest-ratio .ratio-cell, "
    + "#latest-ratio .covers-cell"), box);
  var alertCells = [].map.call(doc.querySelectorAll("td.wrap"), box);
  var out = document.createElement("pre");
  out.id = "measure";
  out.textContent = JSON.stringify({{viewport: doc.defaultView.innerWidth,
    scrollWidth: root.scrollWidth, clientWidth: root.clientWidth,
    scrollHeight: root.scrollHeight, charts: charts, tables: tables, answers: answers,
    alertCells: alertCells}});
  document.body.appendChild(out);
}});
</script></body></html>"""


def frame_page(report_html: str, tmp_path: Path, width: int, height: int) -> Path:
    path = tmp_path / f"frame-{width}x{height}.html"
    path.write_text(
        FRAME.format(width=width, height=height, srcdoc=html.escape(report_html, quote=True)),
        encoding="utf-8",
    )
    return path


def measure(binary: str, report_html: str, tmp_path: Path, width: int) -> dict:
    # Tall enough that the frame never scrolls vertically (no scrollbar eats width).
    page = frame_page(report_html, tmp_path, width, 8000)
    dom = run_chromium(binary, page.as_uri(), max(width, 500), 900, "--dump-dom")
    found = re.search(r'<pre id="measure">(.*?)</pre>', dom, re.S)
    assert found, f"the measuring script did not run; DOM starts {dom[:200]!r}"
    return json.loads(html.unescape(found.group(1)))


def screenshot(binary: str, page: Path, png: Path, width: int, height: int) -> Image.Image:
    run_chromium(binary, page.as_uri(), width, height, f"--screenshot={png}")
    return Image.open(png).convert("RGB")


def colour_pixels(img: Image.Image, hex_colour: str, tolerance: int = 40) -> int:
    target = tuple(int(hex_colour[i : i + 2], 16) for i in (1, 3, 5))
    raw = img.tobytes()
    return sum(
        1
        for i in range(0, len(raw), 3)
        if all(abs(raw[i + k] - target[k]) <= tolerance for k in range(3))
    )


def test_find_chromium_skips_with_the_reason_when_missing(tmp_path):
    with pytest.raises(pytest.skip.Exception, match="apt-get install -y chromium"):
        find_chromium(paths=(), search_path=str(tmp_path), environ={})


def test_find_chromium_fails_when_required_and_missing(tmp_path):
    with pytest.raises(pytest.fail.Exception, match=f"{REQUIRE_VAR}=1 requires them"):
        find_chromium(paths=(), search_path=str(tmp_path), environ={REQUIRE_VAR: "1"})


def test_find_chromium_finds_it_on_path(tmp_path):
    binary = tmp_path / "chromium"
    binary.write_text("#!/bin/sh\n", encoding="utf-8")
    binary.chmod(0o755)
    assert find_chromium(paths=(), search_path=str(tmp_path), environ={REQUIRE_VAR: "1"}) == str(
        binary
    )


# -- a warehouse with history ------------------------------------------------------------------


@pytest.fixture(scope="module")
def reported_db(tmp_path_factory):
    """A warehouse with 30 days of history-basis reports (a backfill over a fake server)."""
    from rich.console import Console

    db = tmp_path_factory.mktemp("reported") / "capcover.duckdb"
    with CoinGecko.charts(n_coins=6) as srv:
        settings = load_settings(
            environ=False, db=db, coingecko_base_url=srv.base_url, coingecko_rate_per_minute=60000
        )
        run_backfill(settings, 30, console=Console(file=io.StringIO()))
    return db


@pytest.fixture(scope="module")
def report_files(reported_db, tmp_path_factory):
    """`capcover report --html --png` on the reported warehouse: (html path, png path, stdout)."""
    out = tmp_path_factory.mktemp("out")
    html_path, png_path = out / "capcover.report.html", out / "chart.png"
    buf = io.StringIO()
    with pytest.MonkeyPatch.context() as mp, redirect_stdout(buf):
        _clean_environment(mp)
        assert (
            main(
                [
                    "--db",
                    str(reported_db),
                    "report",
                    "--html",
                    str(html_path),
                    "--png",
                    str(png_path),
                ]
            )
            == 0
        )
    return html_path, png_path, buf.getvalue()


def _clean_environment(mp: pytest.MonkeyPatch) -> None:
    """No CAPCOVER_* setting of the developer's shell reaches the command under test."""
    for key in list(os.environ):
        if key.startswith("CAPCOVER_") and key != REQUIRE_VAR:
            mp.delenv(key)


def _data(db: Path) -> ReportData:
    with open_warehouse(db, read_only=True) as wh:
        return gather(wh)


def _svgs(text: str) -> list[str]:
    return re.findall(r"<svg\b.*?</svg>", text, re.S)


def test_html_report_is_self_contained_and_names_its_inputs(report_files):
    html_path, png_path, out = report_files
    assert f"wrote {html_path}" in out and f"wrote {png_path}" in out
    text = html_path.read_text(encoding="utf-8")
    # Self-contained: nothing to fetch, so it opens offline.
    assert "<script" not in text and "<link" not in text and "src=" not in text
    assert "1.0 = the sector cap buys the GPUs" in text and "coindesk-2024" in text
    assert "CoinDesk" in text  # the quotes behind the numbers, with their sources
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in text
    assert "@media (prefers-color-scheme: dark)" in text


def test_html_report_renders_the_chart_in_headless_chromium(report_files, chromium, tmp_path):
    html_path, png_path, _ = report_files
    shot = screenshot(chromium, html_path, tmp_path / "shot.png", 1200, 900)
    assert shot.size == (1200, 900)
    assert colour_pixels(shot, COLOURS["coindesk-2024"]) > 300  # the drawn history line
    png = Image.open(png_path).convert("RGB")
    assert colour_pixels(png, COLOURS["coindesk-2024"]) > 300


@pytest.mark.parametrize("width", [390, 1400])
def test_html_report_fits_the_width_and_draws_every_chart(
    report_files, reported_db, chromium, tmp_path, width
):
    text = report_files[0].read_text(encoding="utf-8")
    series = chart_series(_data(reported_db))
    assert len(series) >= 4  # the built-in scenarios, every one charted
    m = measure(chromium, text, tmp_path, width)
    assert m["viewport"] == width
    assert m["scrollWidth"] <= m["clientWidth"] == width  # no sideways scroll
    charts = {c["scenario"]: c for c in m["charts"]}
    assert sorted(charts) == sorted(s.scenario for s in series)
    rows = len({round(c["top"]) for c in m["charts"]})
    assert rows == (len(series) if width == 390 else math.ceil(len(series) / 2))  # 1 or 2 columns
    shot = screenshot(
        chromium,
        frame_page(text, tmp_path, width, m["scrollHeight"]),
        tmp_path / f"full-{width}.png",
        max(width, 500),
        m["scrollHeight"],
    )
    for s in series:
        box = charts[s.scenario]
        assert box["width"] > 250 and box["height"] > 100, (s.scenario, box)
        assert box["left"] >= 0 and box["left"] + box["width"] <= width, (s.scenario, box)
        crop = shot.crop(
            (
                int(box["left"]),
                int(box["top"]),
                int(box["left"] + box["width"]),
                int(box["top"] + box["height"]),
            )
        )
        assert colour_pixels(crop, s.colour) > 200, f"{s.scenario}'s line is not on screen"


def test_chromium_measure_sees_a_page_that_scrolls_sideways(chromium, tmp_path):
    wide = '<!doctype html><body style="margin:0"><div style="width:600px">wide</div></body>'
    m = measure(chromium, wide, tmp_path, 390)
    assert m["viewport"] == 390 and m["scrollWidth"] == 600 > m["clientWidth"]


def test_html_report_dark_scheme_applies_in_chromium(report_files, chromium, tmp_path):
    page = tmp_path / "dark.html"
    page.write_text(
        report_files[0]
        .read_text(encoding="utf-8")
        .replace(
            "</body>",
            "<script>document.body.dataset.bg = getComputedStyle("
            "document.documentElement).backgroundColor;</script></body>",
        ),
        encoding="utf-8",
    )
    dom = run_chromium(chromium, page.as_uri(), 1400, 900, "--dump-dom", "--force-dark-mode")
    assert 'data-bg="rgb(21, 23, 26)"' in dom


# -- the chart: one figure function for the PNG and the inline SVG ----------------------------


def test_chart_png_and_inline_svg_come_from_the_same_figure_function(report_files, reported_db):
    html_path, png_path, _ = report_files
    data = _data(reported_db)
    series = chart_series(data)
    inline = _svgs(html_path.read_text(encoding="utf-8"))
    assert len(inline) == len(series)
    for svg, s in zip(inline, series, strict=True):
        assert svg == chart.svg_text(
            chart.history_figure([s]), prefix=f"chart-{s.scenario}", label=chart.label(s.scenario)
        )
        assert "Matplotlib" in svg and ">1.0</text>" in svg  # matplotlib's, 1.0 on the grid
        assert f"stroke: {s.colour}" in svg
    expected = chart.png_bytes(
        chart.history_figure(series, columns=2, title=True, illustrative=data.illustrative)
    )
    assert png_path.read_bytes() == expected


@given(st.floats(0.001, 1000), st.floats(0.001, 1000))
def test_round_ticks_are_round_cover_the_data_and_hold_one(a, b):
    lo, hi = min(a, b), max(a, b)
    ticks = chart.round_ticks(lo, hi)
    assert 1.0 in ticks and ticks == sorted(ticks) and len(ticks) <= 12
    assert ticks[0] <= min(lo, 1.0) and ticks[-1] >= max(hi, 1.0)
    # Round: every tick is a whole number of one step of 1, 2 or 5 x 10^k, except 1.0 where
    # that step skips it (a step of 2 or more).
    others = [t for t in ticks if t != 1.0]
    assert any(_on_round_grid(grid, ticks) for grid in (ticks, others)), ticks


def _on_round_grid(grid: list[float], ticks: list[float]) -> bool:
    if len(grid) < 2:
        return len(ticks) <= 2
    measured = min(b - a for a, b in zip(grid, grid[1:], strict=False))
    magnitude = 10 ** math.floor(math.log10(measured) + 1e-9)
    nice = min((1, 2, 5, 10), key=lambda m: abs(measured / magnitude - m))
    step = nice * magnitude  # snapped, so float noise in the differences does not count
    return abs(measured / step - 1) < 1e-6 and all(
        abs(t / step - round(t / step)) < 1e-6 for t in grid
    )


def test_round_ticks_put_one_on_the_grid_of_a_high_ratio():
    assert chart.round_ticks(6.5, 10.36) == [1.0, 4, 6, 8, 10, 12]
    assert chart.round_ticks(0.8, 1.28) == [0.8, 0.9, 1.0, 1.1, 1.2, 1.3]
    assert chart.round_ticks(0.43, 0.7) == [0.4, 0.6, 0.8, 1.0]
    assert chart.round_ticks(1.0, 1.0) == [0.95, 1.0, 1.05]


def test_chart_draws_the_band_when_report_daily_has_it(reported_db, tmp_path):
    banded = tmp_path / "banded.duckdb"
    shutil.copy(reported_db, banded)
    flat = tmp_path / "flat.duckdb"  # every price known exactly: equal bands
    shutil.copy(reported_db, flat)
    with duckdb.connect(str(banded)) as con:
        con.execute(
            "UPDATE report_daily SET coverage_ratio_low = coverage_ratio * 0.9,"
            " coverage_ratio_high = coverage_ratio * 1.1"
        )
    with duckdb.connect(str(flat)) as con:
        con.execute(
            "UPDATE report_daily SET coverage_ratio_low = coverage_ratio,"
            " coverage_ratio_high = coverage_ratio"
        )
    with_band, without = _data(banded), _data(flat)
    last = with_band.history["coindesk-2024"][-1]
    assert last.low == pytest.approx(last.ratio * 0.9)
    # A fixed price's band is equal (low == ratio == high): no shading.
    plain = without.history["coindesk-2024"][-1]
    assert plain.low == plain.high == pytest.approx(plain.ratio)
    text = render_html(with_band)
    assert f"band {last.low:.3f}–{last.high:.3f}" in text
    assert all("FillBetweenPolyCollection" in svg for svg in _svgs(text))
    assert not any("FillBetweenPolyCollection" in svg for svg in _svgs(render_html(without)))


# -- the page: cards, escaping, the why-it-moved slot ------------------------------------------


def test_html_report_shows_the_change_since_the_previous_report_on_every_card(
    report_files, reported_db
):
    text = report_files[0].read_text(encoding="utf-8")
    cards = re.findall(r'<article class="card".*?</article>', text, re.S)
    data = _data(reported_db)
    assert len(cards) == len(data.history)
    for card, s in zip(cards, chart_series(data), strict=True):
        change = day_over_day(list(s.points))
        assert f'data-scenario="{s.scenario}"' in card
        sign = "+" if change.delta >= 0 else "\u2212"
        assert f"{sign}{abs(change.delta):.3f} ({sign}{abs(change.pct) * 100:.1f}%)" in card
        assert f"since {change.previous_day}" in card


def test_day_over_day_compares_the_last_two_reports():
    pts = [
        chart.Point(date(2024, 4, 1), 0.8, "history"),
        chart.Point(date(2024, 4, 3), 1.0, "category"),
    ]
    change = day_over_day(pts)
    assert change.previous_day == date(2024, 4, 1)
    assert change.delta == pytest.approx(0.2) and change.pct == pytest.approx(0.25)
    assert day_over_day(pts[:1]) is None


def _handmade(scenario: str, coin_name: str, why: str | None = None) -> ReportData:
    day = date(2024, 4, 3)
    row = {
        "report_date": day,
        "scenario": scenario,
        "basis": "category",
        "sector_market_cap_usd": 25e9,
        "constituents_market_cap_usd": 24e9,
        "constituents_count": 2,
        "gpu_count": 720_000,
        "gpu_sku": "H100",
        "unit_price_usd": 30_000.0,
        "price_basis": "fixed",
        "price_sources": None,
        "price_quote_count": 0,
        "buildout_cost_usd": 21.6e9,
        "coverage_ratio": 1.157,
        "market_as_of": day,
    }
    history = {
        scenario: [
            chart.Point(day - timedelta(days=n), 1.157 - 0.01 * n, "history")
            for n in range(5, -1, -1)
        ]
    }
    constituents = [
        {
            "category_id": "ai",
            "position": 1,
            "coin_id": "x",
            "symbol": "x",
            "name": coin_name,
            "market_cap_usd": 1e9,
            "share_of_sum": 0.5,
        }
    ]
    return ReportData(
        [row], history, constituents, [], [], why_it_moved={scenario: why} if why else {}
    )


def test_html_report_escapes_scenario_and_coin_names():
    text = render_html(_handmade("<script>alert('s')</script>", "<script>alert('c')</script>"))
    assert "<script" not in text
    assert "&lt;script&gt;alert(&#39;s&#39;)&lt;/script&gt;" in text
    assert "&lt;script&gt;alert(&#39;c&#39;)&lt;/script&gt;" in text
    assert len(_svgs(text)) == 1  # the scenario's chart is drawn and escaped too


def test_html_report_leaves_an_empty_why_it_moved_slot():
    empty = render_html(_handmade("coindesk-2024", "Render"))
    assert (
        '<section id="why-it-moved" class="why-it-moved" aria-label="Why it moved"></section>'
        in empty
    )
    filled = render_html(_handmade("coindesk-2024", "Render", why="Coverage rose <2%>."))
    assert (
        '<h2>Why it moved</h2><p data-scenario="coindesk-2024"><b>coindesk-2024</b>: '
        "Coverage rose &lt;2%&gt;.</p>"
    ) in filled


def test_html_report_on_an_empty_warehouse_says_what_to_do(tmp_path, monkeypatch):
    _clean_environment(monkeypatch)
    open_warehouse(tmp_path / "empty.duckdb").close()
    html_path = tmp_path / "r.html"
    assert main(["--db", str(tmp_path / "empty.duckdb"), "report", "--html", str(html_path)]) == 0
    assert "No reports yet" in html_path.read_text(encoding="utf-8")


# -- the page at phone width, and what it is asked for ----------------------------------------


def _alerting(data: ReportData) -> ReportData:
    """`data` with alerts whose messages are long (the rows that became tall blank bands)."""
    day = data.latest[0]["report_date"]
    data.alerts = [
        {
            "report_date": day,
            "scenario": s,
            "rule": rule,
            "previous_ratio": 0.97,
            "current_ratio": 1.04,
            "message": "AI-token market cap now covers 720,000 H100 at $30,000 "
            f"({s}): ratio 1.042, was 0.972 on 2024-04-02 (report {day}). Why: " + "x " * 200,
            "delivery_state": "delivered",
        }
        for s in ("coindesk-2024", "h100-purchase")
        for rule in ("threshold_crossed", "relative_change")
    ]
    return data


def test_html_report_at_390_px_shows_the_answer_without_sideways_scroll(
    reported_db, chromium, tmp_path
):
    data = _alerting(_data(reported_db))
    m = measure(chromium, render_html(data), tmp_path, 390)
    assert m["viewport"] == 390 and m["scrollWidth"] <= m["clientWidth"] == 390
    # Every table is a stack of cards: none is wider than its box, none scrolls sideways.
    assert m["tables"] and all(t["scrollWidth"] <= t["clientWidth"] for t in m["tables"])
    answers = m["answers"]
    assert len(answers) == 2 * len(data.latest)  # a ratio and a covers? per scenario
    for cell in answers:
        assert cell["width"] > 0 and cell["height"] > 0, cell
        assert cell["left"] >= 0 and cell["right"] <= 390, cell
    ratios = sorted(f"{r['coverage_ratio']:.3f}" for r in data.latest)
    assert sorted(c["text"] for c in answers[0::2]) == ratios
    assert {c["text"] for c in answers[1::2]} <= {"yes", "no"}
    # Alerts read as cards: each message is as wide as the card, not a tall thin column.
    assert len(m["alertCells"]) == 4
    for cell in m["alertCells"]:
        assert cell["width"] > 300 and "Why:" not in cell["text"], cell


def test_html_report_has_why_it_moved_for_every_scenario(reported_db):
    data = _data(reported_db)
    text = render_html(data)
    assert set(data.why_it_moved) == set(data.history)  # every scenario with a previous report
    for name in data.history:
        assert f'<p data-scenario="{name}"><b>{name}</b>: {name} coverage ' in text


def test_chart_of_a_short_history_spans_two_weeks_not_years():
    import matplotlib.dates as mdates

    one = chart.Series("s", (chart.Point(date(2024, 4, 3), 1.1, "category"),), "#1f5fbf")
    week = chart.Series(
        "s",
        tuple(chart.Point(date(2024, 4, d), 1.0 + d / 100, "category") for d in range(1, 8)),
        "#1f5fbf",
    )
    year = chart.Series(
        "s",
        tuple(
            chart.Point(date(2023, 4, 3) + timedelta(days=n), 1.0, "history")
            for n in range(0, 366, 5)
        ),
        "#1f5fbf",
    )
    for series, span in ((one, 14), (week, 14), (year, 365)):
        (ax,) = chart.history_figure([series]).axes
        lo, hi = (mdates.num2date(v).date() for v in ax.get_xlim())
        assert (hi - lo).days == span
        assert lo <= series.points[0].day and series.points[-1].day <= hi


def test_html_report_honours_date_and_scenario(reported_db, tmp_path, monkeypatch):
    _clean_environment(monkeypatch)
    days = sorted({p.day for pts in _data(reported_db).history.values() for p in pts})
    day = days[-10]
    out = tmp_path / "r.html"
    argv = ["--db", str(reported_db), "report", "--html", str(out)]
    assert main([*argv, "--date", str(day), "--scenario", "h100-purchase"]) == 0
    text = out.read_text(encoding="utf-8")
    cards = re.findall(r'<article class="card"[^>]*data-scenario="([^"]+)"', text)
    assert cards == ["h100-purchase"]
    assert f"Latest report: <b>{day}</b>" in text
    with open_warehouse(reported_db, read_only=True) as wh:
        data = gather(wh, day=day, scenario="h100-purchase")
    assert max(p.day for p in data.history["h100-purchase"]) == day
    assert [r["scenario"] for r in data.latest] == ["h100-purchase"]


def test_html_report_refuses_format_options_that_shape_terminal_output(
    reported_db, tmp_path, capsys, monkeypatch
):
    _clean_environment(monkeypatch)
    for extra in (["--format", "csv"], ["--wide"], ["--columns", "scenario"]):
        argv = ["--db", str(reported_db), "report", "--html", str(tmp_path / "x.html"), *extra]
        assert main(argv) == 2
        assert "--html and --png write files" in capsys.readouterr().err
    assert not (tmp_path / "x.html").exists()


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(document.cookie)",
        " javascript:alert(1)",
        "JaVaScRiPt:alert(1)",
        "data:text/html;base64,PHNjcmlwdD4=",
        "//evil.example/x",
        "https://ok.example/a b",
        "vbscript:msgbox(1)",
    ],
)
def test_html_report_links_only_http_urls(url):
    data = _handmade("coindesk-2024", "Render")
    data.quotes = [
        {
            "sku": "H100",
            "kind": "purchase",
            "source": "a source",
            "price_usd": 30000.0,
            "observed_date": date(2024, 4, 1),
            "source_url": url,
        }
    ]
    text = render_html(data)
    assert "<a href" not in text and "a source" in text
    data.quotes[0]["source_url"] = "https://ok.example/page?x=1"
    assert '<a href="https://ok.example/page?x=1" rel="noopener noreferrer">' in render_html(data)


def test_html_report_shows_control_and_bidi_characters_as_escapes():
    text = render_html(_handmade("coindesk-2024", "Ren\u202eder\x1b[31m"))
    assert "\u202e" not in text and "\x1b" not in text
    assert "Ren\\u202eder\\x1b[31m" in text


def test_quotes_add_refuses_a_url_that_is_not_http(env, capsys):
    for url in ("javascript:alert(1)", "file:///etc/passwd", "https://a b"):
        argv = ["quotes", "add", "--sku", "H100", "--price", "30000", "--source", "x"]
        assert main([*argv, "--url", url]) == 2
        assert "--url must be an absolute http(s) URL" in capsys.readouterr().err
