"""`capcover report --html PATH` / `--png PATH`: a report people would rather look at than read.

ONE self-contained HTML file rendered from templates/report.html.j2 (jinja2, autoescaped):
inline CSS, every scenario's history as an inline SVG drawn by report/chart.py, no script, no
CDN, nothing to fetch, so it opens offline. A card per scenario (latest ratio, change since the
previous report, its chart), the inputs behind today's numbers (sector cap, top constituents,
quotes and their sources) and the alerts. The PNG is the same chart function's figure with every
scenario's panel.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from functools import cache
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup

from capcover.model.text import escape_controls, fmt_usd, safe_href
from capcover.report import chart
from capcover.report.chart import COLOURS, ONE_LABEL  # noqa: F401 - COLOURS is part of this API
from capcover.warehouse import explain, queries
from capcover.warehouse.db import Warehouse, open_warehouse

# The article's question: these scenarios come first on the page and in the PNG.
CHART_SCENARIOS = ("coindesk-2024", "h100-purchase")
TOP_CONSTITUENTS = 10
TEMPLATES = Path(__file__).resolve().parent / "templates"


@dataclass
class ReportData:
    latest: list[dict]
    history: dict[str, list[chart.Point]]  # scenario -> its reports, oldest first
    constituents: list[dict]
    quotes: list[dict]
    alerts: list[dict] | None  # None: no alerts table in this warehouse
    illustrative: bool = False
    notes: list[str] = field(default_factory=list)
    # scenario -> its "why it moved" paragraph (plain text, escaped by the template), and the
    # coins that moved the sector most; empty leaves the slot empty (a first report, or a
    # warehouse from before the why-it-moved views).
    why_it_moved: dict[str, str] = field(default_factory=dict)
    movers: list[dict] = field(default_factory=list)


@dataclass(frozen=True)
class Change:
    """The latest ratio against the previous report of the same scenario."""

    previous_day: date
    previous_ratio: float
    delta: float  # ratio points
    pct: float  # relative change, 0.05 = +5 %


def gather(wh: Warehouse, *, day: date | None = None, scenario: str | None = None) -> ReportData:
    """What the page shows as of `day` (default: the latest report) for `scenario` (default:
    every one): that day's reports, each scenario's history up to it, the inputs and alerts."""
    latest = queries.latest_report_details(wh, day, scenario)
    history: dict[str, list[chart.Point]] = {}
    for d, name, ratio, basis, low, high in queries.ratio_history_with_band(wh):
        if (day is None or d <= day) and (scenario is None or name == scenario):
            history.setdefault(name, []).append(chart.Point(d, ratio, basis, low, high))
    constituents = queries.top_constituents(wh, TOP_CONSTITUENTS, day)
    quotes: list[dict] = []
    if latest:
        skus = sorted({r["gpu_sku"] for r in latest})
        quotes = queries.latest_purchase_quotes(wh, latest[0]["report_date"], skus)
    alerts = None
    if wh.has(5):  # warehouse/migrations/005_alerts.sql
        alerts = queries.recent_alerts(wh, day, scenario)
    illustrative = queries.has_demo_runs(wh)
    why, movers = _why_it_moved(wh, latest, scenario)
    return ReportData(
        latest, history, constituents, quotes, alerts, illustrative, why_it_moved=why, movers=movers
    )


def _why_it_moved(
    wh: Warehouse, latest: list[dict], scenario: str | None
) -> tuple[dict[str, str], list[dict]]:
    """`capcover explain`'s paragraph of every scenario of the page's day (that has a
    previous report), and the coins that moved the sector most."""
    if not latest or not wh.has(20):  # warehouse/migrations/020_why_it_moved.sql
        return {}, []
    day = latest[0]["report_date"]
    why = explain.explanations(wh, day, scenario)
    if not why:
        return {}, []
    first = next((s for s in CHART_SCENARIOS if s in why), sorted(why)[0])
    return why, explain.coin_moves(wh, day, first, top=5)


def chart_series(data: ReportData) -> list[chart.Series]:
    """Every scenario with history, the article's scenarios first, then by name."""
    order = [s for s in CHART_SCENARIOS if data.history.get(s)]
    order += sorted(s for s in data.history if s not in order and data.history[s])
    return [
        chart.Series(s, tuple(data.history[s]), chart.colour(s, i)) for i, s in enumerate(order)
    ]


