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


def run_demo(db: Path = DEMO_DB) -> int:
    from flows.cli import summary_text
    from flows.output import render
    from warehouse.db import open_warehouse
    from warehouse.queries import report

    snapshot = json.loads(SNAPSHOT.read_text(encoding="utf-8"))
    print(f"capcover demo — {snapshot['_label']}")
    anchor = snapshot["anchor"]
    print(f"  anchored to the CoinDesk article: AI category ${anchor['market_cap_usd'] / 1e9:.0f}B"
          f" on {anchor['date']}, H100 at ${anchor['h100_quote_usd']:,}")
    with ReplayServer(snapshot) as url:
        env = demo_environment(url + snapshot["api_root"], db)
        touched = [*env, "CAPCOVER_COINGECKO_API_KEY", "CAPCOVER_CONFIG"]
        saved = {k: os.environ.get(k) for k in touched}
        os.environ.update(env)
        os.environ.pop("CAPCOVER_COINGECKO_API_KEY", None)  # never send a real key to the replay
        os.environ.pop("CAPCOVER_CONFIG", None)
        try:
            from flows.daily import daily_flow

            result = daily_flow(kind="demo")
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
    print(summary_text(result, db))
    with open_warehouse(db, read_only=True) as wh:
        cols, rows = report(wh)
    print(render(cols, rows, "table", title="report_daily (ILLUSTRATIVE demo data)"))
    query = "SELECT scenario, coverage_ratio FROM report_daily"
    print(f"\nQuery it: CAPCOVER_DB={db} capcover sql \"{query}\"")
    return 0
