"""The bulk history loader (DuckDB parses the archived market charts in SQL) writes exactly the
rows of the per-coin Python loader it replaced, and fails on malformed bodies the same way."""

from __future__ import annotations

import json
import math
import random
from datetime import UTC, datetime, timedelta

import pytest

from capcover.ingest.errors import BadPayload
from capcover.ingest.history import DAY_MS, parse_market_chart
from capcover.ingest.models import RawResponse
from capcover.warehouse import history as hist
from capcover.warehouse.db import Warehouse, open_warehouse
from tests.helpers import raw_get

T0 = 1_704_067_200_000  # 2024-01-01 00:00 UTC
FETCHED = datetime(2024, 4, 3, 6, 30, tzinfo=UTC)


def _raw(coin: str, body: str, at: datetime = FETCHED) -> RawResponse:
    return raw_get(
        "coingecko",
        f"/coins/{coin}/market_chart",
        body,
        params={"days": "30"},
        fetched_at=at,
        url=f"http://127.0.0.1/api/v3/coins/{coin}/market_chart",
    )


def reference_store(wh: Warehouse, job_id: str, coin_id: str, raw: RawResponse) -> None:
    """The loader before the bulk path: parse_market_chart, then the coin's covered days
    replaced with one appender and its progress flag set (fetched_at: the chart's)."""
    points = parse_market_chart(raw, coin_id)
    if points:
        days = [p.day for p in points]
        wh.query(
            "DELETE FROM coin_history WHERE coin_id = ? AND day BETWEEN ? AND ?",
            [coin_id, min(days), max(days)],
        )
        wh.append(
            "coin_history",
            [
                (
                    p.coin_id,
                    p.day,
                    p.point_at,
                    p.market_cap_usd,
                    p.price_usd,
                    p.volume_24h_usd,
                    raw.fetched_at,
                    job_id,
                )
                for p in points
            ],
        )
    wh.query(
        "UPDATE backfill_progress SET status = 'done', points = ?, first_day = ?,"
        " last_day = ? WHERE job_id = ? AND coin_id = ?",
        [
            len(points),
            min((p.day for p in points), default=None),
            max((p.day for p in points), default=None),
            job_id,
            coin_id,
        ],
    )


def _value(rng: random.Random, level: float) -> object:
    """Mostly a float near `level`; sometimes null, 0, an int, or (rarely) NaN, an infinity
    or a size at or beyond 1e300."""
    roll = rng.random()
    if roll < 0.05:
        return None
    if roll < 0.08:
        return 0
    if roll < 0.12:
        return int(level)
    if roll < 0.13:
        return rng.choice(
            [math.nan, math.inf, -math.inf, 1e300, -2e300, 9.9e299, 10**301, -1e9, -0.5, -0.0]
        )
    return level


