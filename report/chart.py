"""The coverage-history chart: ONE matplotlib figure function whose figure is saved both as the
PNG of `capcover report --png` and as the SVG inlined in the HTML report.

Small multiples: one panel per scenario, the coverage ratio (dimensionless: sector market cap
in USD / buildout cost in USD) against the report date (UTC), the 1.0 line on a round y grid,
and the ratio band (`coverage_ratio_low` .. `coverage_ratio_high`) where the warehouse has one.
Rendered with matplotlib's Agg/SVG canvases through `Figure` directly (no pyplot, no display).
"""

from __future__ import annotations

import io
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

# The article's scenarios keep the colours readers know from earlier reports.
COLOURS = {"coindesk-2024": "#1f5fbf", "h100-purchase": "#d62728"}
OTHER_COLOURS = ("#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22")
ONE_LABEL = "1.0 = the sector cap buys the GPUs"
# Ink that reads on white and on the dark scheme's background (the page can override it).
INK = "#6b6b6b"
PANEL_SIZE_IN = (4.2, 2.3)  # one panel, inches (the SVG's viewBox is this in points)
# A panel's date axis spans at least this many days: a short history (one report, a week)
# sits in the middle of it instead of being stretched over years by the date locator.
MIN_SPAN_DAYS = 14
DPI = 100
if TYPE_CHECKING:  # matplotlib itself is imported only when a chart is drawn
    from matplotlib.figure import Figure
    from matplotlib.typing import RcKeyType

# Fixed SVG settings so the same figure gives the same bytes (ids hashed with a fixed salt,
# no creation date) and text stays text (searchable, escaped, styled by the page).
_RC: dict[RcKeyType, Any] = {
    "svg.hashsalt": "capcover",
    "svg.fonttype": "none",
    "font.size": 9,
    "font.family": ["DejaVu Sans", "sans-serif"],
}


@dataclass(frozen=True)
class Point:
    """One report: its UTC date, the coverage ratio, the market basis ('category' for daily
    runs, 'history' for backfilled days) and the ratio band's ends when known."""

    day: date
    ratio: float
    basis: str
    low: float | None = None
    high: float | None = None


@dataclass(frozen=True)
class Series:
    """One scenario's history, oldest first, and the colour it is drawn in."""

    scenario: str
    points: tuple[Point, ...]
    colour: str


def colour(scenario: str, index: int) -> str:
    """The scenario's line colour: a fixed one for the article's scenarios, else the palette."""
    return COLOURS.get(scenario, OTHER_COLOURS[index % len(OTHER_COLOURS)])


def round_ticks(lo: float, hi: float, target: int = 5) -> list[float]:
    """Round y ticks (multiples of 1, 2 or 5 × 10^k) covering [lo, hi] and always 1.0, so the
    1.0 line sits on the grid; the first and last tick bound the axis."""
    lo, hi = min(lo, hi, 1.0), max(lo, hi, 1.0)
    if hi - lo < 1e-6:  # (nearly) one flat value at 1.0: give the axis some room around it
        lo, hi = lo - 0.05, hi + 0.05
    raw = (hi - lo) / target
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)
    first, last = math.floor(lo / step + 1e-9), math.ceil(hi / step - 1e-9)
    # round() strips float noise (0.30000000000000004) so labels and the 1.0 test are exact.
    digits = max(0, -math.floor(math.log10(step)))
    ticks = sorted({round(k * step, digits + 1) for k in range(first, last + 1)} | {1.0})
    if step <= 1:
        return ticks  # 1.0 is a multiple of the step: already on the grid
    # A step of 2 or more skips 1.0; the question's line gets its own tick, and a round tick
    # crowding its label goes, unless it is the axis limit that the data needs.
    near = [t for t in ticks if t != 1.0 and abs(t - 1.0) < 0.6 * step]
    for t in near:
        is_low_limit, is_high_limit = t == ticks[0], t == ticks[-1]
        if (is_low_limit and lo < 1.0) or (is_high_limit and hi > 1.0):
            continue
        ticks.remove(t)
    return ticks


def _tick_label(value: float, _pos: int = 0) -> str:
    return f"{value:g}" if value != 1.0 else "1.0"


def history_figure(
    series: Sequence[Series], *, columns: int = 1, title: bool = False, illustrative: bool = False
) -> Figure:
    """The coverage history of `series` as one matplotlib Figure: a panel per scenario in a grid
    of `columns`, each with its line (backfilled days), dots (daily runs), band and 1.0 line;
    `title` adds a heading saying what the ratio and the dashed line are."""
    import matplotlib

    with matplotlib.rc_context(_RC):
        return _figure(series, columns, title, illustrative)


