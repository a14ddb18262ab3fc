"""Measure the backfill's done-criterion: N coins x 365 days against a fake CoinGecko that admits
at most R requests in any 1-second window (429 + Retry-After beyond), in a real `capcover
backfill` process; then the same again with a SIGKILL half-way and a resume.

    .venv/bin/python scripts/bench_backfill.py --coins 300 --rate 20

Prints the wall time against the floor N/R, the 429s drawn, and the requests per coin.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from capcover.fakeapi.coingecko import CoinGecko  # noqa: E402


def backfill(db: Path, server: CoinGecko, rate: float, days: int) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAPCOVER_")}
    env.update(
        {
            "CAPCOVER_DB": str(db),
            "CAPCOVER_COINGECKO_BASE_URL": server.base_url,
            "CAPCOVER_COINGECKO_RATE_PER_MINUTE": str(rate * 60),
            "PYTHONPATH": str(ROOT),
        }
    )
    return subprocess.Popen(
        [sys.executable, "-m", "capcover", "backfill", "--days", str(days)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def fetch_seconds(out: str) -> float:
    m = re.search(r"fetched now in ([\d.]+) s", out)
    return float(m.group(1)) if m else float("nan")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--coins", type=int, default=300)
    ap.add_argument("--rate", type=float, default=20.0, help="R: requests per second")
    ap.add_argument("--days", type=int, default=365)
    ap.add_argument(
        "--jitter-slots",
        type=float,
        default=0.1,
        help="server's jitter allowance in slots of 1/R (default 0.1)",
    )
    args = ap.parse_args()
    n, rate = args.coins, args.rate
    floor = n / rate
    with tempfile.TemporaryDirectory(prefix="capcover-bench-") as tmp:
        print(
            f"{n} coins x {args.days} days, server limit {rate:g} req/s "
            f"(floor {n}/{rate:g} = {floor:.1f} s), "
            f"server jitter allowance {args.jitter_slots:g} slot"
        )
        with CoinGecko.charts(n_coins=n, rate_per_s=rate, jitter_s=args.jitter_slots / rate) as srv:
            t0 = time.monotonic()
            proc = backfill(Path(tmp) / "full.duckdb", srv, rate, args.days)
            out, err = proc.communicate()
            wall = time.monotonic() - t0
            assert proc.returncode == 0, err
            per_coin = srv.chart_requests()
            print(
                f"  uninterrupted: fetch {fetch_seconds(out):.1f} s "
                f"({fetch_seconds(out) / floor:.2f} x floor), process wall {wall:.1f} s; "
                f"429s {sum(srv.rejected.values())}; chart requests per coin "
                f"min {min(per_coin.values())} max {max(per_coin.values())} over "
                f"{len(per_coin)} coins"
            )
        with CoinGecko.charts(n_coins=n, rate_per_s=rate, jitter_s=args.jitter_slots / rate) as srv:
            db = Path(tmp) / "killed.duckdb"
            t0 = time.monotonic()
            proc = backfill(db, srv, rate, args.days)
            while sum(srv.chart_requests().values()) < n // 2:
                time.sleep(0.01)
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
            at_kill = sum(srv.chart_requests().values())
            proc = backfill(db, srv, rate, args.days)
            out, err = proc.communicate()
            wall = time.monotonic() - t0
            assert proc.returncode == 0, err
            per_coin = srv.chart_requests()
            again = sum(v - 1 for v in per_coin.values())
            print(
                f"  killed (SIGKILL) after {at_kill} chart requests, resumed: total wall "
                f"{wall:.1f} s incl. two process starts; 429s {sum(srv.rejected.values())}; "
                f"coins fetched twice {again} (in flight or uncommitted at the kill); "
                f"{len(per_coin)} coins done"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