def generated_chart(rng: random.Random, days: int) -> dict:
    """A market chart as CoinGecko shapes them, with the awkward cases mixed in: hourly or
    daily stamps, a trailing "now" point (or not), duplicate stamps, several points a day,
    nulls, zeros, ints, non-finite values, a series missing or empty, stamps out of order, a
    stamp missing from one series, a string or boolean value (those the Python parser decides
    inside the bulk loader)."""
    start = T0 + rng.randrange(0, 60) * DAY_MS
    step = rng.choice([DAY_MS, DAY_MS, 3_600_000, 6 * 3_600_000])
    offset = rng.choice([0, 0, 1234, 1_800_000])
    n = max(1, days * DAY_MS // step)
    stamps = [start + k * step + offset for k in range(n)]
    if rng.random() < 0.6:
        stamps.append(stamps[-1] + rng.randrange(1, step))  # the intraday "now" point
    if rng.random() < 0.1:
        stamps.insert(rng.randrange(len(stamps)), rng.choice(stamps))  # a duplicate stamp
    if rng.random() < 0.2:
        rng.shuffle(stamps)
    level = math.exp(rng.uniform(0, 25))
    series: dict[str, list] = {"market_caps": [], "prices": [], "total_volumes": []}
    for ms in stamps:
        level *= math.exp(rng.gauss(0, 0.05))
        ms_out = float(ms) if rng.random() < 0.05 else ms
        series["market_caps"].append([ms_out, _value(rng, level)])
        series["prices"].append([ms, _value(rng, level / 1e6)])
        series["total_volumes"].append([ms, _value(rng, level / 20)])
    if rng.random() < 0.05:  # a stamp missing from one series
        del series["prices"][rng.randrange(len(stamps))]
    if rng.random() < 0.05:  # valid JSON, an odd value
        series["total_volumes"][rng.randrange(len(stamps))][1] = rng.choice(["n/a", True])
    roll = rng.random()
    if roll < 0.05:
        del series["prices"]
    elif roll < 0.1:
        series["total_volumes"] = []
    elif roll < 0.13:
        series["market_caps"] = []
    elif roll < 0.16:
        series["market_caps"] = series["market_caps"][:1]
    return series


def _job(wh: Warehouse, coins: list[str], job_id: str = "job-1") -> None:
    hist.create_job(wh, job_id, "ai", 30, coins, FETCHED, None)


def _tables(wh: Warehouse) -> tuple[list, list]:
    return (
        wh.query("SELECT * FROM coin_history ORDER BY coin_id, day"),
        wh.query(
            "SELECT job_id, coin_id, status, points, first_day, last_day"
            " FROM backfill_progress ORDER BY job_id, coin_id"
        ),
    )


def test_load_charts_rows_identical_to_the_python_loader_on_generated_bodies(tmp_path):
    rng = random.Random(20240403)
    decided_in_python: list[str] = []

    def parse(raw: RawResponse, coin_id: str):
        decided_in_python.append(coin_id)
        return parse_market_chart(raw, coin_id)

    rounds = []  # two loads per coin: the second replaces the days it covers
    for job in ("job-1", "job-2"):
        charts = {
            f"coin-{i:03d}": json.dumps(generated_chart(rng, rng.choice([1, 2, 5, 40])))
            for i in range(120)
        }
        rounds.append((job, charts))
    with (
        open_warehouse(tmp_path / "bulk.duckdb") as bulk,
        open_warehouse(tmp_path / "ref.duckdb") as ref,
    ):
        for n, (job, charts) in enumerate(rounds):
            at = FETCHED + timedelta(days=n)
            coins = list(charts)
            _job(bulk, coins, job)
            _job(ref, coins, job)
            with bulk.transaction():
                hist.store_charts(
                    bulk,
                    job,
                    f"run-{n}",
                    [
                        hist.ChartLoad(c, seq, at, [(seq, _raw(c, body, at))])
                        for seq, (c, body) in enumerate(charts.items(), start=1)
                    ],
                    parse=parse,
                )
            with ref.transaction():
                for c, body in charts.items():
                    reference_store(ref, job, c, _raw(c, body, at))
        got, want = _tables(bulk), _tables(ref)
    assert len(want[0]) > 1000
    assert got == want
    # Both halves of the loader were exercised: DuckDB's SQL for most coins, Python for some.
    assert 10 < len(decided_in_python) < 120


def test_load_charts_parses_the_common_shape_in_sql_and_marks_progress(tmp_path):
    body = json.dumps(
        {
            "prices": [[T0, 1.5], [T0 + DAY_MS, 0], [T0 + DAY_MS + 5000, 9.0]],
            "market_caps": [[T0, 10.0], [T0 + DAY_MS, None], [T0 + DAY_MS + 5000, 11.0]],
            "total_volumes": [[T0, 3], [T0 + DAY_MS, 4.0], [T0 + DAY_MS + 5000, 5.0]],
        }
    )
    with open_warehouse(tmp_path / "w.duckdb") as wh:
        _job(wh, ["a", "gone"])
        with wh.transaction():
            hist.store_charts(
                wh,
                "job-1",
                "run-1",
                [
                    hist.ChartLoad("a", 1, FETCHED, [(1, _raw("a", body))]),
                    hist.ChartLoad("gone", None, FETCHED, [(2, _raw("gone", "{}"))]),
                ],
                parse=parse_market_chart,
            )
        rows = wh.query(
            "SELECT day::VARCHAR, market_cap_usd, price_usd, volume_24h_usd"
            " FROM coin_history ORDER BY day"
        )
        progress = wh.query(
            "SELECT coin_id, status, points, run_id, raw_seq"
            " FROM backfill_progress ORDER BY coin_id"
        )
        archived = wh.scalar("SELECT count(*) FROM raw_http WHERE run_id = 'run-1'")
    assert rows == [("2024-01-01", 10.0, 1.5, 3.0), ("2024-01-02", None, 0.0, 4.0)]
    assert progress == [("a", "done", 2, "run-1", 1), ("gone", "missing", 0, None, None)]
    assert archived == 2


@pytest.mark.parametrize(
    "body",
    [
        "<html><body>502 Bad Gateway</body></html>",
        '{"market_caps": [[1, 2]',
        '{"prices": [[1, 2]]}',
        "[[1, 2]]",
        '{"market_caps": [[1, 2], [3]]}',
        '{"market_caps": [[1, 2]], "prices": [["x", 2]]}',
        '{"market_caps": [1, 2]}',
        '{"market_caps": {"a": 1}}',
        '{"market_caps": [[1, 2]], "total_volumes": null}',
        '{"market_caps": [[1, 2]], "prices": [], "total_volumes": [[1, 2]',
        '{"market_caps": [[1, 2]], "prices": [null], "total_volumes": []}',
        '{"market_caps": [[null, 2]], "prices": [], "total_volumes": []}',
        '{"market_caps": [[-5, 2]], "prices": [], "total_volumes": []}',
        '{"market_caps": [[1e300, 2]], "prices": [], "total_volumes": []}',
        '{"market_caps": [[true, 2]], "prices": [], "total_volumes": []}',
    ],
)
def test_load_charts_malformed_body_raises_the_python_parsers_error_and_writes_nothing(
    tmp_path, body
):
    with pytest.raises(BadPayload) as expected:
        parse_market_chart(_raw("bad", body), "bad")
    good = json.dumps({"market_caps": [[T0, 1.0]], "prices": [], "total_volumes": []})
    with open_warehouse(tmp_path / "w.duckdb") as wh:
        _job(wh, ["ok", "bad"])
        with pytest.raises(BadPayload) as got, wh.transaction():
            hist.store_charts(
                wh,
                "job-1",
                "run-1",
                [
                    hist.ChartLoad("ok", 1, FETCHED, [(1, _raw("ok", good))]),
                    hist.ChartLoad("bad", 2, FETCHED, [(2, _raw("bad", body))]),
                ],
                parse=parse_market_chart,
            )
        assert wh.scalar("SELECT count(*) FROM coin_history") == 0
        assert wh.scalar("SELECT count(*) FROM raw_http") == 0
        assert set(wh.query("SELECT status FROM backfill_progress")) == {("pending",)}
    assert str(got.value) == str(expected.value)
    assert "\n" not in str(got.value)


def test_load_charts_constants_agree_with_the_python_parser():
    import capcover.ingest.history

    # One definition (ingest.models), used by both: the same objects, not equal copies.
    assert (hist.DAY_MS, hist.MIN_MS, hist.MAX_MS) == (
        DAY_MS,
        capcover.ingest.history.MIN_MS,
        capcover.ingest.history.MAX_MS,
    )
    assert hist.MAX_VALUE is capcover.ingest.models.CHART.max_value
    # The parser's value rule: finite and below 1e300 in size, else None.
    body = json.dumps(
        {
            "market_caps": [[0, hist.MAX_VALUE]],
            "prices": [[0, 9.9e299]],
            "total_volumes": [[0, -1e300]],
        }
    )
    (point,) = parse_market_chart(_raw("x", body), "x")
    assert (point.market_cap_usd, point.price_usd, point.volume_24h_usd) == (None, 9.9e299, None)