def _figure(series: Sequence[Series], columns: int, title: bool, illustrative: bool) -> Figure:
    from matplotlib.dates import AutoDateLocator, ConciseDateFormatter
    from matplotlib.figure import Figure
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

    columns = max(1, min(columns, len(series) or 1))
    rows = max(1, math.ceil(len(series) / columns))
    width, height = PANEL_SIZE_IN
    fig = Figure(figsize=(width * columns, height * rows), dpi=DPI, layout="constrained")
    fig.patch.set_alpha(0.0)  # the page's background shows through (light or dark scheme)
    axes = fig.subplots(rows, columns, squeeze=False).ravel()
    for ax in axes[len(series) :]:
        ax.set_visible(False)
    for ax, s in zip(axes, series, strict=False):
        _draw_panel(ax, s, show_title=len(series) > 1)
        ax.xaxis.set_major_locator(locator := AutoDateLocator(minticks=3, maxticks=6))
        ax.xaxis.set_major_formatter(ConciseDateFormatter(locator, show_offset=False))
        first, last = date_span(s)
        ax.set_xlim(first, last)
        ax.yaxis.set_minor_locator(NullLocator())
        lo, hi = _extent(s)
        ticks = round_ticks(lo, hi)
        ax.yaxis.set_major_locator(FixedLocator(ticks))
        ax.yaxis.set_major_formatter(FuncFormatter(_tick_label))
        # A little room past the outer ticks: a 1.0 line at the limit stays visible.
        pad = 0.03 * (ticks[-1] - ticks[0])
        ax.set_ylim(ticks[0] - pad, ticks[-1] + pad)
    heading = []
    if title:
        heading.append(f"AI-token sector cap / GPU buildout cost; dashed: {ONE_LABEL}")
    if illustrative:
        heading.append("ILLUSTRATIVE demo data")
    if heading:
        fig.suptitle(" · ".join(heading), color=INK, fontsize=9)
    return fig


def date_span(s: Series) -> tuple[date, date]:
    """The first and last day a panel's axis shows: its reports, widened to MIN_SPAN_DAYS
    around them when they span less."""
    days = [p.day for p in s.points] or [date.today()]
    first, last = min(days), max(days)
    short = MIN_SPAN_DAYS - (last - first).days
    if short > 0:
        first -= timedelta(days=short // 2)
        last += timedelta(days=short - short // 2)
    return first, last


def _extent(s: Series) -> tuple[float, float]:
    values = [p.ratio for p in s.points]
    values += [v for p in s.points for v in (p.low, p.high) if v is not None]
    return (min(values), max(values)) if values else (1.0, 1.0)


def _draw_panel(ax: Any, s: Series, *, show_title: bool) -> None:
    # `ax`: a matplotlib Axes, typed Any: its stubs refuse the dates it plots.
    ax.set_facecolor("none")
    days = [p.day for p in s.points]
    band = [p for p in s.points if p.low is not None and p.high is not None]
    # A fixed price has an equal band (low == ratio == high): nothing to shade.
    if any(p.high > p.low for p in band if p.high is not None and p.low is not None):
        ax.fill_between(
            [p.day for p in band],
            [p.low for p in band],
            [p.high for p in band],
            color=s.colour,
            alpha=0.18,
            linewidth=0,
            label="ratio band",
        )
    ax.plot(days, [p.ratio for p in s.points], color=s.colour, linewidth=2.2)
    daily = [p for p in s.points if p.basis == "category"]
    if daily:
        ax.scatter([p.day for p in daily], [p.ratio for p in daily], color=s.colour, s=22, zorder=3)
    ax.axhline(1.0, color="#222222", linestyle=(0, (5, 3)), linewidth=1.2, gid="one-line", zorder=2)
    ax.grid(True, axis="y", color="#888888", alpha=0.35, linewidth=0.8)
    ax.grid(True, axis="x", color="#888888", alpha=0.18, linewidth=0.8)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    for side in ("left", "bottom"):
        ax.spines[side].set_color("#888888")
    ax.tick_params(colors=INK, labelcolor=INK, labelsize=9)
    ax.set_ylabel("coverage ratio", color=INK, fontsize=9)
    if show_title:
        # Escaped dollars: matplotlib would read a pair of them as mathtext.
        ax.set_title(s.scenario.replace("$", r"\$"), color=INK, fontsize=9, loc="left")


def label(scenario: str) -> str:
    """The accessible name of a scenario's chart."""
    return f"Coverage ratio history of {scenario} with the 1.0 line"


def svg_text(fig: Figure, *, prefix: str, label: str) -> str:
    """`fig` as an inline <svg> element: no XML prolog, scaled by the page (viewBox kept,
    fixed width/height dropped), element ids prefixed with `prefix` so several charts can share
    one document, and `label` (escaped here) as its accessible name."""
    import matplotlib

    buf = io.StringIO()
    with matplotlib.rc_context(_RC):
        fig.savefig(buf, format="svg", metadata={"Date": None}, transparent=True)
    text = buf.getvalue()
    text = text[text.index("<svg") :].rstrip()
    text = re.sub(r'(<svg\b[^>]*?)\s+width="[^"]*"\s+height="[^"]*"', r"\1", text, count=1)
    safe_prefix = re.sub(r"[^A-Za-z0-9_-]", "_", prefix)
    text = re.sub(r'\bid="([^"]+)"', rf'id="{safe_prefix}-\1"', text)
    text = re.sub(r'(xlink:href|href)="#([^"]+)"', rf'\1="#{safe_prefix}-\2"', text)
    text = re.sub(r"url\(#([^)]+)\)", rf"url(#{safe_prefix}-\1)", text)
    aria = (
        label.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
    )
    return text.replace("<svg ", f'<svg role="img" aria-label="{aria}" class="chart-svg" ', 1)


def png_bytes(fig: Figure) -> bytes:
    """`fig` as PNG (Agg) on a white background, at DPI pixels per inch."""
    import matplotlib

    buf = io.BytesIO()
    with matplotlib.rc_context(_RC):
        fig.savefig(buf, format="png", facecolor="white", metadata={"Software": None})
    return buf.getvalue()


def write_png(series: Sequence[Series], path: Path, *, illustrative: bool = False) -> Path:
    """Every scenario's panel in one PNG at `path` (two columns): the `--png` output."""
    fig = history_figure(series, columns=2, title=True, illustrative=illustrative)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(png_bytes(fig))
    return path
