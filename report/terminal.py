"""The demo's terminal output: a text chart of the coverage history and the alerts it fired."""

from __future__ import annotations

from capcover.warehouse.db import Warehouse
from capcover.warehouse.queries import (
    coverage_history,
    crossings_on,
    latest_report_date,
    run_alerts,
)

CHART_SCENARIO = "coindesk-2024"


def text_chart(points: list[tuple], width: int = 90, height: int = 12) -> list[str]:
    """A terminal chart of (day, ratio) points with the 1.0 line ('-'); '*' marks the ratio."""
    ratios = [r for _, r in points]
    lo, hi = min([*ratios, 1.0]), max([*ratios, 1.0])
    pad = (hi - lo) * 0.05 or 0.05
    lo, hi = lo - pad, hi + pad
    cols = points if len(points) <= width else points[:: max(1, len(points) // width)]
    grid = [[" "] * len(cols) for _ in range(height)]

    def row(r: float) -> int:
        return int(min(height - 1, max(0, round((hi - r) / (hi - lo) * (height - 1)))))

    for x, (_, r) in enumerate(cols):
        grid[row(1.0)][x] = "-"
        grid[row(r)][x] = "*"
    lines = []
    for y, cells in enumerate(grid):
        label = hi - (hi - lo) * y / (height - 1)
        lines.append(f"  {label:5.2f} |{''.join(cells)}")
    lines.append(f"        {cols[0][0]}{' ' * max(1, len(cols) - 20)}{cols[-1][0]}")
    return lines


def print_history(wh: Warehouse, scenario: str = CHART_SCENARIO) -> None:
    rows = coverage_history(wh, scenario)
    if not rows:
        print("  (no history)")
        return
    first, last = rows[0][0], rows[-1][0]
    n_hist = sum(1 for r in rows if r[2] == "history")
    print(
        f"\nCoverage history, {scenario} ({len(rows)} days, {first} .. {last}; "
        f"{n_hist} from the backfill, the rest from daily runs) — ILLUSTRATIVE"
    )
    for line in text_chart([(d, r) for d, r, *_ in rows]):
        print(line)
    crossings = [(d, p, r) for d, r, _b, crossed, p in rows if crossed]
    for d, p, r in crossings:
        print(f"  crossed 1.0 on {d}: {p:.3f} -> {r:.3f}")


def print_alerts(wh: Warehouse, run_id: str) -> int:
    """Alerts the demo's daily run fired (from `alerts`), else the crossing from the reports."""
    if wh.has(5):  # warehouse/migrations/005_alerts.sql
        rows = run_alerts(wh, run_id)
        print(f"\nAlerts fired by the daily run ({len(rows)}):")
        for rule, scenario, message in rows:
            print(f"  [{rule}] {scenario}: {message}")
        return len(rows)
    day = latest_report_date(wh)
    rows = crossings_on(wh, day)
    print(f"\nThreshold crossings on {day} (no alerts table in this build):")
    for scenario, p, r in rows:
        print(f"  [threshold_crossed] {scenario}: coverage ratio crossed 1.0: {p:.3f} -> {r:.3f}")
    return len(rows)
