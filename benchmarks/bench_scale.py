"""Part 6 — scale: the daily run and `capcover report` as the tracked constituents grow
(1x, 10x, 100x the AI sector's 260 coins, across pages and categories) and as the warehouse's
history grows (1 and 10 years of days). Each figure is a ratio against the 1x / 1-year point
measured in the same run; `report` is also set against a bare duckdb process on the same file.

History goes in as a real backfill puts it there: `run_backfill` (pro plan) fetches every
coin's market chart of `years` x 365 days from the fake API, archives them in the raw archive
and parses them into coin_history and the history reports; the daily tables' past days
(category and coin snapshots) are then extended back as a seeded random walk. Measured on it:
the daily run and its publish step, the first publish after a further 30-day backfill, and
`capcover rebuild` against DuckDB's own `from_json` over the same archive (new processes,
peak memory from the kernel's accounting)."""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from benchmarks.bench_latency import BARE, REPORT_SQL, capcover_exe, timed_process
from benchmarks.common import (
    Figure,
    Samples,
    capcover_settings,
    clean_env,
    figure_from,
    run_measured,
    timed,
)
from capcover.fakeapi.coingecko import CoinGecko, category_ids

AI_SECTOR = 260
# scale -> coins per category (the 100x case spreads 26,000 coins over 10 categories of 11 pages)
CONSTITUENTS = {1: [AI_SECTOR], 10: [AI_SECTOR * 10], 100: [AI_SECTOR * 10] * 10}
YEARS = (1, 10)
AFTER_BACKFILL_DAYS = 30  # the backfill before the "first publish after a backfill" figure
CHART_SHAPE = '{"prices": "DOUBLE[][]", "market_caps": "DOUBLE[][]", "total_volumes": "DOUBLE[][]"}'
# The floor of `capcover rebuild`: DuckDB parsing every archived body once, the market charts
# into the typed shape the rebuild needs (from_json), every other JSON body as JSON.
FLOOR_SQL = (  # run by the bare process (BARE): constants only
    "SELECT (SELECT sum(len(j.prices) + len(j.market_caps) + len(j.total_volumes))"  # noqa: S608
    f" FROM (SELECT from_json(body, '{CHART_SHAPE}') AS j FROM raw_http"
    " WHERE status = 200 AND endpoint LIKE '/coins/%/market_chart')),"
    " (SELECT count(json(body)) FROM raw_http WHERE status = 200"
    " AND endpoint NOT LIKE '/coins/%/market_chart' AND left(body, 1) IN ('[', '{'))"
)


# Day-to-day moves of the generated history: each coin's cap, price and volume, each
# category's cap and the sector figures of every report follow their own seeded random walk
# (steps of up to +-4% a day from a hash, so the same seed gives the same history), so the
# Parquet files compress like real data, not like one day repeated.
SEED = 20240403
STEP = 0.04


def _walk(key_sql: str) -> str:
    """SQL: the walk's factor at offset t.i (days back) for the series `key_sql`."""
    return (
        f"exp(sum(((hash({key_sql}, t.i, {SEED}) % 2001)::DOUBLE / 1000 - 1) * {STEP})"
        f" OVER (PARTITION BY {key_sql} ORDER BY t.i))"
    )


def grow_history(db: Path, years: int) -> int:
    """Extend the latest day's category and coin snapshots back over `years` x 365 days,
    every series a seeded random walk from the latest value (coin_history and the reports
    are the backfill's own), and record it as a run that may have changed anything (the next
    publish exports everything). Rows land in date order, as years of daily runs append them
    one day at a time. Returns the number of report days."""
    from capcover.warehouse.db import open_warehouse

    days = years * 365
    with open_warehouse(db) as wh, wh.transaction():
        wh.query("SET enable_progress_bar = false")  # the copies take seconds; keep output clean
        latest = wh.scalar("SELECT max(as_of_date) FROM coin_snapshots")
        f = _walk("c.category_id")
        wh.query(
            f"""INSERT INTO category_snapshots SELECT c.* REPLACE (
                'bench-history' AS run_id,
                c.as_of_date - t.i::INTEGER AS as_of_date, c.market_cap_usd * {f} AS market_cap_usd,
                c.volume_24h_usd * {_walk("c.category_id || 'v'")} AS volume_24h_usd)
            FROM category_snapshots c, range(1, ?) t(i) WHERE c.as_of_date = ?
            ORDER BY as_of_date""",  # noqa: S608
            [days, latest],
        )
        f = _walk("c.category_id || c.coin_id")
        wh.query(
            f"""INSERT INTO coin_snapshots SELECT c.* REPLACE (
                'bench-history' AS run_id,
                c.as_of_date - t.i::INTEGER AS as_of_date, c.market_cap_usd * {f} AS market_cap_usd,
                c.current_price_usd * {f} AS current_price_usd,
                c.fully_diluted_valuation_usd * {f} AS fully_diluted_valuation_usd,
                c.total_volume_usd * {_walk("c.coin_id || 'v'")} AS total_volume_usd)
            FROM coin_snapshots c, range(1, ?) t(i) WHERE c.as_of_date = ?
            ORDER BY as_of_date""",  # noqa: S608
            [days, latest],
        )
        # Not a run to replay (its rows are not in the raw archive): failed, so `rebuild`
        # leaves its rows alone, while the next publish still exports everything.
        wh.query(
            "INSERT INTO runs (run_id, kind, started_at, finished_at, status, message)"
            " VALUES ('bench-history', 'bench', now(), now(), 'failed',"
            " 'history grown in place by the benchmark')"
        )
        return wh.scalar("SELECT count(DISTINCT report_date) FROM report_daily")


