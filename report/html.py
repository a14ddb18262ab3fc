"""`capcover report --html PATH` / `--png PATH`: a report people would rather look at than read.

ONE self-contained HTML file (inline CSS and an inline SVG chart we draw ourselves: no CDN, no
script, opens offline): the latest ratio per scenario, the coverage history with the 1.0 line,
the inputs behind today's numbers (sector cap, top constituents, quotes and their sources) and
the alerts. The PNG is the same chart drawn by matplotlib (Agg backend, no display needed).
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from warehouse import queries
from warehouse.db import Warehouse, open_warehouse

# Scenarios drawn on the chart (the article's question); every scenario is in the table.
CHART_SCENARIOS = ("coindesk-2024", "h100-purchase")
COLOURS = {"coindesk-2024": "#1f5fbf", "h100-purchase": "#d62728"}
OTHER_COLOURS = ("#2ca02c", "#9467bd", "#8c564b", "#e377c2")
TOP_CONSTITUENTS = 10


@dataclass
class ReportData:
    latest: list[dict]
    history: dict[str, list[tuple[date, float, str]]]  # scenario -> (day, ratio, basis)
    constituents: list[dict]
    quotes: list[dict]
    alerts: list[dict] | None  # None: no alerts table in this warehouse
    illustrative: bool = False
    notes: list[str] = field(default_factory=list)


def gather(wh: Warehouse) -> ReportData:
    latest = queries.latest_report_details(wh)
    history: dict[str, list] = {}
    for day, scenario, ratio, basis in queries.ratio_history(wh):
        history.setdefault(scenario, []).append((day, ratio, basis))
    constituents = queries.top_constituents(wh, TOP_CONSTITUENTS)
    quotes: list[dict] = []
    if latest:
        day = latest[0]["report_date"]
        skus = sorted({r["gpu_sku"] for r in latest})
        quotes = queries.latest_purchase_quotes(wh, day, skus)
    alerts = None
    if wh.has(5):  # warehouse/migrations/005_alerts.sql
        alerts = queries.recent_alerts(wh)
    illustrative = queries.has_demo_runs(wh)
    return ReportData(latest, history, constituents, quotes, alerts, illustrative)


# -- the chart -------------------------------------------------------------------------------

def _colour(scenario: str, i: int) -> str:
    return COLOURS.get(scenario, OTHER_COLOURS[i % len(OTHER_COLOURS)])


def chart_series(data: ReportData) -> dict[str, list[tuple[date, float, str]]]:
    chosen = [s for s in CHART_SCENARIOS if data.history.get(s)]
    if not chosen:
        chosen = sorted(data.history)[:2]
    return {s: data.history[s] for s in chosen}


def svg_chart(data: ReportData, width: int = 960, height: int = 360) -> str:
    """The coverage history as inline SVG: one line per charted scenario, the 1.0 line dashed,
    days reported by daily runs (basis 'category') marked with a dot."""
    series = chart_series(data)
    points = [p for s in series.values() for p in s]
    if not points:
        return '<p class="empty">No report history yet — run `capcover backfill`.</p>'
    left, right, top, bottom = 64, 24, 20, 44
    days = sorted({p[0] for p in points})
    d0, d1 = days[0].toordinal(), days[-1].toordinal()
    ratios = [p[1] for p in points] + [1.0]
    lo, hi = min(ratios), max(ratios)
    pad = (hi - lo) * 0.08 or 0.1
    lo, hi = max(0.0, lo - pad), hi + pad

    def x(d: date) -> float:
        span = max(1, d1 - d0)
        return left + (d.toordinal() - d0) / span * (width - left - right)

    def y(r: float) -> float:
        return top + (hi - r) / (hi - lo) * (height - top - bottom)

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
           f'width="{width}" height="{height}" role="img" '
           f'aria-label="Coverage ratio history with the 1.0 line">',
           f'<rect x="0" y="0" width="{width}" height="{height}" fill="#ffffff"/>']
    for k in range(6):  # y grid and labels
        r = lo + (hi - lo) * k / 5
        out.append(f'<line x1="{left}" x2="{width - right}" y1="{y(r):.1f}" y2="{y(r):.1f}" '
                   f'stroke="#e6e6e6"/>')
        out.append(f'<text x="{left - 8}" y="{y(r) + 4:.1f}" text-anchor="end" '
                   f'font-size="12" fill="#555">{r:.2f}</text>')
    step = max(1, len(days) // 6)
    for d in days[::step]:
        anchor = "end" if x(d) > width - right - 40 else "middle"
        out.append(f'<text x="{x(d):.1f}" y="{height - bottom + 18}" text-anchor="{anchor}" '
                   f'font-size="12" fill="#555">{d.isoformat()}</text>')
    out.append(f'<line x1="{left}" x2="{width - right}" y1="{y(1.0):.1f}" y2="{y(1.0):.1f}" '
               f'stroke="#222" stroke-width="1.5" stroke-dasharray="6 4"/>')
    out.append(f'<text x="{width - right - 4}" y="{y(1.0) - 6:.1f}" text-anchor="end" '
               f'font-size="12" fill="#222">1.0 = the sector cap buys the GPUs</text>')
    for i, (scenario, pts) in enumerate(series.items()):
        colour = _colour(scenario, i)
        path = " ".join(f"{x(d):.1f},{y(r):.1f}" for d, r, _ in pts)
        # The first line is drawn wide underneath, so a second one on top stays visible
        # where they coincide (both scenarios price the H100 at $30,000 on most days).
        out.append(f'<polyline fill="none" stroke="{colour}" '
                   f'stroke-width="{6 if i == 0 else 2.5}" points="{path}"/>')
        for d, r, basis in pts:
            if basis == "category":
                out.append(f'<circle cx="{x(d):.1f}" cy="{y(r):.1f}" r="5" fill="{colour}"/>')
        out.append(f'<text x="{left + 8}" y="{top + 16 + 18 * i}" font-size="13" '
                   f'fill="{colour}">&#9632; {html.escape(scenario)}</text>')
    out.append(f'<line x1="{left}" x2="{left}" y1="{top}" y2="{height - bottom}" '
               f'stroke="#999"/>')
    out.append("</svg>")
    return "\n".join(out)


def write_png(data: ReportData, path: Path) -> Path:
    """The same chart as a PNG (matplotlib, Agg backend: no display, no network)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    series = chart_series(data)
    fig, ax = plt.subplots(figsize=(9.6, 3.6), dpi=100)
    for i, (scenario, pts) in enumerate(series.items()):
        colour = _colour(scenario, i)
        ax.plot([p[0] for p in pts], [p[1] for p in pts], color=colour,
                linewidth=5 if i == 0 else 2, label=scenario)
        cat = [p for p in pts if p[2] == "category"]
        ax.scatter([p[0] for p in cat], [p[1] for p in cat], color=colour, zorder=3)
    ax.axhline(1.0, color="#222", linestyle="--", linewidth=1.2,
               label="1.0 = the sector cap buys the GPUs")
    ax.set_ylabel("coverage ratio")
    title = "AI-token sector cap / GPU buildout cost"
    ax.set_title(title + (" (ILLUSTRATIVE demo data)" if data.illustrative else ""))
    ax.grid(True, color="#e6e6e6")
    ax.legend(loc="best", fontsize=9)
    fig.autofmt_xdate()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


