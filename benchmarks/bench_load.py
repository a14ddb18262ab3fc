"""Part 1 — load throughput: N days x M coins of market-chart history into DuckDB.

Contenders, all fed the same generated `/coins/{id}/market_chart` JSON bodies:
- capcover: its history loader (ingest.history.parse_market_chart + warehouse.history.store_coin:
  parse, raw archive, replace the coin's days, progress flag; one transaction per coin) into the
  migrated warehouse with its primary keys;
- DuckDB's bulk-load ceiling on the same decoded rows: the appender, and an Arrow table, into a
  bare table (no keys, no parsing: the fastest DuckDB can take rows from Python);
- hand-written `json.loads` + appender from the same JSON (what a script would do);
- dlt (`dlt[duckdb]`), the tool a data engineer would pick, loading the same JSON.
"""

from __future__ import annotations

import json
import os
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from benchmarks.common import Figure, timed
from fakeapi.coingecko import market_chart

COLUMNS = ("coin_id", "day", "point_at", "market_cap_usd", "price_usd", "volume_24h_usd",
           "fetched_at", "job_id")
BARE_DDL = ("CREATE TABLE {t} (coin_id VARCHAR, day DATE, point_at TIMESTAMPTZ, "
            "market_cap_usd DOUBLE, price_usd DOUBLE, volume_24h_usd DOUBLE, "
            "fetched_at TIMESTAMPTZ, job_id VARCHAR)")


def make_bodies(days: int, coins: int) -> dict[str, str]:
    """coin id -> the JSON body the API would send for `days` days."""
    return {f"coin-{i:04d}": json.dumps(market_chart(f"coin-{i:04d}", days))
            for i in range(coins)}


def decode_rows(bodies: dict[str, str], fetched_at: datetime, job_id: str) -> list[tuple]:
    """The straightforward decode: one row per coin-day at 00:00 UTC (the "now" point dropped)."""
    rows = []
    for coin, body in bodies.items():
        p = json.loads(body)
        for (ms, cap), (_, price), (_, vol) in zip(p["market_caps"], p["prices"],
                                                   p["total_volumes"], strict=True):
            if ms % 86_400_000:
                continue
            at = datetime.fromtimestamp(ms / 1000, UTC)
            rows.append((coin, at.date(), at, cap, price, vol, fetched_at, job_id))
    return rows


def _connect(path: Path) -> duckdb.DuckDBPyConnection:
    return duckdb.connect(str(path), config={"autoinstall_known_extensions": False})


def load_capcover(bodies: dict[str, str], db: Path) -> int:
    from ingest.history import parse_market_chart
    from ingest.http import RawResponse
    from warehouse import history
    from warehouse.db import open_warehouse

    with open_warehouse(db) as wh:
        fetched = datetime.now(UTC)
        job = history.create_job(wh, "bench-job", "artificial-intelligence", 365, list(bodies),
                                 fetched, None)
        n = 0
        for seq, (coin, body) in enumerate(bodies.items(), start=1):
            raw = RawResponse(source="coingecko", endpoint=f"/coins/{coin}/market_chart",
                              method="GET", url=f"http://127.0.0.1/api/v3/coins/{coin}/market_chart",
                              params={"vs_currency": "usd", "days": "365"}, request_body=None,
                              status=200, body=body, fetched_at=fetched, elapsed_ms=1.0, attempt=1)
            points = parse_market_chart(raw, coin)
            history.store_coin(wh, job.job_id, coin, points, fetched, run_id="bench-run",
                               raws=[(seq, raw)])
            n += len(points)
        return n


def load_appender(rows: list[tuple], db: Path) -> int:
    con = _connect(db)
    con.execute(BARE_DDL.format(t="bare"))
    app = con.appender("bare")
    app.append_rows(rows)
    app.flush()
    n = con.execute("SELECT count(*) FROM bare").fetchone()[0]
    con.close()
    return n


def arrow_table(rows: list[tuple]):
    import pyarrow as pa

    columns = list(zip(*rows, strict=True))
    return pa.table({name: list(col) for name, col in zip(COLUMNS, columns, strict=True)})


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