def publish_times(db: Path, runs: int) -> list[float]:
    """The `publish` step (seconds) of the last `runs` runs, as each run recorded it."""
    import json

    from capcover.warehouse.db import open_warehouse

    with open_warehouse(db, read_only=True) as wh:
        steps = wh.query(
            "SELECT step_durations FROM runs WHERE kind = 'daily'"
            " ORDER BY started_at DESC, run_id DESC LIMIT ?",
            [runs],
        )
    return [json.loads(s)["publish"] for (s,) in steps]


def _backfill(settings, days: int) -> None:
    """A real `capcover backfill --days N` on the pro plan (no 365-day limit)."""
    import io

    from rich.console import Console

    from capcover.flows.backfill import run_backfill

    pro = settings.model_copy(update={"coingecko_plan": "pro"})
    pro = type(settings).model_validate(
        {**pro.model_dump(), "coingecko_api_key": "bench-not-a-key", "coingecko_plan": "pro"}
    )
    run_backfill(pro, days, console=Console(file=io.StringIO()))


def _history_warehouse(stack: ExitStack, t: Path, years: int, coins: int) -> tuple[Path, Any]:
    """A warehouse with `years` of history (a real backfill, then the daily tables grown
    back) and the settings of its fake API (kept serving on `stack`), after the first daily
    run (it publishes everything; the timed runs after it publish incrementally)."""
    from capcover.flows.sequence import run_daily

    db = t / f"years-{years}.duckdb"
    fake = stack.enter_context(CoinGecko.generated({"artificial-intelligence": coins}))
    settings = capcover_settings(fake, db, publish_dir=db.with_name(f"{db.stem}-published"))
    run_daily(settings)  # today's constituents: what the backfill fetches
    _backfill(settings, years * 365)
    grow_history(db, years)
    run_daily(settings)
    return db, settings


def _alternating(points: list, measure: Callable[[Any], float], repeat: int) -> list[list[float]]:
    """`measure(point)` for every point, round after round (a b c a b c ...), so a change in
    the machine's load hits every point alike; the samples per point."""
    got: list[list[float]] = [[] for _ in points]
    for _ in range(max(1, repeat)):
        for i, point in enumerate(points):
            got[i].append(measure(point))
    return got


