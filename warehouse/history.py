"""Backfill state and per-coin history: bulk loads (many coins per transaction, the archived
market charts parsed by DuckDB in SQL) and the reads behind history-basis reports. Bound
parameters only."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime

from capcover.ingest.models import CHART, HistoryPoint, RawResponse
from capcover.model.report import REPORT_COLUMNS, ReportRow, SectorInputs
from capcover.warehouse.db import Warehouse
from capcover.warehouse.raw import archive_raws


@dataclass(frozen=True)
class Job:
    job_id: str
    categories: str
    days: int
    coins: int
    done: int  # coins finished (done or missing)
    constituents_as_of: date | None


def latest_constituents(wh: Warehouse, categories: Sequence[str]) -> tuple[date, list[str]] | None:
    """Coins of the categories' latest snapshots, de-duplicated, largest market cap first.

    None unless every category has a snapshot (membership must come from one consistent pull).
    """
    dates = dict(
        wh.query(
            "SELECT category_id, max(as_of_date) FROM coin_snapshots"
            " WHERE list_contains(?, category_id) GROUP BY category_id",
            [list(categories)],
        )
    )
    if set(dates) != set(categories):
        return None
    rows = wh.query(
        """
        SELECT coin_id, max(market_cap_usd) AS cap
        FROM coin_snapshots c
        JOIN (SELECT category_id, max(as_of_date) AS as_of_date FROM coin_snapshots
              GROUP BY category_id) latest USING (category_id, as_of_date)
        WHERE list_contains(?, category_id)
        GROUP BY coin_id
        ORDER BY cap DESC NULLS LAST, coin_id
        """,
        [list(categories)],
    )
    return min(dates.values()), [r[0] for r in rows]


def open_job(wh: Warehouse, categories: str, days: int) -> Job | None:
    """The unfinished job with these categories and days, if one exists (it gets resumed)."""
    rows = wh.query(
        """
        SELECT j.job_id, j.categories, j.days, j.coins,
               count(*) FILTER (WHERE p.status <> 'pending'), j.constituents_as_of
        FROM backfill_jobs j JOIN backfill_progress p USING (job_id)
        WHERE j.status = 'running' AND j.categories = ? AND j.days = ?
        GROUP BY j.job_id, j.categories, j.days, j.coins, j.constituents_as_of, j.started_at
        ORDER BY j.started_at DESC LIMIT 1
        """,
        [categories, days],
    )
    return Job(*rows[0]) if rows else None


def create_job(
    wh: Warehouse,
    job_id: str,
    categories: str,
    days: int,
    coins: list[str],
    started_at: datetime,
    constituents_as_of: date | None,
) -> Job:
    """Freeze the constituents: one pending progress row per coin, in fetch order."""
    with wh.transaction():
        wh.query(
            "INSERT INTO backfill_jobs VALUES (?, ?, ?, 'running', ?, ?, NULL, ?)",
            [job_id, categories, days, len(coins), started_at, constituents_as_of],
        )
        wh.append(
            "backfill_progress",
            [
                # ... the last None: load_seq (migration 070), given when the coin is loaded
                (job_id, coin, seq, "pending", None, None, None, None, None, None, None)
                for seq, coin in enumerate(coins, start=1)
            ],
        )
    return Job(job_id, categories, days, len(coins), 0, constituents_as_of)


def pending_coins(wh: Warehouse, job_id: str) -> list[str]:
    return [
        r[0]
        for r in wh.query(
            "SELECT coin_id FROM backfill_progress WHERE job_id = ? AND status = 'pending'"
            " ORDER BY seq",
            [job_id],
        )
    ]


@dataclass(frozen=True)
class ChartLoad:
    """One coin of a backfill batch: its raw responses (numbered for raw_http) and which of
    them is its market chart (`chart_seq`; None when the source does not know the coin, 404)."""

    coin_id: str
    chart_seq: int | None
    finished_at: datetime
    raws: list[tuple[int, RawResponse]]


ChartParser = Callable[[RawResponse, str], list[HistoryPoint]]  # ingest.history.parse_market_chart


def store_charts(
    wh: Warehouse, job_id: str, run_id: str, coins: Sequence[ChartLoad], *, parse: ChartParser
) -> None:
    """Whole coins in bulk: their raw responses archived once, their history rows parsed from
    the archive by DuckDB, their progress flags. Call inside a transaction, so the batch lands
    completely or not at all. Raises BadPayload (the Python parser's error) for a malformed
    chart, before writing any history row."""
    archive_raws(wh, run_id, [r for c in coins for r in c.raws], backfill=True)
    charts = [
        (c.coin_id, run_id, c.chart_seq, c.finished_at) for c in coins if c.chart_seq is not None
    ]
    load_charts(wh, job_id, charts, parse=parse)
    missing = [(c.finished_at, job_id, c.coin_id) for c in coins if c.chart_seq is None]
    if missing:
        wh.con.executemany(
            "UPDATE backfill_progress SET status = 'missing', points = 0, first_day = NULL,"
            " last_day = NULL, finished_at = ? WHERE job_id = ? AND coin_id = ?",
            missing,
        )


# DuckDB parses the common shape itself: an object with exactly the three series, each a list of
# [ms, number|null] pairs, the three on the same stamps, no stamp twice. Anything else (HTML,
# strings or booleans as values, a series missing, misaligned or duplicate stamps) goes to
# `parse` (ingest.history.parse_market_chart, the definition; passed in, as the warehouse
# imports nothing of ingest but its records): it raises the one-line BadPayload or, for an odd
# but valid body, returns the rows.
# The chart's bounds are ingest.models' (the parser's too): a stamp outside [MIN_MS, MAX_MS]
# goes to the parser (which refuses it); a value >= MAX_VALUE or below 0 reads as NULL. Why the
# day rules are written twice, here in SQL and in ingest/history.py, and how they are kept
# equal: see load_charts.
DAY_MS, MIN_MS, MAX_MS, MAX_VALUE = CHART.day_ms, CHART.min_ms, CHART.max_ms, CHART.max_value
_TYPED = '{"market_caps": "DOUBLE[][]", "prices": "DOUBLE[][]", "total_volumes": "DOUBLE[][]"}'
# Six double quotes are the three keys' own: no other key and no string value anywhere; the
# strict transform then fails (NULL under TRY) on anything but numbers, nulls and booleans.
_CANDIDATE = (
    "length(r.body) - length(replace(r.body, '\"', '')) = 6"
    " AND NOT contains(r.body, 'true') AND NOT contains(r.body, 'false')"
)


def load_charts(
    wh: Warehouse,
    job_id: str,
    charts: Sequence[tuple[str, str, int, datetime]],
    *,
    parse: ChartParser,
    progress: bool = True,
    target: str = "coin_history",
) -> int:
    """Parse archived market charts (coin_id, run_id, raw_seq, finished_at) into coin_history
    (or `target`, a table of its columns) in bulk, with exactly ingest.history's day rules;
    returns the rows written.

    Why the rules stand here a second time, in SQL: DuckDB reads the archived bodies where
    they lie (raw_http) and writes coin_history in one statement, without a Python object per
    point (a year of ~260 coins is ~280k points per backfill or rebuild). Python stays the
    definition: every body outside the common shape goes to `parse`, and
    tests/test_history_bulk.py asserts on generated charts (hourly and daily stamps, "now"
    points, duplicates, nulls, non-finite and huge values, misaligned series) that both write
    identical rows; the bounds are shared constants (ingest.models).

    Each coin's existing rows for the days its chart covers are replaced; `fetched_at` is the
    chart's own fetch time. With `progress`, the coins' progress rows are marked done and
    linked to their chart (a rebuild re-derives and leaves progress alone). Coins must be
    distinct within one call.
    """
    if not charts:
        return 0
    wh.query(
        "CREATE OR REPLACE TEMP TABLE _chart_batch (coin_id VARCHAR, run_id VARCHAR,"
        " seq INTEGER, finished_at TIMESTAMPTZ)"
    )
    wh.append("_chart_batch", list(charts))
    # One statement, nothing materialized but the result: the three series zipped by position
    # (one row per stamp); the coins whose every row is [finite ms, value] x 3 on one stamp,
    # no stamp twice; then the day rules of ingest.history: the trailing intraday "now" point
    # dropped, each UTC day's first point, non-finite and negative values (and v >= 1e300) NULL.
    wh.query(f"""
        CREATE OR REPLACE TEMP TABLE _chart_rows AS
        WITH typed AS (
            SELECT b.coin_id, r.fetched_at, try(json_transform_strict(r.body, '{_TYPED}')) AS j
            FROM _chart_batch b JOIN raw_http r ON r.run_id = b.run_id AND r.seq = b.seq
            WHERE {_CANDIDATE}
        ), pairs AS (
            SELECT coin_id, fetched_at, unnest(j.market_caps) AS c, unnest(j.prices) AS p,
                   unnest(j.total_volumes) AS v
            FROM typed
            WHERE j.market_caps IS NOT NULL AND j.prices IS NOT NULL
              AND j.total_volumes IS NOT NULL
        ), aligned AS (
            SELECT coin_id FROM pairs GROUP BY coin_id
            HAVING bool_and(c IS NOT NULL AND p IS NOT NULL AND v IS NOT NULL AND len(c) = 2
                            AND len(p) = 2 AND len(v) = 2 AND isfinite(c[1])
                            AND c[1] BETWEEN {MIN_MS} AND {MAX_MS}
                            AND p[1] = c[1] AND v[1] = c[1])
               AND count(DISTINCT trunc(c[1])) = count(*)
        ), pts AS (
            SELECT coin_id, fetched_at, trunc(c[1])::BIGINT AS ms,
                   CASE WHEN c[2] >= 0 AND c[2] < {MAX_VALUE} THEN c[2] END AS cap,
                   CASE WHEN p[2] >= 0 AND p[2] < {MAX_VALUE} THEN p[2] END AS price,
                   CASE WHEN v[2] >= 0 AND v[2] < {MAX_VALUE} THEN v[2] END AS vol
            FROM pairs SEMI JOIN aligned USING (coin_id)
        ), edges AS (
            SELECT coin_id, max(ms) AS last_ms, count(*) AS n FROM pts GROUP BY coin_id
        ), kept AS (
            SELECT pts.*, epoch_ms(ms)::DATE AS day FROM pts JOIN edges USING (coin_id)
            WHERE NOT (n > 1 AND ms = last_ms AND ms % {DAY_MS} <> 0)
        )
        SELECT coin_id, day, timezone('UTC', epoch_ms(min(ms))) AS point_at,
               arg_min_null(cap, ms) AS market_cap_usd, arg_min_null(price, ms) AS price_usd,
               arg_min_null(vol, ms) AS volume_24h_usd, any_value(fetched_at) AS fetched_at
        FROM kept GROUP BY coin_id, day
    """)  # noqa: S608 - constants only
    # The rest (and charts without a single day) the definition decides: BadPayload, or rows.
    odd = [
        r[0]
        for r in wh.query(
            "SELECT coin_id FROM _chart_batch WHERE coin_id NOT IN"
            " (SELECT DISTINCT coin_id FROM _chart_rows) ORDER BY coin_id"
        )
    ]
    fallback = []
    for coin_id in odd:
        ((endpoint, url, body, fetched_at),) = wh.query(
            "SELECT r.endpoint, r.url, r.body, r.fetched_at FROM _chart_batch b"
            " JOIN raw_http r ON r.run_id = b.run_id AND r.seq = b.seq WHERE b.coin_id = ?",
            [coin_id],
        )
        raw = RawResponse(
            source="coingecko",
            endpoint=endpoint,
            method="GET",
            url=url,
            params={},
            request_body=None,
            status=200,
            body=body,
            fetched_at=fetched_at,
            elapsed_ms=0.0,
            attempt=1,
        )
        fallback += [
            (
                p.coin_id,
                p.day,
                p.point_at,
                p.market_cap_usd,
                p.price_usd,
                p.volume_24h_usd,
                fetched_at,
            )
            for p in parse(raw, coin_id)
        ]
    wh.append("_chart_rows", fallback)
    wh.query(f"""
        DELETE FROM {target} h USING (
            SELECT coin_id, min(day) AS lo, max(day) AS hi FROM _chart_rows GROUP BY coin_id
        ) s WHERE h.coin_id = s.coin_id AND h.day BETWEEN s.lo AND s.hi""")  # noqa: S608
    wh.query(
        f"INSERT INTO {target} SELECT coin_id, day, point_at, market_cap_usd,"  # noqa: S608
        " price_usd, volume_24h_usd, fetched_at, ? FROM _chart_rows",
        [job_id],
    )
    written: int = wh.scalar("SELECT count(*) FROM _chart_rows")
    if progress:
        wh.query(
            """
            UPDATE backfill_progress p SET status = 'done', points = coalesce(s.n, 0),
                first_day = s.lo, last_day = s.hi, finished_at = b.finished_at,
                run_id = b.run_id, raw_seq = b.seq, load_seq = n.next
            FROM _chart_batch b CROSS JOIN (
                SELECT coalesce(max(load_seq), 0) + 1 AS next FROM backfill_progress
            ) n LEFT JOIN (
                SELECT coin_id, count(*) AS n, min(day) AS lo, max(day) AS hi
                FROM _chart_rows GROUP BY coin_id
            ) s USING (coin_id)
            WHERE p.job_id = ? AND p.coin_id = b.coin_id""",
            [job_id],
        )
    for table in ("_chart_rows", "_chart_batch"):
        wh.query(f"DROP TABLE {table}")
    return written


def chart_links(wh: Warehouse) -> list[tuple[str, str, str, int, datetime]]:
    """(job_id, coin_id, run_id, raw_seq, finished_at) of every finished coin, in the order
    the coins were loaded (load_seq, migration 070: not the clock); run_id is None for a coin
    whose archived chart was never linked."""
    return wh.query(
        "SELECT job_id, coin_id, run_id, raw_seq, finished_at FROM backfill_progress"
        " WHERE status = 'done' ORDER BY load_seq, job_id, seq"
    )


HISTORY_COLUMNS = (
    "coin_id",
    "day",
    "point_at",
    "market_cap_usd",
    "price_usd",
    "volume_24h_usd",
    "fetched_at",
    "job_id",
)


def new_history(wh: Warehouse) -> str:
    """An empty temp table of coin_history's columns (no keys) to re-derive into; its name."""
    wh.query("CREATE OR REPLACE TEMP TABLE _history AS FROM coin_history LIMIT 0")
    return "_history"


def replace_history(wh: Warehouse, derived: str) -> int:
    """Make coin_history equal the re-derived `derived` table by changing only the rows that
    differ (a rebuild of an unchanged archive writes nothing: deleting and inserting a
    million identical rows cost more than deriving them). Returns the rows changed."""
    old = ", ".join(f"h.{c}" for c in HISTORY_COLUMNS[2:])
    new = ", ".join(f"n.{c}" for c in HISTORY_COLUMNS[2:])
    wh.query(
        "CREATE OR REPLACE TEMP TABLE _stale AS SELECT h.coin_id, h.day"  # noqa: S608
        f" FROM coin_history h LEFT JOIN {derived} n USING (coin_id, day)"
        f" WHERE n.coin_id IS NULL OR ({old}) IS DISTINCT FROM ({new})"
    )
    gone: int = wh.scalar("SELECT count(*) FROM _stale")
    if gone:
        wh.query(
            "DELETE FROM coin_history h USING _stale s WHERE h.coin_id = s.coin_id"
            " AND h.day = s.day"
        )
    added: int = wh.scalar(
        f"SELECT count(*) FROM {derived} n ANTI JOIN coin_history h USING (coin_id, day)"  # noqa: S608
    )
    if added:
        wh.query(
            f"INSERT INTO coin_history SELECT n.* FROM {derived} n"  # noqa: S608
            " ANTI JOIN coin_history h USING (coin_id, day)"
        )
    wh.query(f"DROP TABLE {derived}")
    wh.query("DROP TABLE _stale")
    return gone + added


CHANGED_SINCE = 91  # the migration that adds runs.changed_since


def record_changed_since(
    wh: Warehouse, run_id: str, job_id: str, first_report_day: date | None
) -> None:
    """Record in `runs.changed_since` the earliest day the job wrote: the first day of
    history any of its coins replaced, or of the reports it wrote (publish rewrites the
    snapshot's months from there on)."""
    if not wh.has(CHANGED_SINCE):
        return
    wh.query(
        "UPDATE runs SET changed_since = least("
        " (SELECT min(first_day) FROM backfill_progress WHERE job_id = ? AND status = 'done'),"
        " CAST(? AS DATE)) WHERE run_id = ?",
        [job_id, first_report_day, run_id],
    )


def finish_job(wh: Warehouse, job_id: str, finished_at: datetime) -> None:
    wh.query(
        "UPDATE backfill_jobs SET status = 'done', finished_at = ? WHERE job_id = ?",
        [finished_at, job_id],
    )


def job_summary(wh: Warehouse, job_id: str) -> dict[str, int]:
    """Coins per progress status."""
    return dict(
        wh.query(
            "SELECT status, count(*) FROM backfill_progress WHERE job_id = ? GROUP BY status",
            [job_id],
        )
    )


_JOB_POINTS = """
    WITH coins AS (
        SELECT coin_id, first_day, last_day FROM backfill_progress
        WHERE job_id = ? AND status = 'done'
    ), span AS (SELECT min(first_day) AS lo, max(last_day) AS hi FROM coins)
"""


def points_above(
    wh: Warehouse, job_id: str, above_usd: float
) -> list[tuple[str, date, float | None, float | None]]:
    """(coin, day, market cap, 24h volume) of the job's points whose market cap or volume is
    above `above_usd` (the sector band's top): the candidates the coin rule
    (model/plausibility.py `coin_problem`, the daily run's) judges."""
    return [
        (c, d, cap, vol)
        for c, d, cap, vol in wh.query(
            _JOB_POINTS  # noqa: S608 - constants only
            + """
            SELECT h.coin_id, h.day, h.market_cap_usd, h.volume_24h_usd
            FROM coin_history h JOIN coins USING (coin_id), span
            WHERE h.day BETWEEN span.lo AND span.hi
              AND greatest(coalesce(h.market_cap_usd, 0), coalesce(h.volume_24h_usd, 0)) > ?
            ORDER BY h.coin_id, h.day
            """,
            [job_id, above_usd],
        )
    ]


def history_sector_inputs(
    wh: Warehouse, job_id: str, held: Sequence[tuple[str, date]] = ()
) -> list[SectorInputs]:
    """The sector per day from the job's coins: the de-duplicated sum of their market caps,
    leaving out the points (coin, day) in `held` (those the coin rule held back).

    Basis 'history': a bottom-up sum over TODAY's constituents, not CoinGecko's category figure.
    Only days inside the job's fetched range count (older rows of other jobs stay out).
    """
    categories = wh.scalar("SELECT categories FROM backfill_jobs WHERE job_id = ?", [job_id])
    wh.query("CREATE OR REPLACE TEMP TABLE _held_points (coin_id VARCHAR, day DATE)")
    if held:
        wh.append("_held_points", list(held))
    rows = wh.query(
        _JOB_POINTS  # noqa: S608 - constants only
        + """
        -- DECIMAL sums: order-independent, so a rebuild reproduces the same doubles.
        SELECT h.day, count(*) AS n, sum(h.market_cap_usd::DECIMAL(38, 6))::DOUBLE AS cap,
               sum(h.volume_24h_usd::DECIMAL(38, 6))::DOUBLE AS vol, min(h.point_at) AS as_of,
               max(h.fetched_at)
        FROM coin_history h JOIN coins USING (coin_id), span
        WHERE h.day BETWEEN span.lo AND span.hi
          AND NOT EXISTS (
              SELECT 1 FROM _held_points x WHERE x.coin_id = h.coin_id AND x.day = h.day
          )
        GROUP BY h.day
        HAVING sum(h.market_cap_usd) > 0
        ORDER BY h.day
        """,
        [job_id],
    )
    return [
        SectorInputs(
            report_date=day,
            basis="history",
            categories=categories,
            sector_market_cap_usd=cap,
            sector_volume_24h_usd=vol,
            constituents_count=n,
            constituents_market_cap_usd=cap,
            constituents_fdv_usd=None,
            constituents_volume_24h_usd=vol,
            market_as_of=as_of,
            fetched_at=fetched,
        )
        for day, n, cap, vol, as_of, fetched in rows
    ]


def category_report_days(wh: Warehouse) -> set[date]:
    """Days that already have reports from daily runs (basis 'category'): history never
    overwrites them."""
    return {
        r[0]
        for r in wh.query("SELECT DISTINCT report_date FROM report_daily WHERE basis = 'category'")
    }


def replace_history_reports(wh: Warehouse, rows: list[ReportRow]) -> int:
    """Replace the history-basis rows of the days in `rows`, in bulk. Days that have
    category-basis rows are left alone (their rows here are dropped)."""
    days = sorted({r.report_date for r in rows})
    if not days:
        return 0
    taken = {
        d
        for (d,) in wh.query(
            "SELECT DISTINCT report_date FROM report_daily"
            " WHERE basis = 'category' AND list_contains(?, report_date)",
            [days],
        )
    }
    wh.query(
        "DELETE FROM report_daily WHERE basis = 'history' AND list_contains(?, report_date)",
        [[d for d in days if d not in taken]],
    )
    return wh.append(
        "report_daily",
        [r.as_tuple() for r in rows if r.report_date not in taken],
        columns=REPORT_COLUMNS,
    )
