"""Part 2 — backfill against the rate limit: a local CoinGecko that accepts at most R requests in
any 1-second window (429 + Retry-After beyond that). capcover's `backfill` time against the floor
(coins / R) and the number of 429s it drew (target 0); beside it, a naive loop (requests.get per
coin, sleeping Retry-After on a 429) against the same server: its time and its 429s both in the
table (it can be faster than capcover, even under the "floor", because it does not pace and
only waits when refused)."""

from __future__ import annotations

import io
import statistics
import tempfile
import time
from pathlib import Path

import requests

from benchmarks.common import Figure, Samples, capcover_settings, figure_from
from capcover.fakeapi.coingecko import CoinGecko


def naive_backfill(base_url: str, coins: list[str], days: int) -> tuple[float, int]:
    """What a quick script does: fire one request per coin, wait Retry-After on a 429."""
    t0, rejected = time.perf_counter(), 0
    with requests.Session() as s:
        for coin in coins:
            for _attempt in range(20):
                r = s.get(
                    f"{base_url}/coins/{coin}/market_chart",
                    params={"vs_currency": "usd", "days": days},
                    timeout=10,
                )
                if r.status_code != 429:
                    r.raise_for_status()
                    break
                rejected += 1
                time.sleep(float(r.headers.get("Retry-After", "1")))
    return time.perf_counter() - t0, rejected


def _capcover_backfill(
    fake: CoinGecko, db: Path, ids: list[str], days: int, client_rate_per_s: float
) -> tuple[float, str, dict]:
    """One `capcover backfill` into a fresh warehouse: (seconds, what, its own counters)."""
    from rich.console import Console

    from capcover.flows.backfill import run_backfill

    settings = capcover_settings(fake, db, coingecko_rate_per_minute=client_rate_per_s * 60)
    t0 = time.perf_counter()
    result = run_backfill(settings, days, console=Console(file=io.StringIO()))
    assert result.coins_done == len(ids), result.summary_text()
    what = "capcover backfill (run_backfill)"
    inner = {
        "fetch_elapsed_s": round(result.fetch_elapsed_s, 3),
        "throttle_wait_s": round(result.throttle_wait_s, 3),
        "retry_wait_s": round(result.retry_wait_s, 3),
    }
    return time.perf_counter() - t0, what, inner


def run(
    coins: int = 120, rate_per_s: float = 20, days: int = 365, margin: float = 0.9, repeat: int = 1
) -> list[Figure]:
    """capcover's backfill (client at R and at `margin` R) and the naive loop, `repeat` times
    each on a fresh warehouse; times as min/median, 429s as the median count per run."""
    cats = {"artificial-intelligence": coins}
    at_r, at_m, naive = [], [], []  # (seconds, 429s, inner counters) per repeat
    with (
        tempfile.TemporaryDirectory(prefix="capcover-bench-backfill-") as tmp,
        CoinGecko.generated(cats, rate_per_s=rate_per_s, chart_days=days) as fake,
    ):
        fake.prewarm_charts()
        ids = [f"artificial-intelligence-coin-{i:05d}" for i in range(coins)]
        cg_calls = chart_calls = 0
        for i in range(max(1, repeat)):
            # The client set to exactly the server's limit, as a user copying the plan's rate
            # would; then a little under it; then the naive loop. clear_log() also empties
            # the server's rate window, so each starts from a quiet server.
            fake.clear_log()
            took, what, inner = _capcover_backfill(
                fake, Path(tmp) / f"a{i}.duckdb", ids, days, rate_per_s
            )
            cg_calls, chart_calls = fake.coingecko_requests(), sum(fake.chart_requests().values())
            at_r.append((took, sum(fake.rejected.values()), inner))
            fake.clear_log()
            took_m, _, inner_m = _capcover_backfill(
                fake, Path(tmp) / f"b{i}.duckdb", ids, days, rate_per_s * margin
            )
            at_m.append((took_m, sum(fake.rejected.values()), inner_m))
            fake.clear_log()
            naive.append(naive_backfill(fake.base_url, ids, days))
    floor = coins / rate_per_s
    t_r, t_m, t_n = (Samples(tuple(x[0] for x in xs)) for xs in (at_r, at_m, naive))
    r429, m429, n429 = ([x[1] for x in xs] for xs in (at_r, at_m, naive))
    fl = Samples((floor,))
    extra = {
        "coins": coins,
        "rate_per_s": rate_per_s,
        "days": days,
        "repeat": len(at_r),
        "coingecko_calls": cg_calls,
        "market_chart_calls": chart_calls,
        "floor_all_calls_s": round(cg_calls / rate_per_s, 3),
        "what": what,
        **at_r[-1][2],
        "capcover_429s_per_run": r429,
        "at_margin": {
            "client_rate_per_s": rate_per_s * margin,
            "429s_per_run": m429,
            "seconds_per_run": [round(x, 3) for x in t_m.values],
            **at_m[-1][2],
        },
        "naive_s_per_run": [round(x, 3) for x in t_n.values],
        "naive_429s_per_run": n429,
    }
    size = f"{coins} coins x {days} days at R = {rate_per_s:g} req/s"
    med = statistics.median
    return [
        figure_from(
            "backfill",
            "backfill time, client at R, vs the rate-limit floor (coins / R)",
            t_r,
            "s",
            "floor: coins / R",
            fl,
            note=size,
            extra=extra,
        ),
        figure_from(
            "backfill",
            "backfill time, client at R, vs a naive loop",
            t_r,
            "s",
            "naive requests.get loop honouring Retry-After (its time)",
            t_n,
            note=f"{size}; the naive loop drew {med(n429):g} 429s per run (median)",
            extra=extra,
        ),
        Figure(
            "backfill",
            "backfill 429s per run, client at R (target 0), vs a naive loop",
            med(r429),
            "429s",
            "naive requests.get loop honouring Retry-After (its 429s)",
            med(n429),
            note=f"{size}; per run: capcover {r429}, naive {n429}",
            value_min=min(r429),
            baseline_min=min(n429),
            repeat=len(r429),
            extra=extra,
        ),
        figure_from(
            "backfill",
            f"backfill time, client at {margin:g} R, vs the floor (coins / R)",
            t_m,
            "s",
            "floor: coins / R",
            fl,
            note=f"429s per run {m429}",
            extra=extra,
        ),
    ]
