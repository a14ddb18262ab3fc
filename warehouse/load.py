"""Loads (bulk, idempotent) and the reads the model stage needs. Call inside `wh.transaction()`."""

from __future__ import annotations

import hashlib
import json
from datetime import date, datetime

from capcover.ingest.models import Quarantined, Quote, RawResponse, SectorSnapshot
from capcover.model.markets import COMMITTED_MARKETS
from capcover.model.report import QuotePoint, ReportRow, SectorInputs
from capcover.warehouse.db import Warehouse


def archive_raw(wh: Warehouse, run_id: str, raws: list[RawResponse]) -> int:
    rows = [
        (
            run_id,
            seq,
            r.source,
            r.endpoint,
            r.method,
            r.url,
            json.dumps(r.params, sort_keys=True, default=str),
            r.request_body,
            r.status,
            r.body,
            r.sha256,
            r.fetched_at,
            r.elapsed_ms,
            r.attempt,
        )
        for seq, r in enumerate(raws, start=1)
    ]
    return wh.append("raw_http", rows)


def raw_responses(wh: Warehouse, run_id: str) -> list[RawResponse]:
    """A run's archived responses, in the order they were received."""
    rows = wh.query(
        "SELECT source, endpoint, method, url, params, request_body, status, body, fetched_at,"
        " elapsed_ms, attempt FROM raw_http WHERE run_id = ? ORDER BY seq",
        [run_id],
    )
    return [
        RawResponse(
            source=s,
            endpoint=e,
            method=m,
            url=u,
            params=json.loads(p or "{}"),
            request_body=rb,
            status=st,
            body=b,
            fetched_at=f,
            elapsed_ms=el,
            attempt=a,
        )
        for (s, e, m, u, p, rb, st, b, f, el, a) in rows
    ]


def load_sector(wh: Warehouse, snap: SectorSnapshot, run_id: str) -> tuple[int, int]:
    """Replace the as-of day's category and constituent rows with this snapshot's."""
    day = snap.as_of_date
    cat_ids = [c.id for c in snap.categories]
    for table in ("category_snapshots", "coin_snapshots"):
        wh.query(
            f"DELETE FROM {table} "  # noqa: S608 - table names are constants
            "WHERE as_of_date = ? AND list_contains(?, category_id)",
            [day, cat_ids],
        )
    n_cat = wh.append(
        "category_snapshots",
        [
            (
                day,
                c.id,
                c.name,
                c.market_cap_usd,
                c.market_cap_change_24h_pct,
                c.volume_24h_usd,
                c.top_3_coins_id,
                c.updated_at,
                snap.fetched_at,
                run_id,
            )
            for c in snap.categories
        ],
    )
    coin_rows = [
        (
            day,
            cid,
            c.id,
            c.symbol,
            c.name,
            c.current_price_usd,
            c.market_cap_usd,
            c.market_cap_rank,
            c.fully_diluted_valuation_usd,
            c.total_volume_usd,
            c.circulating_supply,
            c.total_supply,
            c.max_supply,
            c.last_updated,
            snap.fetched_at,
            run_id,
        )
        for cid, coins in snap.constituents.items()
        for c in coins
    ]
    n_coins = wh.append("coin_snapshots", coin_rows)
    keep_coin_names(wh, day)
    return n_cat, n_coins


def keep_coin_names(wh: Warehouse, day: date) -> None:
    """Bring coin_names (each coin's symbol and name on its latest coin_snapshots date,
    migration 031) in step with `day`'s coin rows just replaced, reading only that day's rows
    unless a coin lost the rows its names came from."""
    # Coins named from `day` that no longer have a row on it (a rerun dropped them from the
    # category): their latest name is on an earlier day, looked up in their history.
    gone = [
        c
        for (c,) in wh.query(
            "DELETE FROM coin_names WHERE as_of_date = ? AND coin_id NOT IN"
            " (SELECT coin_id FROM coin_snapshots WHERE as_of_date = ?) RETURNING coin_id",
            [day, day],
        )
    ]
    if gone:
        refresh_coin_names(wh, gone)
    # The day's coins take its names unless a later day named them.
    wh.query(
        "DELETE FROM coin_names WHERE as_of_date <= ? AND coin_id IN"
        " (SELECT coin_id FROM coin_snapshots WHERE as_of_date = ?)",
        [day, day],
    )
    wh.query(
        "INSERT INTO coin_names SELECT coin_id, any_value(symbol), any_value(name), ?"
        " FROM coin_snapshots WHERE as_of_date = ?"
        " AND coin_id NOT IN (SELECT coin_id FROM coin_names) GROUP BY coin_id",
        [day, day],
    )


