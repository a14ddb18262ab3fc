"""Part 6 — scale: the daily run and `capcover report` as the tracked constituents grow
(1x, 10x, 100x the AI sector's 260 coins, across pages and categories) and as the warehouse's
history grows (1, 5, 10 years of days). Each figure is a ratio against the 1x / 1-year point
measured in the same run; `report` is also set against a bare duckdb process on the same file."""

from __future__ import annotations

import statistics
import sys
import tempfile
from pathlib import Path

from benchmarks.bench_latency import BARE, REPORT_SQL, capcover_exe, median_cmd
from benchmarks.common import Figure, capcover_settings, clean_env, timed
from fakeapi.coingecko import CoinGecko, category_ids

AI_SECTOR = 260
# scale -> coins per category (the 100x case spreads 26,000 coins over 10 categories of 11 pages)
CONSTITUENTS = {1: [AI_SECTOR], 10: [AI_SECTOR * 10], 100: [AI_SECTOR * 10] * 10}
YEARS = (1, 5, 10)


def daily_run_time(db: Path, sizes: list[int], repeat: int) -> float:
    from flows.sequence import run_daily

    cats = dict(zip(category_ids(len(sizes)), sizes, strict=True))
    with CoinGecko.generated(cats) as fake:
        settings = capcover_settings(fake, db)
        run_daily(settings)  # first run creates the warehouse (migrations not timed)
        return statistics.median(timed(lambda: run_daily(settings))[0]
                                 for _ in range(repeat))


def grow_history(db: Path, years: int) -> int:
    """Copy the latest day back over `years` x 365 days (snapshots, reports, coin history)."""
    from warehouse.db import open_warehouse

    days = years * 365
    with open_warehouse(db) as wh, wh.transaction():
        wh.query("SET enable_progress_bar = false")  # the copies take seconds; keep output clean
        latest = wh.scalar("SELECT max(as_of_date) FROM coin_snapshots")
        for table, col in (("category_snapshots", "as_of_date"), ("coin_snapshots", "as_of_date"),
                           ("report_daily", "report_date")):
            wh.query(f"INSERT INTO {table} SELECT c.* REPLACE (c.{col} - CAST(t.i AS INTEGER) "  # noqa: S608 - constants
                     f"AS {col}) FROM {table} c, range(1, ?) t(i) WHERE c.{col} = ?",
                     [days, latest])
        tables = {r[0] for r in wh.query("SELECT table_name FROM information_schema.tables")}
        if "coin_history" in tables:
            wh.query("""
                INSERT INTO coin_history
                SELECT c.coin_id, c.as_of_date, to_timestamp(epoch(c.fetched_at)),
                       c.market_cap_usd, c.current_price_usd, c.total_volume_usd,
                       c.fetched_at, 'bench'
                FROM (SELECT coin_id, as_of_date, any_value(fetched_at) AS fetched_at,
                             any_value(market_cap_usd) AS market_cap_usd,
                             any_value(current_price_usd) AS current_price_usd,
                             any_value(total_volume_usd) AS total_volume_usd
                      FROM coin_snapshots GROUP BY ALL) c
                ON CONFLICT DO NOTHING""")
        return wh.scalar("SELECT count(DISTINCT report_date) FROM report_daily")


def run(repeat: int = 3, scales: dict[int, list[int]] | None = None,
        years: tuple[int, ...] = YEARS) -> tuple[list[Figure], dict]:
    scales = scales or CONSTITUENTS
    curve: dict = {"constituents": [], "history": []}
    figures: list[Figure] = []
    with tempfile.TemporaryDirectory(prefix="capcover-bench-scale-") as tmp:
        t = Path(tmp)
        for scale, sizes in scales.items():
            db = t / f"coins-{scale}.duckdb"
            run_s = daily_run_time(db, sizes, repeat)
            env = clean_env(CAPCOVER_DB=str(db))
            rep_s = median_cmd([capcover_exe(), "report"], env, repeat)
            curve["constituents"].append({"scale": scale, "coins": sum(sizes),
                                          "categories": len(sizes), "daily_run_s": run_s,
                                          "report_s": rep_s})
        for y in years:
            db = t / f"years-{y}.duckdb"
            daily_run_time(db, [AI_SECTOR], 1)
            n_days = grow_history(db, y)
            run_s = daily_run_time(db, [AI_SECTOR], repeat)
            env = clean_env(CAPCOVER_DB=str(db))
            rep_s = median_cmd([capcover_exe(), "report"], env, repeat)
            bare_s = median_cmd([sys.executable, "-c", BARE, str(db), REPORT_SQL], env, repeat)
            curve["history"].append({"years": y, "days": n_days, "daily_run_s": run_s,
                                     "report_s": rep_s, "bare_report_s": bare_s})
    c0, h0 = curve["constituents"][0], curve["history"][0]
    for c in curve["constituents"][1:]:
        figures.append(Figure(
            "scale", f"daily run at {c['scale']}x constituents ({c['coins']:,} coins)",
            round(c["daily_run_s"], 3), "s", f"daily run at 1x ({c0['coins']} coins)",
            round(c0["daily_run_s"], 3), note=f"linear would be {c['scale']}x"))
        figures.append(Figure(
            "scale", f"report at {c['scale']}x constituents", round(c["report_s"], 3), "s",
            "report at 1x", round(c0["report_s"], 3)))
    for h in curve["history"][1:]:
        figures.append(Figure(
            "scale", f"daily run with {h['years']} years of history", round(h["daily_run_s"], 3),
            "s", "daily run with 1 year", round(h0["daily_run_s"], 3),
            note=f"history {h['years']}x longer"))
    for h in curve["history"]:
        figures.append(Figure(
            "scale", f"capcover report with {h['years']} year(s) of history",
            round(h["report_s"], 4), "s", "bare python+duckdb process, same query",
            round(h["bare_report_s"], 4)))
    return figures, curve


def plot(curve: dict, path: Path) -> Path | None:
    """The growth curves as a PNG (needs matplotlib, in the `bench` extra)."""
    try:
        import matplotlib
    except ImportError:
        return None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    coins = [c["coins"] for c in curve["constituents"]]
    left.plot(coins, [c["daily_run_s"] for c in curve["constituents"]], "o-",
              label="daily run (in-process)")
    left.plot(coins, [c["report_s"] for c in curve["constituents"]], "s-",
              label="capcover report (new process)")
    if coins:
        base = curve["constituents"][0]["daily_run_s"]
        left.plot(coins, [base * n / coins[0] for n in coins], ":", color="grey",
                  label="linear from 1x")
    left.set_xscale("log")
    left.set_yscale("log")
    left.set_xlabel("tracked constituents (coins)")
    left.set_ylabel("seconds")
    left.set_title("Growth with constituents")
    left.legend(fontsize=8)
    years = [h["years"] for h in curve["history"]]
    right.plot(years, [h["daily_run_s"] for h in curve["history"]], "o-",
               label="daily run (in-process)")
    right.plot(years, [h["report_s"] for h in curve["history"]], "s-",
               label="capcover report (new process)")
    right.plot(years, [h["bare_report_s"] for h in curve["history"]], "^--",
               label="bare python+duckdb report query")
    right.set_xlabel("years of daily history in the warehouse")
    right.set_ylabel("seconds")
    right.set_ylim(bottom=0)
    right.set_title("Growth with history")
    right.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
