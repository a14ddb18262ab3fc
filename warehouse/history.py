"""Backfill state and per-coin history: loads (one short transaction per coin) and the reads
behind history-basis reports. Bound parameters only."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from ingest.models import HistoryPoint, RawResponse
from model.report import ReportRow, SectorInputs
from warehouse.db import Warehouse


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
    dates = dict(wh.query(
        "SELECT category_id, max(as_of_date) FROM coin_snapshots"
        " WHERE list_contains(?, category_id) GROUP BY category_id", [list(categories)]))
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
        """, [list(categories)])
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
        """, [categories, days])
    return Job(*rows[0]) if rows else None


def create_job(wh: Warehouse, job_id: str, categories: str, days: int, coins: list[str],
               started_at: datetime, constituents_as_of: date | None) -> Job:
    """Freeze the constituents: one pending progress row per coin, in fetch order."""
    with wh.transaction():
        wh.query("INSERT INTO backfill_jobs VALUES (?, ?, ?, 'running', ?, ?, NULL, ?)",
                 [job_id, categories, days, len(coins), started_at, constituents_as_of])
        wh.append("backfill_progress", [
            (job_id, coin, seq, "pending", None, None, None, None)
            for seq, coin in enumerate(coins, start=1)
        ])
    return Job(job_id, categories, days, len(coins), 0, constituents_as_of)


def pending_coins(wh: Warehouse, job_id: str) -> list[str]:
    return [r[0] for r in wh.query(
        "SELECT coin_id FROM backfill_progress WHERE job_id = ? AND status = 'pending'"
        " ORDER BY seq", [job_id])]


def store_coin(wh: Warehouse, job_id: str, coin_id: str, points: list[HistoryPoint] | None,
               fetched_at: datetime, *, run_id: str, raws: list[tuple[int, RawResponse]]) -> None:
    """One whole coin: its raw responses, its history rows and its progress flag. Call inside
    a transaction, so the coin lands completely or not at all.

    `points=None` means the source does not know the coin (404): it is marked missing, so a
    resumed job does not ask again.
    """
    archive_raws(wh, run_id, raws)
    if points:
        days = [p.day for p in points]
        wh.query("DELETE FROM coin_history WHERE coin_id = ? AND day BETWEEN ? AND ?",
                 [coin_id, min(days), max(days)])
        wh.append("coin_history", [
            (p.coin_id, p.day, p.point_at, p.market_cap_usd, p.price_usd, p.volume_24h_usd,
             fetched_at, job_id)
            for p in points
        ])
    status = "missing" if points is None else "done"
    first = min((p.day for p in points or []), default=None)
    last = max((p.day for p in points or []), default=None)
    wh.query(
        "UPDATE backfill_progress SET status = ?, points = ?, first_day = ?, last_day = ?,"
        " finished_at = ? WHERE job_id = ? AND coin_id = ?",
        [status, len(points or []), first, last, fetched_at, job_id, coin_id])


def archive_raws(wh: Warehouse, run_id: str, raws: list[tuple[int, RawResponse]]) -> int:
    """Append numbered raw responses to `raw_http` (a backfill numbers them across coins)."""
    return wh.append("raw_http", [
        (run_id, seq, r.source, r.endpoint, r.method, r.url,
         json.dumps(r.params, sort_keys=True, default=str), r.request_body, r.status, r.body,
         r.sha256, r.fetched_at, r.elapsed_ms, r.attempt)
        for seq, r in raws
    ])


def finish_job(wh: Warehouse, job_id: str, finished_at: datetime) -> None:
    wh.query("UPDATE backfill_jobs SET status = 'done', finished_at = ? WHERE job_id = ?",
             [finished_at, job_id])


def job_summary(wh: Warehouse, job_id: str) -> dict[str, int]:
    """Coins per progress status."""
    return dict(wh.query(
        "SELECT status, count(*) FROM backfill_progress WHERE job_id = ? GROUP BY status",
        [job_id]))


def history_sector_inputs(wh: Warehouse, job_id: str) -> list[SectorInputs]:
    """The sector per day from the job's coins: the de-duplicated sum of their market caps.

    Basis 'history': a bottom-up sum over TODAY's constituents, not CoinGecko's category figure.
    Only days inside the job's fetched range count (older rows of other jobs stay out).
    """
    categories = wh.scalar("SELECT categories FROM backfill_jobs WHERE job_id = ?", [job_id])
    rows = wh.query(
        """
        WITH coins AS (
            SELECT coin_id, first_day, last_day FROM backfill_progress
            WHERE job_id = ? AND status = 'done'
        ), span AS (SELECT min(first_day) AS lo, max(last_day) AS hi FROM coins)
        -- DECIMAL sums: order-independent, so a rebuild reproduces the same doubles.
        SELECT h.day, count(*) AS n, sum(h.market_cap_usd::DECIMAL(38, 6))::DOUBLE AS cap,
               sum(h.volume_24h_usd::DECIMAL(38, 6))::DOUBLE AS vol, min(h.point_at) AS as_of,
               max(h.fetched_at)
        FROM coin_history h JOIN coins USING (coin_id), span
        WHERE h.day BETWEEN span.lo AND span.hi
        GROUP BY h.day
        HAVING sum(h.market_cap_usd) > 0
        ORDER BY h.day
        """, [job_id])
    return [
        SectorInputs(
            report_date=day, basis="history", categories=categories, sector_market_cap_usd=cap,
            sector_volume_24h_usd=vol, constituents_count=n, constituents_market_cap_usd=cap,
            constituents_fdv_usd=None, constituents_volume_24h_usd=vol, market_as_of=as_of,
            fetched_at=fetched,
        )
        for day, n, cap, vol, as_of, fetched in rows
    ]


def category_report_days(wh: Warehouse) -> set[date]:
    """Days that already have reports from daily runs (basis 'category'): history never
    overwrites them."""
    return {r[0] for r in wh.query(
        "SELECT DISTINCT report_date FROM report_daily WHERE basis = 'category'")}


def replace_history_reports(wh: Warehouse, rows: list[ReportRow]) -> int:
    """Replace the history-basis rows of the days in `rows`, in bulk. Days that have
    category-basis rows are left alone (their rows here are dropped)."""
    days = sorted({r.report_date for r in rows})
    if not days:
        return 0
    taken = {d for (d,) in wh.query(
        "SELECT DISTINCT report_date FROM report_daily"
        " WHERE basis = 'category' AND list_contains(?, report_date)", [days])}
    wh.query("DELETE FROM report_daily WHERE basis = 'history' AND list_contains(?, report_date)",
             [[d for d in days if d not in taken]])
    return wh.append("report_daily", [r.as_tuple() for r in rows if r.report_date not in taken])