def refresh_coin_names(wh: Warehouse, coins: list[str] | None = None) -> None:
    """Re-derive coin_names from all of coin_snapshots, for `coins` (None: every coin)."""
    where, params = ("", []) if coins is None else (" WHERE list_contains(?, coin_id)", [coins])
    wh.query(f"DELETE FROM coin_names{where}", params)  # noqa: S608 - a fixed clause
    wh.query(
        f"INSERT INTO coin_names SELECT coin_id, arg_max(symbol, as_of_date),"  # noqa: S608
        f" arg_max(name, as_of_date), max(as_of_date) FROM coin_snapshots{where}"
        " GROUP BY coin_id",
        params,
    )


def quote_id(q: Quote) -> str:
    parts = [
        q.source,
        q.observed_at.isoformat(),
        q.kind,
        q.sku_label,
        q.form_factor,
        q.price_raw,
        q.price_unit,
        q.currency,
        q.gpu_count_basis,
        q.tier,
        q.condition,
        q.region,
    ]
    if q.listing_id is not None:  # feed offers: two identical-looking offers stay two quotes
        parts.append(q.listing_id)
    key = "|".join(str(v) for v in parts)
    return hashlib.sha256(key.encode()).hexdigest()[:32]


def quote_market(q: Quote) -> str | None:
    """`spot`, `on_demand` or a committed term (`committed_1y`, ...) for a rental quote (from
    its tier, as migration 007 derives on_demand/spot for older rows); None for purchase
    prices and assumptions."""
    if q.kind != "rental_hourly":
        return None
    tier = (q.tier or "").lower()
    if tier in COMMITTED_MARKETS:  # a contract price is its own market (model/markets.py)
        return tier
    return "spot" if "spot" in tier or "interruptible" in tier else "on_demand"


def load_quotes(wh: Warehouse, quotes: list[Quote], run_id: str) -> int:
    """Upsert quotes by their natural key (the same published quote is stored once).

    Feed offers (quotes with a `listing_id`) are a snapshot: a source's snapshot of a day
    replaces its earlier snapshot of that day, so offers withdrawn since then stop counting.
    """
    rows = {}
    snapshots = set()
    for q in quotes:
        rows[quote_id(q)] = (
            quote_id(q),
            q.observed_at,
            q.observed_date,
            q.source,
            q.source_url,
            q.kind,
            q.sku_label,
            q.sku,
            q.form_factor,
            q.memory_gb,
            q.gpu_count_basis,
            q.price_raw,
            q.price_unit,
            q.currency,
            q.usd_per_unit,
            q.price_usd,
            q.tier,
            q.condition,
            q.region,
            q.note,
            run_id,
            q.listing_id,
            quote_market(q),
            q.confidence,
        )
        if q.listing_id is not None:
            snapshots.add((q.source, q.observed_date))
    for source, day in sorted(snapshots):
        wh.query(
            "DELETE FROM gpu_quotes WHERE source = ? AND observed_date = ?"
            " AND listing_id IS NOT NULL",
            [source, day],
        )
    if rows:
        wh.query("DELETE FROM gpu_quotes WHERE list_contains(?, quote_id)", [list(rows)])
    return wh.append("gpu_quotes", list(rows.values()))


def load_quarantine(
    wh: Warehouse, run_id: str, items: list[Quarantined], first_seq: int = 1
) -> int:
    """`first_seq`: a second batch of the same run continues the (run_id, seq) numbering."""
    return wh.append(
        "quarantine",
        [
            (run_id, seq, q.source, q.endpoint, q.record_key, q.reason, q.record_json)
            for seq, q in enumerate(items, start=first_seq)
        ],
    )


