"""Part 2 — backfill against the rate limit: a local CoinGecko that accepts at most R requests in
any 1-second window (429 + Retry-After beyond that). capcover's `backfill` time against the floor
(coins / R) and the number of 429s it drew (target 0); beside it, a naive loop (requests.get per
coin, sleeping Retry-After on a 429) against the same server."""

from __future__ import annotations

import io
import tempfile
import time
from pathlib import Path

import requests

from benchmarks.common import Figure, capcover_settings
from fakeapi.coingecko import CoinGecko


def naive_backfill(base_url: str, coins: list[str], days: int) -> tuple[float, int]:
    """What a quick script does: fire one request per coin, wait Retry-After on a 429."""
    t0, rejected = time.perf_counter(), 0
    with requests.Session() as s:
        for coin in coins:
            for _attempt in range(20):
                r = s.get(f"{base_url}/coins/{coin}/market_chart",
                          params={"vs_currency": "usd", "days": days}, timeout=10)
                if r.status_code != 429:
                    r.raise_for_status()
                    break
                rejected += 1
                time.sleep(float(r.headers.get("Retry-After", "1")))
    return time.perf_counter() - t0, rejected


def _capcover_backfill(fake: CoinGecko, db: Path, ids: list[str], days: int,
                       client_rate_per_s: float) -> tuple[float, str, dict]:
    """One `capcover backfill` into a fresh warehouse: (seconds, what, its own counters)."""
    from rich.console import Console

    from flows.backfill import run_backfill

    settings = capcover_settings(fake, db, coingecko_rate_per_minute=client_rate_per_s * 60)
    t0 = time.perf_counter()
    result = run_backfill(settings, days, console=Console(file=io.StringIO()))
    assert result.coins_done == len(ids), result.summary_text()
    what = "capcover backfill (run_backfill)"
    inner = {"fetch_elapsed_s": round(result.fetch_elapsed_s, 3),
             "throttle_wait_s": round(result.throttle_wait_s, 3),
             "retry_wait_s": round(result.retry_wait_s, 3)}
    return time.perf_counter() - t0, what, inner


def run(coins: int = 120, rate_per_s: float = 20, days: int = 365,
        margin: float = 0.9) -> list[Figure]:
    cats = {"artificial-intelligence": coins}
    with tempfile.TemporaryDirectory(prefix="capcover-bench-backfill-") as tmp, \
            CoinGecko.generated(cats, rate_per_s=rate_per_s, chart_days=days) as fake:
        fake.prewarm_charts()
        ids = [f"artificial-intelligence-coin-{i:05d}" for i in range(coins)]
        # The client set to exactly the server's limit, as a user copying the plan's rate would.
        took, what, inner = _capcover_backfill(fake, Path(tmp) / "a.duckdb", ids, days,
                                               rate_per_s)
        cg_calls, rejected = fake.coingecko_requests(), sum(fake.rejected.values())
        chart_calls = sum(fake.chart_requests().values())
        # The same with the client paced a little under the limit.
        fake.clear_log()
        took_m, _, inner_m = _capcover_backfill(fake, Path(tmp) / "b.duckdb", ids, days,
                                                rate_per_s * margin)
        rejected_m = sum(fake.rejected.values())
        fake.clear_log()
        naive_s, naive_429 = naive_backfill(fake.base_url, ids, days)
    floor = coins / rate_per_s
    extra = {"coins": coins, "rate_per_s": rate_per_s, "days": days,
             "coingecko_calls": cg_calls, "market_chart_calls": chart_calls,
             "floor_all_calls_s": round(cg_calls / rate_per_s, 3),
             "what": what, **inner, "capcover_429s": rejected,
             "at_margin": {"client_rate_per_s": rate_per_s * margin, "seconds": round(took_m, 3),
                           "429s": rejected_m, **inner_m},
             "naive_s": round(naive_s, 3), "naive_429s": naive_429}
    size = f"{coins} coins x {days} days at R = {rate_per_s:g} req/s"
    return [
        Figure("backfill", "backfill time, client at R, vs the rate-limit floor (coins / R)",
               round(took, 3), "s", "floor: coins / R", round(floor, 3), note=size, extra=extra),
        Figure("backfill", "backfill 429s, client at R (target 0), vs a naive loop", rejected,
               "429s", "naive requests.get loop honouring Retry-After", naive_429, note=size,
               extra=extra),
        Figure("backfill", f"backfill time, client at {margin:g} R, vs the floor (coins / R)",
               round(took_m, 3), "s", "floor: coins / R", round(floor, 3),
               note=f"{rejected_m} 429s drawn", extra=extra),
    ]