def load_dlt(bodies: dict[str, str], db: Path, workdir: Path) -> int:
    os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")
    import dlt

    @dlt.resource(name="coin_history", write_disposition="append",
                  primary_key=["coin_id", "day"])
    def history():
        for coin, body in bodies.items():
            p = json.loads(body)
            rows = []
            for (ms, cap), (_, price), (_, vol) in zip(p["market_caps"], p["prices"],
                                                       p["total_volumes"], strict=True):
                if ms % 86_400_000:
                    continue
                at = datetime.fromtimestamp(ms / 1000, UTC)
                rows.append({"coin_id": coin, "day": at.date(), "point_at": at,
                             "market_cap_usd": cap, "price_usd": price, "volume_24h_usd": vol})
            yield rows

    pipeline = dlt.pipeline(pipeline_name="bench_load", pipelines_dir=str(workdir / "dlt"),
                            destination=dlt.destinations.duckdb(str(db)),
                            dataset_name="bench")
    pipeline.run(history())
    con = _connect(db)
    n = con.execute("SELECT count(*) FROM bench.coin_history").fetchone()[0]
    con.close()
    return n


def run(days: int = 365, coins: int = 300, *, with_dlt: bool = True,
        with_arrow: bool = True) -> list[Figure]:
    bodies = make_bodies(days, coins)
    rows = decode_rows(bodies, datetime.now(UTC), "bench-job")
    expected = len(rows)
    size = f"{days} days x {coins} coins x 3 series ({expected:,} rows)"
    with tempfile.TemporaryDirectory(prefix="capcover-bench-load-") as tmp:
        t = Path(tmp)
        from warehouse.db import open_warehouse

        open_warehouse(t / "capcover.duckdb").close()  # migrations are not part of the load
        import ingest.history  # noqa: F401 - imports are not part of the load
        import warehouse.history  # noqa: F401

        path = "history loader (parse_market_chart + store_coin)"
        cap_s, n = timed(lambda: load_capcover(bodies, t / "capcover.duckdb"))
        assert n == expected, (n, expected)
        app_s, n = timed(lambda: load_appender(rows, t / "appender.duckdb"))
        assert n == expected, (n, expected)
        hand_s, n = timed(lambda: load_handwritten(bodies, t / "hand.duckdb"))
        assert n == expected, (n, expected)
        results = {"appender": app_s, "handwritten": hand_s}
        if with_arrow:
            table = arrow_table(rows)
            arrow_s, n = timed(lambda: load_arrow(table, t / "arrow.duckdb"))
            assert n == expected, (n, expected)
            results["arrow"] = arrow_s
        if with_dlt:
            dlt_s, n = timed(lambda: load_dlt(bodies, t / "dlt.duckdb", t))
            assert n == expected, (n, expected)
            results["dlt"] = dlt_s

    def rps(seconds: float) -> float:
        return round(expected / seconds, 1)

    cap = rps(cap_s)
    figures = [
        Figure("load", "capcover loader vs DuckDB appender ceiling", cap, "rows/s",
               "DuckDB appender, decoded rows into a bare table", rps(app_s), better="higher",
               note=f"{size}; capcover: {path}"),
    ]
    if "arrow" in results:
        figures.append(Figure("load", "capcover loader vs DuckDB Arrow ceiling", cap,
                              "rows/s", "INSERT from a ready Arrow table into a bare table",
                              rps(results["arrow"]), better="higher", note=size))
    figures.append(Figure("load", "capcover loader vs hand-written json.loads+appender",
                          cap, "rows/s", "json.loads + appender from the same JSON",
                          rps(hand_s), better="higher", note=size))
    if "dlt" in results:
        figures.append(Figure("load", "capcover loader vs dlt", cap, "rows/s",
                              "dlt[duckdb] pipeline.run on the same JSON", rps(results["dlt"]),
                              better="higher", note=size))
    for f in figures:
        f.extra = {"rows": expected, "capcover_path": path, "seconds": {"capcover": round(cap_s, 3),
                                                  **{k: round(v, 3) for k, v in results.items()}}}
    return figures
