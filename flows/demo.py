"""`capcover demo`: the real pipeline against a bundled replay snapshot served on localhost.

The snapshot is ILLUSTRATIVE (scripts/make_demo_snapshot.py generates it) and the demo writes to
its own warehouse file, data/demo.duckdb, whatever CAPCOVER_DB says: it never touches live data.
Its settings are built from the replay's addresses and the built-in defaults only: the user's
environment, key, config file and alert channels never reach it (no `os.environ` edits).
"""

from __future__ import annotations

import json
import shlex
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit

from capcover.config.settings import Settings, load_settings
from capcover.fakeapi.replay import ReplayServer
from capcover.flows.backfill import run_backfill
from capcover.flows.clients import Clients
from capcover.report.advice import command_prefix
from capcover.report.html import write_report_files
from capcover.report.summary import summary_text
from capcover.report.tables import render
from capcover.report.terminal import print_alerts, print_history
from capcover.warehouse.db import open_warehouse
from capcover.warehouse.queries import report

SNAPSHOT = Path(__file__).resolve().parent.parent / "ingest" / "data" / "demo_snapshot.json"
DEMO_DB = Path("data/demo.duckdb")
DEMO_HTML = Path("data/demo-report.html")
DEMO_PNG = Path("data/demo-coverage.png")
DEMO_DAYS = 90
DEMO_GPUHUNT_PROVIDERS = ("aws", "gcp", "oci", "azure", "verda", "lambdalabs", "nebius", "runpod")


def demo_settings(base_url: str, db: Path = DEMO_DB) -> Settings:
    """Settings for a replay at `base_url`: no key, no config file, no alert channels (demo
    alerts are stored and printed, never sent to a user's real Slack or inbox)."""
    root = _root(base_url)
    return load_settings(
        environ=False,
        db=db,
        coingecko_base_url=base_url,
        coingecko_plan="public",
        coingecko_rate_per_minute=6000,  # a local server has no quota
        categories=["artificial-intelligence"],
        # The GPU feeds replay from the same local server (scripts/make_demo_snapshot.py).
        vastai_base_url=root + "/vast",
        vastai_gpu_names=["H100 SXM", "H100 PCIE", "H200", "B200"],
        vastai_rate_per_minute=6000,
        runpod_base_url=root + "/runpod",
        runpod_rate_per_minute=6000,
        # The gpuhunt catalogs the replay snapshot holds (scripts/make_demo_snapshot.py).
        gpuhunt_base_url=root + "/gpuhunt",
        gpuhunt_providers=list(DEMO_GPUHUNT_PROVIDERS),
        gpuhunt_rate_per_minute=6000,
    )


def replay_clock(snapshot: dict) -> datetime:
    """The moment of the replayed day the demo's feeds fetch "at" (UTC), so their quotes
    (ILLUSTRATIVE) belong to the replayed day instead of the wall clock's."""
    return datetime.fromisoformat(snapshot["replay_clock"].replace("Z", "+00:00"))


def demo_clients(settings: Settings, snapshot: dict) -> Clients:
    """The demo's clients: the replay's settings and the replay's clock."""
    at = replay_clock(snapshot)
    return Clients(settings, now=lambda: at)


def _root(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def run_demo(db: Path = DEMO_DB) -> int:
    """Backfill 90 days, run the daily flow, print the history and the alerts, write the HTML
    report — all against the replay snapshot, into `db` only (recreated on every run)."""
    from capcover.flows.daily import (  # Prefect only now, not for `capcover --help`
        demo_flow,
        run_flow,
    )

    snapshot = json.loads(SNAPSHOT.read_text(encoding="utf-8"))
    print(f"capcover demo — {snapshot['_label']}")
    anchor = snapshot["anchor"]
    print(
        f"  anchored to the CoinDesk article: AI category ${anchor['market_cap_usd'] / 1e9:.0f}B"
        f" on {anchor['date']}, H100 at ${anchor['h100_quote_usd']:,}"
    )
    db = Path(db)
    for stale in (db, db.with_name(db.name + ".wal")):
        stale.unlink(missing_ok=True)  # the demo's own file: every demo starts from scratch
    with ReplayServer(snapshot) as url:
        settings = demo_settings(url + snapshot["api_root"], db)
        print(
            f"\n1. backfill: {DEMO_DAYS} days of per-coin market charts "
            f"(one request per constituent)"
        )
        backfill = run_backfill(settings, DEMO_DAYS)
        print(backfill.summary_text())
        print("\n2. the daily run (Prefect flow) on the replayed 2024-04-03")
        result = run_flow(demo_flow, settings=settings, replay_at=replay_clock(snapshot))
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
    print(f"Query it: {command_prefix(db)} sql {shlex.quote(query)}")
    return 0