def sector_inputs(wh: Warehouse, day: date, categories: list[str]) -> SectorInputs | None:
    """The market side of `day`'s report from the category snapshots (basis 'category')."""
    row = wh.query(
        """
        WITH cats AS (
            SELECT * FROM category_snapshots
            WHERE as_of_date = ? AND list_contains(?, category_id)
        ), coins AS (
            -- a coin in two configured categories counts once
            SELECT coin_id, any_value(market_cap_usd) AS cap,
                   any_value(fully_diluted_valuation_usd) AS fdv,
                   any_value(total_volume_usd) AS vol
            FROM coin_snapshots
            WHERE as_of_date = ? AND list_contains(?, category_id)
            GROUP BY coin_id
        )
        -- Sums go through DECIMAL: a DOUBLE sum depends on row order (DuckDB aggregates in
        -- parallel), and `capcover rebuild` must reproduce reports to the last bit.
        SELECT (SELECT count(*) FROM cats),
               (SELECT sum(market_cap_usd::DECIMAL(38, 6))::DOUBLE FROM cats),
               (SELECT sum(volume_24h_usd::DECIMAL(38, 6))::DOUBLE FROM cats),
               (SELECT min(updated_at) FROM cats),
               (SELECT max(fetched_at) FROM cats),
               (SELECT count(*) FROM coins),
               (SELECT sum(cap::DECIMAL(38, 6))::DOUBLE FROM coins),
               (SELECT sum(fdv::DECIMAL(38, 6))::DOUBLE FROM coins),
               (SELECT sum(vol::DECIMAL(38, 6))::DOUBLE FROM coins)
        """,
        [day, categories, day, categories],
    )[0]
    n_cats, cap, vol, as_of, fetched, n_coins, coins_cap, fdv, coins_vol = row
    if n_cats != len(categories) or cap is None:
        return None
    return SectorInputs(
        report_date=day,
        basis="category",
        categories=",".join(categories),
        sector_market_cap_usd=cap,
        sector_volume_24h_usd=vol,
        constituents_count=n_coins,
        constituents_market_cap_usd=coins_cap,
        constituents_fdv_usd=fdv,
        constituents_volume_24h_usd=coins_vol,
        market_as_of=as_of,
        fetched_at=fetched,
    )


def quote_points(wh: Warehouse, day: date) -> list[QuotePoint]:
    """Per (sku, kind, source): that source's latest quote(s) at or before `day`
    (the `latest_quotes` macro, migration 007). A source that published several quotes on its
    latest date (both ends of a range, every offer of a feed snapshot) contributes all."""
    rows = wh.query(
        "SELECT sku, kind, source, price_usd, observed_date, form_factor, market, condition"
        " FROM latest_quotes(?::DATE)"
        " ORDER BY sku, kind, source, price_usd, form_factor, market, condition",
        [day],
    )
    return [QuotePoint(*r) for r in rows]


def quote_observed_dates(wh: Warehouse) -> list[date]:
    """Every day on which some quote was observed, oldest first."""
    return sorted(r[0] for r in wh.query("SELECT DISTINCT observed_date FROM gpu_quotes"))


def replace_reports(wh: Warehouse, day: date, rows: list[ReportRow]) -> int:
    """Replace all of `day`'s report rows with `rows` (a rerun never duplicates a day)."""
    wh.query("DELETE FROM report_daily WHERE report_date = ?", [day])
    return wh.append("report_daily", [r.as_tuple() for r in rows])


def record_run(
    wh: Warehouse,
    *,
    run_id: str,
    kind: str,
    started_at: datetime,
    finished_at: datetime,
    status: str,
    as_of_date: date | None = None,
    http_requests: int = 0,
    http_retries: int = 0,
    rate_limited: int = 0,
    quarantined: int = 0,
    duplicates_dropped: int = 0,
    reports_written: int = 0,
    sources_failed: list[str] | None = None,
    message: str | None = None,
    summary: dict | None = None,
    step_durations: dict[str, float] | None = None,
    coins_loaded: int | None = None,
    quotes_loaded: int | None = None,
    flow_run_id: str | None = None,
) -> None:
    # Named columns: later migrations add columns to `runs` (006: operations, alerts).
    wh.query(
        "INSERT OR REPLACE INTO runs (run_id, kind, started_at, finished_at, status, as_of_date,"
        " http_requests, http_retries, rate_limited, quarantined, duplicates_dropped,"
        " reports_written, sources_failed, message, summary, duration_s, step_durations,"
        " coins_loaded, quotes_loaded, flow_run_id)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            run_id,
            kind,
            started_at,
            finished_at,
            status,
            as_of_date,
            http_requests,
            http_retries,
            rate_limited,
            quarantined,
            duplicates_dropped,
            reports_written,
            ",".join(sources_failed or []) or None,
            message,
            json.dumps(summary, default=str) if summary is not None else None,
            (finished_at - started_at).total_seconds(),
            json.dumps({k: round(v, 3) for k, v in step_durations.items()})
            if step_durations is not None
            else None,
            coins_loaded,
            quotes_loaded,
            flow_run_id,
        ],
    )


def run_summary(wh: Warehouse, run_id: str) -> str | None:
    """The run's `runs.summary` as stored (a JSON text), or None."""
    return wh.scalar("SELECT summary FROM runs WHERE run_id = ?", [run_id])


def run_sources_failed(wh: Warehouse, run_id: str) -> set[str]:
    """The sources recorded as failed for the run (`runs.sources_failed`, comma-separated)."""
    return set(
        (wh.scalar("SELECT sources_failed FROM runs WHERE run_id = ?", [run_id]) or "").split(",")
    )
