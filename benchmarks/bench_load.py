"""Part 1 — load throughput: N days x M coins of market-chart history into DuckDB.

Contenders, all fed the same generated `/coins/{id}/market_chart` JSON bodies (a seeded random
walk per coin, so values move day to day like real series):
- capcover: its backfill's bulk loader (warehouse.history.store_charts: the bodies archived once
  in raw_http, then parsed by DuckDB in SQL with ingest.history's rules, the coins' days
  replaced, progress flags set; all coins in one transaction) into the migrated warehouse with
  its primary keys;
- DuckDB's bulk-load ceiling on the same decoded rows: the appender, and an Arrow table, into a
  bare table (no keys, no parsing: the fastest DuckDB can take rows from Python);
- hand-written `json.loads` + appender from the same JSON (what a script would do);
- dlt (`dlt[duckdb]`), the tool a data engineer would pick: on JSON (dicts from `json.loads`)
  and on its fastest documented path, a `pyarrow` table handed to `pipeline.run`. dlt's import
  is timed apart (a fresh interpreter) and left out of its load figures.

Every figure is the median of `repeat` (>= 3) runs, each into a fresh file; min and median
seconds of both sides are in the note and in `extra`. Set-up (migrations, job rows, building
the Arrow tables) is not timed.
"""

from __future__ import annotations

import json
import math
import os
import random
import statistics
import sys
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb

from benchmarks.common import Figure, run_cmd, timed

DAY_MS = 86_400_000
END = datetime(2024, 4, 3, tzinfo=UTC)
FETCHED = datetime(2024, 4, 3, 6, 30, tzinfo=UTC)
COLUMNS = (
    "coin_id",
    "day",
    "point_at",
    "market_cap_usd",
    "price_usd",
    "volume_24h_usd",
    "fetched_at",
    "job_id",
)
BARE_DDL = (
    "CREATE TABLE {t} (coin_id VARCHAR, day DATE, point_at TIMESTAMPTZ, "
    "market_cap_usd DOUBLE, price_usd DOUBLE, volume_24h_usd DOUBLE, "
    "fetched_at TIMESTAMPTZ, job_id VARCHAR)"
)


def history_chart(coin_id: str, days: int, seed: int = 13) -> dict[str, list]:
    """A market chart for `days` days at 00:00 UTC plus the trailing intraday "now" point.

    A geometric random walk per coin (seeded by `seed` and the coin id): its own magnitude,
    daily noise and drift; supply drifts slowly and volume is a noisy share of the cap, so no
    two days repeat (Parquet and DuckDB compress it like real data, not like a constant).
    """
    rng = random.Random(f"{seed}:{coin_id}")
    price = math.exp(rng.uniform(-4, 6))
    supply = rng.uniform(1e7, 1e10)
    t0 = int((END - timedelta(days=days)).timestamp() * 1000)
    prices, caps, vols = [], [], []
    for d in range(days):
        price *= math.exp(rng.gauss(0.0005, 0.04))
        supply *= math.exp(rng.gauss(0.0002, 0.001))
        ms = t0 + d * DAY_MS
        prices.append([ms, price])
        caps.append([ms, price * supply])
        vols.append([ms, price * supply * rng.lognormvariate(-3, 0.5)])
    now = t0 + (days - 1) * DAY_MS + 23_482_000
    prices.append([now, price])
    caps.append([now, price * supply])
    vols.append([now, vols[-1][1]])
    return {"prices": prices, "market_caps": caps, "total_volumes": vols}


def make_bodies(days: int, coins: int) -> dict[str, str]:
    """coin id -> the JSON body the API would send for `days` days."""
    return {f"coin-{i:04d}": json.dumps(history_chart(f"coin-{i:04d}", days)) for i in range(coins)}


def decode_rows(bodies: dict[str, str], fetched_at: datetime, job_id: str) -> list[tuple]:
    """The straightforward decode: one row per coin-day at 00:00 UTC (the "now" point dropped)."""
    rows = []
    for coin, body in bodies.items():
        p = json.loads(body)
        for (ms, cap), (_, price), (_, vol) in zip(
            p["market_caps"], p["prices"], p["total_volumes"], strict=True
        ):
            if ms % DAY_MS:
                continue
            at = datetime.fromtimestamp(ms / 1000, UTC)
            rows.append((coin, at.date(), at, cap, price, vol, fetched_at, job_id))
    return rows


def _connect(path: Path) -> duckdb.DuckDBPyConnection:
    return duckdb.connect(str(path), config={"autoinstall_known_extensions": False})


def prepare_capcover(bodies: dict[str, str], db: Path) -> None:
    """A migrated warehouse with the job's pending progress rows (not part of the load)."""
    from capcover.warehouse import history
    from capcover.warehouse.db import open_warehouse

    with open_warehouse(db) as wh:
        history.create_job(
            wh, "bench-job", "artificial-intelligence", 365, list(bodies), FETCHED, None
        )