def history_points(
    stack: ExitStack, t: Path, years: tuple[int, ...], repeat: int, coins: int = AI_SECTOR
) -> tuple[list[dict], list[dict]]:
    """Every history point's warehouse first, then each measurement alternating between the
    points: the daily run and its publish step, the first publish after a 30-day backfill,
    `report` and a bare process, `rebuild` and the from_json floor (new processes, each
    rebuild on a fresh copy of its warehouse)."""
    import shutil

    from capcover.flows.sequence import run_daily

    built = [(y, *_history_warehouse(stack, t, y, coins)) for y in years]
    n_days = {y: grow_days(db) for y, db, _ in built}

    def daily(point) -> float:
        _y, db, settings = point
        took = timed(lambda: run_daily(settings))[0]
        publish.setdefault(db, []).append(publish_times(db, 1)[0])
        return took

    publish: dict[Path, list[float]] = {}
    runs = _alternating(built, daily, repeat)

    def after_backfill(point) -> float:
        _y, db, settings = point
        _backfill(settings, AFTER_BACKFILL_DAYS)
        run_daily(settings)
        return publish_times(db, 1)[0]

    after = _alternating(built, after_backfill, repeat)
    envs = {db: clean_env(CAPCOVER_DB=str(db)) for _y, db, _s in built}
    for _y, db, _s in built:  # a warm-up of each command (its .pyc files, the file cache)
        timed_process([capcover_exe(), "report"], envs[db])
        timed_process([sys.executable, "-c", BARE, str(db), REPORT_SQL], envs[db])
    reports = _alternating(
        built, lambda p: timed_process([capcover_exe(), "report"], envs[p[1]])[0], repeat
    )
    bares = _alternating(
        built,
        lambda p: timed_process([sys.executable, "-c", BARE, str(p[1]), REPORT_SQL], envs[p[1]])[0],
        repeat,
    )
    peaks: dict[tuple[str, Path], list[float]] = {}

    def rebuild(point) -> float:
        _y, db, _s = point
        copy = db.with_name(f"{db.stem}-rebuild.duckdb")
        shutil.copyfile(db, copy)
        env = clean_env(CAPCOVER_DB=str(copy), CAPCOVER_LOCK_BUDGET_S="30")
        took, peak = run_measured([capcover_exe(), "rebuild"], env)
        peaks.setdefault(("rebuild", db), []).append(peak)
        copy.unlink()
        return took

    def floor(point) -> float:
        _y, db, _s = point
        took, peak = run_measured([sys.executable, "-c", BARE, str(db), FLOOR_SQL], envs[db])
        peaks.setdefault(("floor", db), []).append(peak)
        return took

    rebuilds, floors = [[] for _ in built], [[] for _ in built]  # type: ignore[var-annotated]
    for _ in range(max(1, repeat)):
        for i, point in enumerate(built):
            rebuilds[i].append(rebuild(point))
            floors[i].append(floor(point))
    curve, samples = [], []
    for i, (y, db, _s) in enumerate(built):
        with __import__("duckdb").connect(str(db), read_only=True) as con:
            charts, chart_bytes = con.execute(
                "SELECT count(*), sum(length(body)) FROM raw_http"
                " WHERE endpoint LIKE '%market_chart'"
            ).fetchone()
        sample = {
            "run": Samples(tuple(runs[i])),
            "publish": Samples(tuple(publish[db])),
            "after_backfill": Samples(tuple(after[i])),
            "report": Samples(tuple(reports[i])),
            "bare": Samples(tuple(bares[i])),
            "rebuild": Samples(tuple(rebuilds[i])),
            "floor": Samples(tuple(floors[i])),
        }
        samples.append(sample)
        curve.append(
            {
                "years": y,
                "days": n_days[y],
                "daily_run_s": sample["run"].median,
                "report_s": sample["report"].median,
                "bare_report_s": sample["bare"].median,
                "publish_min_s": sample["publish"].min,
                "publish_median_s": sample["publish"].median,
                "publish_runs": len(publish[db]),
                "publish_after_backfill_s": sorted(after[i]),
                "rebuild_s": sorted(rebuilds[i]),
                "rebuild_peak_mib": sorted(round(x) for x in peaks[("rebuild", db)]),
                "floor_s": sorted(floors[i]),
                "floor_peak_mib": sorted(round(x) for x in peaks[("floor", db)]),
                "archived_charts": charts,
                "archived_chart_mb": round((chart_bytes or 0) / 1e6, 1),
            }
        )
    return curve, samples


def grow_days(db: Path) -> int:
    import duckdb

    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute("SELECT count(DISTINCT report_date) FROM report_daily").fetchone()[0]