# -- the page --------------------------------------------------------------------------------

def _usd(v: float | None, unit: str = "B") -> str:
    if v is None:
        return "—"
    if unit == "B":
        return f"${v / 1e9:,.2f}B"
    return f"${v:,.0f}"


def _table(headers: list[str], rows: list[list[str]], cls: str = "") -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for r in rows)
    return f'<table class="{cls}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


CSS = """
body{font:15px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px auto;
max-width:1000px;color:#1b1b1b;padding:0 16px}
h1{font-size:24px;margin:0 0 4px}h2{font-size:18px;margin:28px 0 8px}
.sub{color:#555;margin:0 0 16px}.banner{background:#fff4d6;border:1px solid #e0c36a;
padding:8px 12px;border-radius:6px;margin:12px 0}
table{border-collapse:collapse;width:100%;font-size:14px}th,td{padding:5px 8px;
border-bottom:1px solid #e6e6e6;text-align:left}td.n,th.n{text-align:right}
.yes{color:#1a7f37;font-weight:600}.no{color:#b42318;font-weight:600}
.cards{display:flex;gap:12px;flex-wrap:wrap}.card{border:1px solid #e6e6e6;border-radius:8px;
padding:10px 14px;min-width:200px}.card .r{font-size:28px;font-weight:700}
footer{color:#777;font-size:12px;margin-top:32px}
"""