def load_capcover(bodies: dict[str, str], db: Path) -> int:
    from capcover.ingest.history import parse_market_chart
    from capcover.ingest.models import RawResponse
    from capcover.warehouse import history
    from capcover.warehouse.db import open_warehouse

    with open_warehouse(db) as wh:
        coins = [
            history.ChartLoad(
                coin,
                seq,
                FETCHED,
                [
                    (
                        seq,
                        RawResponse(
                            source="coingecko",
                            endpoint=f"/coins/{coin}/market_chart",
                            method="GET",
                            url=f"http://127.0.0.1/api/v3/coins/{coin}/market_chart",
                            params={"vs_currency": "usd", "days": "365"},
                            request_body=None,
                            status=200,
                            body=body,
                            fetched_at=FETCHED,
                            elapsed_ms=1.0,
                            attempt=1,
                        ),
                    )
                ],
            )
            for seq, (coin, body) in enumerate(bodies.items(), start=1)
        ]
        with wh.transaction():
            history.store_charts(wh, "bench-job", "bench-run", coins, parse=parse_market_chart)
        return wh.scalar("SELECT count(*) FROM coin_history")


def load_appender(rows: list[tuple], db: Path) -> int:
    con = _connect(db)
    con.execute(BARE_DDL.format(t="bare"))
    app = con.appender("bare")
    app.append_rows(rows)
    app.flush()
    n = con.execute("SELECT count(*) FROM bare").fetchone()[0]
    con.close()
    return n


def arrow_table(rows: list[tuple], columns: tuple[str, ...] = COLUMNS):
    import pyarrow as pa

    cols = list(zip(*rows, strict=True))
    return pa.table({name: list(col) for name, col in zip(columns, cols, strict=False)})


def load_arrow(table, db: Path) -> int:
    """INSERT from an Arrow table built beforehand (the conversion is not timed)."""
    con = _connect(db)
    con.execute(BARE_DDL.format(t="bare"))
    con.register("incoming", table)
    con.execute("INSERT INTO bare SELECT * FROM incoming")
    n = con.execute("SELECT count(*) FROM bare").fetchone()[0]
    con.close()
    return n


def load_handwritten(bodies: dict[str, str], db: Path) -> int:
    rows = decode_rows(bodies, datetime.now(UTC), "bench-job")
    return load_appender(rows, db)


def _dlt_pipeline(db: Path, workdir: Path):
    import dlt

    return dlt.pipeline(
        pipeline_name=f"bench_{db.stem}",
        pipelines_dir=str(workdir / db.stem),
        destination=dlt.destinations.duckdb(str(db)),
        dataset_name="bench",
    )


def _dlt_count(db: Path) -> int:
    con = _connect(db)
    n = con.execute("SELECT count(*) FROM bench.coin_history").fetchone()[0]
    con.close()
    return n


def load_dlt_json(bodies: dict[str, str], db: Path, workdir: Path) -> int:
    """dlt fed dicts decoded from the JSON bodies (its default, schema-inferring path)."""
    import dlt

    @dlt.resource(name="coin_history", write_disposition="append", primary_key=["coin_id", "day"])
    def history():
        for coin, body in bodies.items():
            p = json.loads(body)
            rows = []
            for (ms, cap), (_, price), (_, vol) in zip(
                p["market_caps"], p["prices"], p["total_volumes"], strict=True
            ):
                if ms % DAY_MS:
                    continue
                at = datetime.fromtimestamp(ms / 1000, UTC)
                rows.append(
                    {
                        "coin_id": coin,
                        "day": at.date(),
                        "point_at": at,
                        "market_cap_usd": cap,
                        "price_usd": price,
                        "volume_24h_usd": vol,
                    }
                )
            yield rows

    _dlt_pipeline(db, workdir).run(history())
    return _dlt_count(db)


def load_dlt_arrow(table, db: Path, workdir: Path) -> int:
    """dlt's fastest documented path: a ready `pyarrow` table to `pipeline.run`."""
    _dlt_pipeline(db, workdir).run(table, table_name="coin_history")
    return _dlt_count(db)


def dlt_import_s(repeat: int) -> float:
    """Median seconds `import dlt` adds to a fresh interpreter (reported apart)."""
    bare = statistics.median(run_cmd([sys.executable, "-c", "pass"]) for _ in range(repeat))
    full = statistics.median(run_cmd([sys.executable, "-c", "import dlt"]) for _ in range(repeat))
    return max(0.0, full - bare)