def day_over_day(points: list[chart.Point]) -> Change | None:
    """The last report against the one before it (None with fewer than two reports)."""
    if len(points) < 2:
        return None
    prev, last = points[-2], points[-1]
    pct = last.ratio / prev.ratio - 1 if prev.ratio else 0.0
    return Change(prev.day, prev.ratio, last.ratio - prev.ratio, pct)


def scenario_chart_svg(series: chart.Series) -> str:
    """One scenario's panel as inline SVG (the same figure function as the PNG; the page's
    banner, not each chart, says when the data is illustrative)."""
    fig = chart.history_figure([series])
    return chart.svg_text(
        fig, prefix=f"chart-{series.scenario}", label=chart.label(series.scenario)
    )


def write_png(data: ReportData, path: Path) -> Path:
    """Every scenario's panel in one PNG (matplotlib, Agg: no display, no network)."""
    return chart.write_png(chart_series(data), path, illustrative=data.illustrative)


# -- the page --------------------------------------------------------------------------------


def _usd(v: float | None, unit: str = "B") -> str:
    """Money as everywhere else (model/text.py fmt_usd: $21.60B, $30,000, $2.49); `unit` is
    kept for the template's calls and no longer changes the format."""
    return "—" if v is None else fmt_usd(v)


def _usd_m(v: float | None) -> str:
    """Millions of USD, signed: a coin's contribution to the sector's move."""
    return "—" if v is None else "$" + _signed(v / 1e6, ",.1f") + "M"


def _ratio(v: float | None) -> str:
    return "—" if v is None else f"{v:.3f}"


def _signed(v: float, fmt: str) -> str:
    # A real minus sign: it lines up with the plus and is read as one by screen readers.
    return format(v, "+" + fmt).replace("-", "\u2212")


def _inert(value: object) -> object:
    if isinstance(value, str) and not isinstance(value, Markup):
        return escape_controls(value)
    return value


@cache
def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=True,
        # Text from outside is data: its control and bidi characters are shown as escapes
        # before autoescape (the charts' SVG is Markup that matplotlib wrote: left alone).
        finalize=_inert,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(usd=_usd, usd_m=_usd_m, ratio=_ratio, signed=_signed, href=safe_href)
    return env


def _cards(data: ReportData) -> list[dict]:
    latest = {r["scenario"]: r for r in data.latest}
    cards = []
    for series in chart_series(data):
        last = series.points[-1]
        cards.append(
            {
                "scenario": series.scenario,
                "colour": series.colour,
                "ratio": last.ratio,
                "day": last.day,
                "covers": last.ratio >= 1,
                "band": (last.low, last.high)
                if last.low is not None and last.high is not None
                else None,
                "change": day_over_day(list(series.points)),
                "row": latest.get(series.scenario),
                # Markup: matplotlib wrote this SVG and escaped every text in it.
                "svg": Markup(scenario_chart_svg(series)),
            }
        )
    return cards


def render_html(data: ReportData) -> str:
    """The whole page as one string (UTF-8 HTML, self-contained)."""
    return (
        _environment()
        .get_template("report.html.j2")
        .render(
            data=data,
            top=data.latest[0] if data.latest else None,
            cards=_cards(data) if data.latest else [],
            one_label=ONE_LABEL,
        )
    )


def write_report_files(
    db: str | Path,
    *,
    html: str | None = None,
    png: str | None = None,
    lock_budget_s: float = 30.0,
    day: date | None = None,
    scenario: str | None = None,
) -> list[Path]:
    """Write the HTML report and/or the PNG chart from the warehouse at `db` (read-only), as
    of `day` (default: the latest report) and for `scenario` (default: every one)."""
    with open_warehouse(db, read_only=True, lock_budget_s=lock_budget_s) as wh:
        wh.require(4, "the report views")  # warehouse/migrations/004_history_and_views.sql
        data = gather(wh, day=day, scenario=scenario)
    written = []
    if html:
        path = Path(html)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(render_html(data), encoding="utf-8")
        written.append(path)
    if png:
        written.append(write_png(data, Path(png)))
    return written
