"""`capcover demo`: the real pipeline against a bundled replay snapshot served on localhost.

The snapshot is ILLUSTRATIVE (scripts/make_demo_snapshot.py generates it) and the demo writes to
its own warehouse file, data/demo.duckdb, whatever CAPCOVER_DB says: it never touches live data.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from ingest.replay import ReplayServer

SNAPSHOT = Path(__file__).resolve().parent.parent / "ingest" / "data" / "demo_snapshot.json"
DEMO_DB = Path("data/demo.duckdb")


def demo_environment(base_url: str, db: Path = DEMO_DB) -> dict[str, str]:
    return {
        "CAPCOVER_DB": str(db),
        "CAPCOVER_COINGECKO_BASE_URL": base_url,
        "CAPCOVER_COINGECKO_PLAN": "public",
        "CAPCOVER_COINGECKO_RATE_PER_MINUTE": "6000",  # a local server has no quota
        "CAPCOVER_CATEGORIES": "artificial-intelligence",
        # The GPU feeds replay from the same local server (scripts/make_demo_snapshot.py).
        "CAPCOVER_VASTAI_BASE_URL": _root(base_url) + "/vast",
        "CAPCOVER_VASTAI_GPU_NAMES": "H100 SXM,H100 PCIE,H200,B200",
        "CAPCOVER_VASTAI_RATE_PER_MINUTE": "6000",
        "CAPCOVER_RUNPOD_BASE_URL": _root(base_url) + "/runpod",
        "CAPCOVER_RUNPOD_RATE_PER_MINUTE": "6000",
    }


def _root(url: str) -> str:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


DEMO_HTML = Path("data/demo-report.html")
DEMO_PNG = Path("data/demo-coverage.png")
DEMO_DAYS = 90
CHART_SCENARIO = "coindesk-2024"


def _with_env(env: dict[str, str]):
    """Set `env` (and drop the key, config and alert URLs) for the block; restore after."""
    from contextlib import contextmanager

    @contextmanager
    def scope():
        dropped = ["CAPCOVER_COINGECKO_API_KEY", "CAPCOVER_CONFIG", "CAPCOVER_ALERT_URLS"]
        saved = {k: os.environ.get(k) for k in [*env, *dropped]}
        os.environ.update(env)
        # Never send a real key to a replay, and never page a user's real Slack or inbox
        # about illustrative data: demo alerts are stored and printed only.
        for k in dropped:
            os.environ.pop(k, None)
        try:
            yield
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v

    return scope()


def text_chart(points: list[tuple], width: int = 90, height: int = 12) -> list[str]:
    """A terminal chart of (day, ratio) points with the 1.0 line ('-'); '*' marks the ratio."""
    ratios = [r for _, r in points]
    lo, hi = min([*ratios, 1.0]), max([*ratios, 1.0])
    pad = (hi - lo) * 0.05 or 0.05
    lo, hi = lo - pad, hi + pad
    cols = points if len(points) <= width else points[:: max(1, len(points) // width)]
    grid = [[" "] * len(cols) for _ in range(height)]

    def row(r: float) -> int:
        return min(height - 1, max(0, round((hi - r) / (hi - lo) * (height - 1))))

    for x, (_, r) in enumerate(cols):
        grid[row(1.0)][x] = "-"
        grid[row(r)][x] = "*"
    lines = []
    for y, cells in enumerate(grid):
        label = hi - (hi - lo) * y / (height - 1)
        lines.append(f"  {label:5.2f} |{''.join(cells)}")
    lines.append(f"        {cols[0][0]}{' ' * max(1, len(cols) - 20)}{cols[-1][0]}")
    return lines


def print_history(wh, scenario: str = CHART_SCENARIO) -> None:
    from warehouse.queries import coverage_history

    rows = coverage_history(wh, scenario)
    if not rows:
        print("  (no history)")
        return
    first, last = rows[0][0], rows[-1][0]
    n_hist = sum(1 for r in rows if r[2] == "history")
    print(f"\nCoverage history, {scenario} ({len(rows)} days, {first} .. {last}; "
          f"{n_hist} from the backfill, the rest from daily runs) — ILLUSTRATIVE")
    for line in text_chart([(d, r) for d, r, *_ in rows]):
        print(line)
    crossings = [(d, p, r) for d, r, _b, crossed, p in rows if crossed]
    for d, p, r in crossings:
        print(f"  crossed 1.0 on {d}: {p:.3f} -> {r:.3f}")


def print_alerts(wh, run_id: str) -> int:
    """Alerts the demo's daily run fired (from `alerts`), else the crossing from the reports."""
    from warehouse.db import table_exists
    from warehouse.queries import crossings_on, latest_report_date, run_alerts

    if table_exists(wh, "alerts"):
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


def run_demo(db: Path = DEMO_DB) -> int:
    """Backfill 90 days, run the daily flow, print the history and the alerts, write the HTML
    report — all against the replay snapshot, into `db` only (recreated on every run)."""
    from flows.backfill import run_backfill
    from flows.cli import summary_text
    from flows.html_report import write_report_files
    from flows.output import render
    from flows.settings import load_settings
    from warehouse.db import open_warehouse
    from warehouse.queries import report

    snapshot = json.loads(SNAPSHOT.read_text(encoding="utf-8"))
    print(f"capcover demo — {snapshot['_label']}")
    anchor = snapshot["anchor"]
    print(f"  anchored to the CoinDesk article: AI category ${anchor['market_cap_usd'] / 1e9:.0f}B"
          f" on {anchor['date']}, H100 at ${anchor['h100_quote_usd']:,}")
    db = Path(db)
    for stale in (db, db.with_name(db.name + ".wal")):
        stale.unlink(missing_ok=True)  # the demo's own file: every demo starts from scratch
    with ReplayServer(snapshot) as url:
        with _with_env(demo_environment(url + snapshot["api_root"], db)):
            print(f"\n1. backfill: {DEMO_DAYS} days of per-coin market charts "
                  f"(one request per constituent)")
            backfill = run_backfill(load_settings(), DEMO_DAYS)
            print(backfill.summary_text())
            print("\n2. the daily run (Prefect flow) on the replayed 2024-04-03")
            from flows.daily import daily_flow

            result = daily_flow(kind="demo")
    print(summary_text(result, db))
    with open_warehouse(db, read_only=True) as wh:
        print_history(wh)
        print_alerts(wh, result.run_id)
        cols, rows = report(wh)
    print()
    print(render(cols, rows, "table", title="report_daily, latest day (ILLUSTRATIVE demo data)"))
    written = write_report_files(db, html=str(DEMO_HTML), png=str(DEMO_PNG))
    print("\nReport: " + ", ".join(str(p) for p in written) + "  (open the HTML offline)")
    query = "SELECT * FROM v_coverage_history WHERE crossed_one"
    print(f"Query it: CAPCOVER_DB={db} capcover sql \"{query}\"")
    return 0