def repeated(
    fn: Callable[[Path], int],
    tmp: Path,
    name: str,
    expected: int,
    repeat: int,
    prepare: Callable[[Path], None] | None = None,
) -> list[float]:
    """Seconds of `repeat` runs of fn(fresh file), each checked to load `expected` rows."""
    times = []
    for k in range(repeat):
        db = tmp / f"{name}-{k}.duckdb"
        if prepare:
            prepare(db)
        seconds, n = timed(lambda db=db: fn(db))
        assert n == expected, (name, n, expected)
        times.append(seconds)
    return times


def run(
    days: int = 365,
    coins: int = 300,
    *,
    with_dlt: bool = True,
    with_arrow: bool = True,
    repeat: int = 3,
) -> list[Figure]:
    repeat = max(3, repeat)
    os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")
    bodies = make_bodies(days, coins)
    rows = decode_rows(bodies, FETCHED, "bench-job")
    expected = len(rows)
    size = f"{days} days x {coins} coins x 3 series ({expected:,} rows)"
    import capcover.ingest.history
    import capcover.warehouse.history  # noqa: F401

    times: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="capcover-bench-load-") as tmp:
        t = Path(tmp)
        times["capcover"] = repeated(
            lambda db: load_capcover(bodies, db),
            t,
            "capcover",
            expected,
            repeat,
            prepare=lambda db: prepare_capcover(bodies, db),
        )
        times["appender"] = repeated(
            lambda db: load_appender(rows, db), t, "appender", expected, repeat
        )
        times["handwritten"] = repeated(
            lambda db: load_handwritten(bodies, db), t, "hand", expected, repeat
        )
        if with_arrow:
            table = arrow_table(rows)
            times["arrow"] = repeated(
                lambda db: load_arrow(table, db), t, "arrow", expected, repeat
            )
        dlt_import = None
        if with_dlt:
            dlt_import = dlt_import_s(repeat)
            import dlt  # noqa: F401 - its import is reported apart, not in the load

            times["dlt_json"] = repeated(
                lambda db: load_dlt_json(bodies, db, t), t, "dltjson", expected, repeat
            )
            if with_arrow:
                dlt_table = arrow_table([r[:6] for r in rows], COLUMNS[:6])
                times["dlt_arrow"] = repeated(
                    lambda db: load_dlt_arrow(dlt_table, db, t), t, "dltarrow", expected, repeat
                )

    med = {k: statistics.median(v) for k, v in times.items()}

    def rps(seconds: float) -> float:
        return round(expected / seconds, 1)

    def spread(key: str) -> str:
        return f"{min(times[key]):.3f}/{med[key]:.3f} s"

    path = "bulk loader (store_charts: raw archive + SQL parse, one transaction)"

    def figure(name: str, key: str, baseline: str, extra_note: str = "") -> Figure:
        # rows/s of the median run, and in the "min" columns of the fastest run (the
        # minimum time: the highest rows/s), for each side.
        return Figure(
            "load",
            name,
            rps(med["capcover"]),
            "rows/s",
            baseline,
            rps(med[key]),
            better="higher",
            value_min=rps(min(times["capcover"])),
            baseline_min=rps(min(times[key])),
            repeat=repeat,
            note=f"{size}; min/median time capcover {spread('capcover')}, "
            f"baseline {spread(key)}{extra_note}",
        )

    figures = [
        figure(
            "capcover loader vs DuckDB appender ceiling",
            "appender",
            "DuckDB appender, decoded rows into a bare table",
        )
    ]
    if "arrow" in times:
        figures.append(
            figure(
                "capcover loader vs DuckDB Arrow ceiling",
                "arrow",
                "INSERT from a ready Arrow table into a bare table",
            )
        )
    figures.append(
        figure(
            "capcover loader vs hand-written json.loads+appender",
            "handwritten",
            "json.loads + appender from the same JSON",
        )
    )
    dlt_note = f"; dlt import {dlt_import:.2f} s, not included" if dlt_import is not None else ""
    if "dlt_json" in times:
        figures.append(
            figure(
                "capcover loader vs dlt (JSON)",
                "dlt_json",
                "dlt[duckdb] pipeline.run on dicts from the same JSON",
                dlt_note,
            )
        )
    if "dlt_arrow" in times:
        figures.append(
            figure(
                "capcover loader vs dlt (Arrow)",
                "dlt_arrow",
                "dlt[duckdb] pipeline.run on a ready pyarrow table",
                dlt_note,
            )
        )
    for f in figures:
        f.extra = {
            "rows": expected,
            "capcover_path": path,
            "repeat": repeat,
            "seconds": {
                k: {"min": round(min(v), 4), "median": round(med[k], 4)} for k, v in times.items()
            },
            "dlt_import_s": None if dlt_import is None else round(dlt_import, 3),
        }
    return figures