def render_html(data: ReportData) -> str:
    esc = html.escape
    parts = ["<!doctype html>", '<html lang="en"><head><meta charset="utf-8">',
             "<title>capcover — AI-token sector vs GPU buildout</title>",
             f"<style>{CSS}</style></head><body>",
             "<h1>Could the AI-token sector buy the GPUs its ambitions need?</h1>"]
    if not data.latest:
        parts.append('<p class="sub">No reports yet — run `capcover run` or `capcover demo`.'
                     '</p></body></html>')
        return "\n".join(parts)
    top = data.latest[0]
    parts.append(f'<p class="sub">Latest report: <b>{top["report_date"]}</b> (UTC, the '
                 f'source\'s own date) · sector market cap <b>{_usd(top["sector_market_cap_usd"])}'
                 f'</b> ({esc(top["basis"])} basis)</p>')
    if data.illustrative:
        parts.append('<div class="banner"><b>ILLUSTRATIVE demo data</b> — generated by '
                     'scripts/make_demo_snapshot.py around the CoinDesk article of 2024-04-03 '
                     '(AI category $25B, H100 at $30,000). Not market data.</div>')
    cards = []
    for r in data.latest:
        if r["scenario"] not in CHART_SCENARIOS:
            continue
        ok = r["coverage_ratio"] >= 1
        cards.append(f'<div class="card"><div>{esc(r["scenario"])}</div><div class="r '
                     f'{"yes" if ok else "no"}">{r["coverage_ratio"]:.3f}</div><div>'
                     f'{r["gpu_count"]:,} {esc(r["gpu_sku"])} × {_usd(r["unit_price_usd"], "$")}'
                     f'</div></div>')
    parts.append(f'<div class="cards">{"".join(cards)}</div>')
    parts.append("<h2>Coverage history</h2>")
    parts.append(svg_chart(data))
    parts.append('<p class="sub">Lines: days rebuilt by `capcover backfill` (basis '
                 '<i>history</i>: sum of today\'s constituents); dots: days reported by daily '
                 'runs (basis <i>category</i>: CoinGecko\'s category cap).</p>')
    parts.append("<h2>Latest ratio per scenario</h2>")
    parts.append(_table(
        ["scenario", "GPUs", "unit price", "buildout", "sector cap", "ratio", "covers?",
         "price from"],
        [[esc(r["scenario"]), f'{r["gpu_count"]:,} {esc(r["gpu_sku"])}',
          _usd(r["unit_price_usd"], "$"), _usd(r["buildout_cost_usd"]),
          _usd(r["sector_market_cap_usd"]), f'{r["coverage_ratio"]:.3f}',
          '<span class="yes">yes</span>' if r["coverage_ratio"] >= 1
          else '<span class="no">no</span>',
          esc(r["price_basis"]) + (f' ({r["price_quote_count"]} quotes)'
                                   if r["price_quote_count"] else "")]
         for r in data.latest]))
    parts.append("<h2>Inputs behind today's numbers</h2>")
    parts.append(f'<p>Sector market cap {_usd(top["sector_market_cap_usd"])} '
                 f'({esc(top["basis"])} basis); constituents\' de-duplicated sum '
                 f'{_usd(top["constituents_market_cap_usd"])} over '
                 f'{top["constituents_count"]} coins. Largest constituents:</p>')
    parts.append(_table(
        ["#", "coin", "symbol", "market cap", "share of sum"],
        [[str(c["position"]), esc(c["name"] or c["coin_id"]), esc(c["symbol"] or ""),
          _usd(c["market_cap_usd"]),
          f'{c["share_of_sum"]:.1%}' if c["share_of_sum"] is not None else "—"]
         for c in data.constituents]))
    parts.append("<p>GPU purchase quotes valid on the report date (each source's latest):</p>")
    parts.append(_table(
        ["GPU", "price", "published", "source"],
        [[esc(q["sku"]), _usd(q["price_usd"], "$"), str(q["observed_date"]),
          (f'<a href="{esc(q["source_url"])}">{esc(q["source"])}</a>' if q["source_url"]
           else esc(q["source"]))]
         for q in data.quotes]))
    parts.append("<h2>Alerts</h2>")
    if data.alerts is None:
        parts.append("<p>This warehouse has no alerts table.</p>")
    elif not data.alerts:
        parts.append("<p>No alerts fired.</p>")
    else:
        parts.append(_table(
            ["date", "scenario", "rule", "from", "to", "message", "delivery"],
            [[str(a["report_date"]), esc(a["scenario"]), esc(a["rule"]),
              f'{a["previous_ratio"]:.3f}' if a["previous_ratio"] is not None else "—",
              f'{a["current_ratio"]:.3f}' if a["current_ratio"] is not None else "—",
              esc(a["message"]), esc(a["delivery_state"])]
             for a in data.alerts]))
    parts.append("<footer>capcover · coverage ratio = sector market cap / (GPU count × unit "
                 "price) · generated from the DuckDB warehouse; query it with "
                 "<code>capcover sql</code> (views v_latest_report, v_coverage_history, "
                 "v_sector_constituents).</footer></body></html>")
    return "\n".join(parts)


def write_report_files(db: str | Path, *, html: str | None = None, png: str | None = None,
                       lock_budget_s: float = 30.0) -> list[Path]:
    """Write the HTML report and/or the PNG chart from the warehouse at `db` (read-only)."""
    with open_warehouse(db, read_only=True, lock_budget_s=lock_budget_s) as wh:
        wh.require(4, "the report views")  # warehouse/migrations/004_history_and_views.sql
        data = gather(wh)
    written = []
    if html:
        path = Path(html)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(render_html(data), encoding="utf-8")
        written.append(path)
    if png:
        written.append(write_png(data, Path(png)))
    return written