def run(
    repeat: int = 3,
    scales: dict[int, list[int]] | None = None,
    years: tuple[int, ...] = YEARS,
    history_coins: int = AI_SECTOR,
) -> tuple[list[Figure], dict]:
    from capcover.flows.sequence import run_daily

    scales = scales or CONSTITUENTS
    curve: dict = {"constituents": [], "history": []}  # medians, for the plot and the JSON
    samples: dict = {"constituents": [], "history": []}  # every run, for the figures
    figures: list[Figure] = []
    with tempfile.TemporaryDirectory(prefix="capcover-bench-scale-") as tmp, ExitStack() as stack:
        t = Path(tmp)
        # Every size's warehouse first (its first run creates it), then the sizes alternate.
        sized = []
        for scale, sizes in scales.items():
            cats = dict(zip(category_ids(len(sizes)), sizes, strict=True))
            fake = stack.enter_context(CoinGecko.generated(cats))
            db = t / f"coins-{scale}.duckdb"
            settings = capcover_settings(fake, db, publish_dir=db.with_name(f"{db.stem}-published"))
            run_daily(settings)
            sized.append((scale, sizes, db, settings))
        runs = _alternating(sized, lambda p: timed(lambda: run_daily(p[3]))[0], repeat)
        envs = {p[2]: clean_env(CAPCOVER_DB=str(p[2])) for p in sized}
        for p in sized:
            timed_process([capcover_exe(), "report"], envs[p[2]])  # warm-up
        reports = _alternating(
            sized, lambda p: timed_process([capcover_exe(), "report"], envs[p[2]])[0], repeat
        )
        for i, (scale, sizes, _db, _s) in enumerate(sized):
            run_s, rep_s = Samples(tuple(runs[i])), Samples(tuple(reports[i]))
            curve["constituents"].append(
                {
                    "scale": scale,
                    "coins": sum(sizes),
                    "categories": len(sizes),
                    "daily_run_s": run_s.median,
                    "report_s": rep_s.median,
                }
            )
            samples["constituents"].append({"run": run_s, "report": rep_s})
        curve["history"], samples["history"] = history_points(
            stack, t, years, repeat, history_coins
        )
    c0, h0 = samples["constituents"][0], samples["history"][0]
    coins0 = curve["constituents"][0]["coins"]
    for c, s in zip(curve["constituents"][1:], samples["constituents"][1:], strict=True):
        figures.append(
            figure_from(
                "scale",
                f"daily run at {c['scale']}x constituents ({c['coins']:,} coins)",
                s["run"],
                "s",
                f"daily run at 1x ({coins0} coins)",
                c0["run"],
                note=f"linear would be {c['scale']}x",
            )
        )
        figures.append(
            figure_from(
                "scale",
                f"report at {c['scale']}x constituents",
                s["report"],
                "s",
                "report at 1x",
                c0["report"],
            )
        )
    for h, s in zip(curve["history"][1:], samples["history"][1:], strict=True):
        figures.append(
            figure_from(
                "scale",
                f"daily run with {h['years']} years of history",
                s["run"],
                "s",
                "daily run with 1 year",
                h0["run"],
                note=f"target <= 1.15x; history {h['years']}x longer, archived in raw_http by a "
                f"real backfill ({h['archived_chart_mb']} MB of market charts)",
            )
        )
    for h, s in zip(curve["history"][1:], samples["history"][1:], strict=True):
        figures.append(
            figure_from(
                "scale",
                f"Parquet snapshot publish with {h['years']} years of history",
                s["publish"],
                "s",
                "publish with 1 year",
                h0["publish"],
                digits=4,
                note="target <= 1.2x; the publish step of incremental daily runs",
            )
        )
        figures.append(
            figure_from(
                "scale",
                f"first publish after a {AFTER_BACKFILL_DAYS}-day backfill, {h['years']} years",
                s["after_backfill"],
                "s",
                "the same at 1 year",
                h0["after_backfill"],
                digits=4,
                note="target <= 1.2x; the publish step of the daily run after the backfill",
            )
        )
    for h, s in zip(curve["history"], samples["history"], strict=True):
        figures.append(
            figure_from(
                "scale",
                f"capcover rebuild with {h['years']} year(s) of history (new process)",
                s["rebuild"],
                "s",
                "DuckDB from_json over the same archive (new process)",
                s["floor"],
                note=f"target <= 1.5x; peak memory median {_mid(h['rebuild_peak_mib'])} MiB "
                f"(floor {_mid(h['floor_peak_mib'])} MiB); {h['archived_charts']} archived "
                f"charts, {h['archived_chart_mb']} MB",
            )
        )
    for h, s in zip(curve["history"], samples["history"], strict=True):
        figures.append(
            figure_from(
                "scale",
                f"capcover report with {h['years']} year(s) of history",
                s["report"],
                "s",
                "bare python+duckdb process, same query",
                s["bare"],
                digits=4,
            )
        )
    return figures, curve


def _mid(values: list) -> object:
    return values[len(values) // 2]


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
    left.plot(
        coins,
        [c["daily_run_s"] for c in curve["constituents"]],
        "o-",
        label="daily run (in-process)",
    )
    left.plot(
        coins,
        [c["report_s"] for c in curve["constituents"]],
        "s-",
        label="capcover report (new process)",
    )
    if coins:
        base = curve["constituents"][0]["daily_run_s"]
        left.plot(
            coins, [base * n / coins[0] for n in coins], ":", color="grey", label="linear from 1x"
        )
    left.set_xscale("log")
    left.set_yscale("log")
    left.set_xlabel("tracked constituents (coins)")
    left.set_ylabel("seconds")
    left.set_title("Growth with constituents")
    left.legend(fontsize=8)
    years = [h["years"] for h in curve["history"]]
    right.plot(
        years, [h["daily_run_s"] for h in curve["history"]], "o-", label="daily run (in-process)"
    )
    right.plot(
        years,
        [h["report_s"] for h in curve["history"]],
        "s-",
        label="capcover report (new process)",
    )
    right.plot(
        years,
        [h["bare_report_s"] for h in curve["history"]],
        "^--",
        label="bare python+duckdb report query",
    )
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
