"""Loads (bulk, idempotent) and the reads the model stage needs. Call inside `wh.transaction()`."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import date, datetime

from capcover.ingest.models import Quarantined, Quote, SectorSnapshot
from capcover.model.depth import Depth
from capcover.model.prices import (
    METHOD_VERSION,
    METHOD_VERSION_V2,
    Decision,
    MaxAge,
    PriceBook,
    QuotePoint,
    parse_method_id,
    price_v2,
)
from capcover.model.prices_v1 import METHOD_VERSION_V1, legacy_points, price_v1
from capcover.model.report import REPORT_COLUMNS, ReportRow, SectorInputs
from capcover.model.scenarios import Scenario
from capcover.model.tiers import market_of
from capcover.warehouse.db import Warehouse
from capcover.warehouse.quotes import POINT_COLUMNS, points_of


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


def sector_shortfalls(wh: Warehouse, snap: SectorSnapshot) -> list[str]:
    """One line per configured category that came back short: its paging did not end on an
    empty page, or it has fewer constituents than its known count (the latest snapshot before
    this one: coins do leave categories, but a sudden drop is a truncated answer)."""
    notes = list(snap.paging_notes)
    day = snap.as_of_date
    for cid, coins in snap.constituents.items():
        known = wh.query(
            "SELECT as_of_date, count(*) FROM coin_snapshots WHERE category_id = ?"
            " AND as_of_date < ? GROUP BY as_of_date ORDER BY as_of_date DESC LIMIT 1",
            [cid, day],
        )
        if known and len(coins) < known[0][1]:
            before, count = known[0]
            notes.append(
                f"'{cid}': {len(coins)} constituents, {count - len(coins)} fewer than the "
                f"{count} of {before}"
            )
    return notes


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
    """The quote's natural key, hashed. Built from the fields it always had, as they were
    stored (the feed's own tier words, a NULL form factor for an untold one), so a published
    quote stored again after migration 050 keeps its id and replaces its old row."""
    parts = [
        q.source,
        q.observed_at.isoformat(),
        q.kind,
        q.sku_label,
        None if q.form_factor == "unknown" else q.form_factor,
        q.price_raw,
        q.price_unit,
        q.currency,
        q.gpu_count_basis,
        q.tier_label,
        q.condition,
        q.region,
    ]
    if q.listing_id is not None:  # feed offers: two identical-looking offers stay two quotes
        parts.append(q.listing_id)
    key = "|".join(str(v) for v in parts)
    return hashlib.sha256(key.encode()).hexdigest()[:32]


def quote_market(q: Quote) -> str | None:
    """`on_demand`, `spot` or a committed term (`committed_1y`, ...): the market a rental
    scenario selects, a view of the quote's tier (model/tiers.py); None for every other tier
    and for purchase prices."""
    return market_of(q.tier) if q.kind == "rental_hourly" else None


# The gpu_quotes columns load_quotes writes, by name (the appender matches them to the table's
# columns whatever order the migrations added them in): 003, 007 (market), 050, 061.
QUOTE_COLUMNS = (
    "quote_id",
    "observed_at",
    "observed_date",
    "source",
    "source_url",
    "kind",
    "sku_label",
    "sku",
    "form_factor",
    "memory_gb",
    "gpu_count_basis",
    "price_raw",
    "price_unit",
    "currency",
    "usd_per_unit",
    "price_usd",
    "tier",
    "condition",
    "region",
    "note",
    "run_id",
    "listing_id",
    "market",
    "tier_label",
    "provider",
    "flags",
    "computed_price",
    "unavailable_reason",
    "capacity_id",
    "machine_id",
    "host_id",
    "instance_name",
    "form_factor_v1",
    "confidence",
)


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
            q.tier_label,
            q.provider,
            list(q.flags),
            q.computed_price,
            q.unavailable_reason,
            q.capacity_id,
            q.machine_id,
            q.host_id,
            q.instance_name,
            q.form_factor_v1,
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
    return wh.append("gpu_quotes", list(rows.values()), columns=QUOTE_COLUMNS)


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


# How a report row's sector_market_cap_usd is made (report_daily.sector_cap_method). The
# current rule picks the first two; the others name rows published under an older definition
# (re-derived by `capcover rebuild` and `verify` with that definition) or by a backfill.
SECTOR_CAP_METHODS = {
    "coingecko-category": "one category: CoinGecko's reported category cap",
    "constituent-union-v2": "several categories: the de-duplicated union of their "
    "constituents, each coin once, from its freshest record (newest last_updated, then the "
    "larger cap): the configured order of the categories does not matter",
    "constituent-union": "several categories, rows before migration 054: the union, each coin "
    "once, from the record of the first configured category listing it (order-dependent)",
    "category-sum": "several categories: their reported caps summed (rows before migration "
    "052: a coin in two categories counted twice)",
    "history-union": "a backfilled day: today's constituents' caps that day, each coin once",
}


@dataclass(frozen=True)
class ReportPin:
    """The definitions a published report date was made with: its price method id (None when
    its rows are all fixed-price) and its sector cap method. `capcover rebuild` and `verify`
    re-derive the date with these, never with newer ones (published rows are not revised)."""

    price_method: str | None
    sector_cap_method: str | None
    # False: the date's rental rows were published without a depth count (before migration
    # 063), and are re-derived without one.
    depth: bool = True


def report_pins(wh: Warehouse) -> dict[date, ReportPin]:
    """Per report date, the methods its stored rows name (read before a rebuild replaces them);
    a date whose rows name two price methods cannot be re-derived as one and fails.

    A row priced with its scenario's own staleness window (price_max_age_days, migration 062)
    names that window in its method id: it must agree on the method's version, and the date's
    windows are those of the other rows (the scenario's own window is applied again when the
    row is re-derived)."""
    pins: dict[date, ReportPin] = {}
    for day, methods, own_window, sectors, undepthed in wh.query(
        "SELECT report_date,"
        " list(DISTINCT price_method ORDER BY price_method)"
        "   FILTER (price_method <> 'fixed' AND price_max_age_days IS NULL),"
        " list(DISTINCT price_method ORDER BY price_method)"
        "   FILTER (price_method <> 'fixed' AND price_max_age_days IS NOT NULL),"
        " list(DISTINCT sector_cap_method ORDER BY sector_cap_method),"
        # rental rows and none counted rentable GPUs: published before depth (migration 063)
        " count(*) FILTER (price_market IS NOT NULL) > 0"
        "   AND count(rentable_gpus_method) = 0"
        " FROM report_daily GROUP BY report_date ORDER BY report_date"
    ):
        methods = [m for m in methods or [] if m is not None]
        own = [m for m in own_window or [] if m is not None]
        sectors = [m for m in sectors or [] if m is not None]
        versions = {m.partition("+")[0] for m in methods + own}
        if not methods and own:
            # Only rows with their own window: any of them names the method and the other
            # kind's window; its own kind's window is the scenario's again when re-derived.
            methods = own[:1]
        if len(methods) > 1 or len(versions) > 1 or len(sectors) > 1:
            methods = sorted(set(methods + own))
            raise ValueError(
                f"report date {day} has rows of several methods ({', '.join(methods + sectors)}): "
                f"they were not written by one run and cannot be re-derived as one"
            )
        pins[day] = ReportPin(
            methods[0] if methods else None, sectors[0] if sectors else None, not undepthed
        )
    return pins


def record_scenarios(wh: Warehouse, run_id: str, scenarios: list[Scenario]) -> None:
    """The scenario definitions `run_id` priced with (migration 053), replacing any earlier
    record of that run (a rebuild records what it re-derived with)."""
    wh.query("DELETE FROM run_scenarios WHERE run_id = ?", [run_id])
    wh.append(
        "run_scenarios",
        [(run_id, s.name, i, s.model_dump_json()) for i, s in enumerate(scenarios)],
    )


def recorded_scenarios(wh: Warehouse) -> dict[str, list[Scenario]]:
    """run_id -> the scenario definitions it recorded, in its order. A definition this
    capcover cannot read raises ValueError naming the run and the scenario."""
    out: dict[str, list[Scenario]] = {}
    for run_id, name, definition in wh.query(
        "SELECT run_id, scenario, definition FROM run_scenarios ORDER BY run_id, position"
    ):
        try:
            out.setdefault(run_id, []).append(Scenario.model_validate_json(definition))
        except ValueError as exc:
            first = str(exc).splitlines()
            raise ValueError(
                f"run {run_id}: the recorded definition of scenario {name} does not read "
                f"({first[1] if len(first) > 1 else first[0]})"
            ) from None
    return out


def sector_method_for(categories: list[str]) -> str:
    """The current definition of the headline cap for the configured categories."""
    return "coingecko-category" if len(categories) == 1 else "constituent-union-v2"


def sector_inputs(
    wh: Warehouse, day: date, categories: list[str], method: str | None = None
) -> SectorInputs | None:
    """The market side of `day`'s report from the category snapshots (basis 'category').

    The headline cap follows `method` (SECTOR_CAP_METHODS; default: the current rule, see
    `sector_method_for`); CoinGecko's own figure, its categories' reported caps summed, is kept
    beside it as `coingecko_category_cap_usd`."""
    method = method or sector_method_for(categories)
    if method not in (
        "coingecko-category",
        "constituent-union-v2",
        "constituent-union",
        "category-sum",
    ):
        raise ValueError(f"sector cap method {method!r} is not one a daily report uses")
    # A coin in several configured categories counts once, with one of its records: the
    # freshest (the current rule: newest last_updated, then the larger cap; the categories'
    # order does not matter), or for rows an older rule published, the first configured
    # category's (what any_value gave in load order).
    first_listed = method in ("constituent-union", "category-sum")
    row = wh.query(
        """
        WITH cats AS (
            SELECT * FROM category_snapshots
            WHERE as_of_date = ? AND list_contains(?, category_id)
        ), coins AS (
            SELECT coin_id, market_cap_usd AS cap, fully_diluted_valuation_usd AS fdv,
                   total_volume_usd AS vol
            FROM coin_snapshots
            WHERE as_of_date = ? AND list_contains(?, category_id)
            QUALIFY row_number() OVER (
                PARTITION BY coin_id
                ORDER BY CASE WHEN ? THEN list_position(?, category_id) END,
                         last_updated DESC NULLS LAST, market_cap_usd DESC NULLS LAST, category_id
            ) = 1
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
        [day, categories, day, categories, first_listed, categories],
    )[0]
    n_cats, cap, vol, as_of, fetched, n_coins, coins_cap, fdv, coins_vol = row
    if n_cats != len(categories) or cap is None:
        return None
    union = method.startswith("constituent-union")
    headline = coins_cap if union else cap
    if headline is None:
        return None
    return SectorInputs(
        report_date=day,
        basis="category",
        categories=",".join(categories),
        sector_market_cap_usd=headline,
        sector_volume_24h_usd=coins_vol if union else vol,
        constituents_count=n_coins,
        constituents_market_cap_usd=coins_cap,
        constituents_fdv_usd=fdv,
        constituents_volume_24h_usd=coins_vol,
        market_as_of=as_of,
        fetched_at=fetched,
        coingecko_category_cap_usd=cap,
        sector_cap_method=method,
    )


def quote_points(wh: Warehouse, day: date) -> list[QuotePoint]:
    """Per (sku, kind, source): that source's latest quote(s) at or before `day`
    (the `latest_quotes` macro, migration 007), with every column the price method decides on.
    A source that published several quotes on its latest date (both ends of a range, every
    offer of a feed snapshot) contributes all."""
    rows = wh.query(
        f"SELECT {POINT_COLUMNS} FROM latest_quotes(?::DATE)"  # noqa: S608 - constants
        " ORDER BY sku, kind, source, price_usd, quote_id",
        [day],
    )
    return points_of(rows)


def price_book(
    wh: Warehouse, day: date, *, max_age: MaxAge | None = None, method: str | None = None
) -> PriceBook:
    """The price book of `day`: its quotes and the method to price with, the current one or
    the older one `method` names (a stored `price_method`, e.g. when `capcover rebuild`
    re-derives rows that method published). Method mad3.5-median-v1 reads every quote up to
    the day, to recover the quote set of its own parsers (model/prices_v1.py)."""
    version = METHOD_VERSION
    if method:
        parsed = parse_method_id(method)
        version, max_age = parsed if parsed is not None else (method, max_age)
    if version == METHOD_VERSION_V1:
        rows = wh.query(
            f"SELECT {POINT_COLUMNS} FROM gpu_quotes"  # noqa: S608 - constants
            " WHERE observed_date <= ?::DATE ORDER BY source, observed_date, quote_id",
            [day],
        )
        points = tuple(legacy_points(points_of(rows), day))
        return PriceBook(points, max_age or MaxAge(), version, price_v1)
    if version == METHOD_VERSION_V2:
        return PriceBook(tuple(quote_points(wh, day)), max_age or MaxAge(), version, price_v2)
    if version != METHOD_VERSION:
        raise ValueError(
            f"price method {method!r} has no code path in this capcover (rows written before "
            f"migration 007 say median-v0): they cannot be re-derived"
        )
    return PriceBook(tuple(quote_points(wh, day)), max_age or MaxAge(), version)


def quote_observed_dates(wh: Warehouse) -> list[date]:
    """Every day on which some quote was observed, oldest first."""
    return sorted(r[0] for r in wh.query("SELECT DISTINCT observed_date FROM gpu_quotes"))


def replace_reports(
    wh: Warehouse,
    day: date,
    rows: list[ReportRow],
    decisions: list[tuple[ReportRow, Decision]] | None = None,
) -> int:
    """Replace all of `day`'s report rows with `rows` (a rerun never duplicates a day) and,
    given `decisions`, the day's price decisions with them; without, the decisions of the
    scenarios no longer reported that day go (a row held back keeps none)."""
    wh.query("DELETE FROM report_daily WHERE report_date = ?", [day])
    written = wh.append("report_daily", [r.as_tuple() for r in rows], columns=REPORT_COLUMNS)
    if decisions is None:
        wh.query(
            "DELETE FROM price_decisions WHERE report_date = ? AND NOT list_contains(?, scenario)",
            [day, [r.scenario for r in rows]],
        )
    else:
        wh.query("DELETE FROM price_decisions WHERE report_date = ?", [day])
        wh.append("price_decisions", _decision_rows(decisions))
    return written


def replace_depth(wh: Warehouse, day: date, depth: Depth | None, run_id: str) -> int:
    """Replace `day`'s gpu_depth rows with the run's sightings (a rerun never duplicates a
    day; a source absent from this run has no row for the day; None: no count for the day)."""
    wh.query("DELETE FROM gpu_depth WHERE day = ?", [day])
    if depth is None:
        return 0
    return wh.append(
        "gpu_depth",
        [
            (
                day,
                s.sku,
                s.form_factor,
                s.source,
                s.gpus_seen,
                s.offers_seen,
                s.counted,
                s.basis,
                s.observed_at,
                run_id,
            )
            for s in depth.sightings
        ],
        columns=DEPTH_COLUMNS,
    )


DEPTH_COLUMNS = (
    "day",
    "sku",
    "form_factor",
    "source",
    "gpus_seen",
    "offers_seen",
    "counted",
    "basis",
    "observed_at",
    "run_id",
)


def replace_decisions(wh: Warehouse, decisions: list[tuple[ReportRow, Decision]]) -> int:
    """Replace the price decisions of the report rows in `decisions` (a backfill's history
    rows), keeping only those whose row was written (same date, scenario and run)."""
    keys = sorted({(r.report_date, r.scenario) for r, _ in decisions})
    if not keys:
        return 0
    wh.query(
        "DELETE FROM price_decisions"
        " WHERE list_contains(?, report_date::VARCHAR || '|' || scenario)",
        [[f"{d.isoformat()}|{s}" for d, s in keys]],
    )
    wh.append("price_decisions", _decision_rows(decisions))
    wh.query(
        "DELETE FROM price_decisions p WHERE list_contains(?, run_id) AND NOT EXISTS"
        " (SELECT 1 FROM report_daily r WHERE r.report_date = p.report_date"
        " AND r.scenario = p.scenario AND r.run_id = p.run_id)",
        [sorted({r.run_id for r, _ in decisions})],
    )
    return int(
        wh.scalar(
            "SELECT count(*) FROM price_decisions WHERE list_contains(?, run_id)",
            [sorted({r.run_id for r, _ in decisions})],
        )
    )


def _decision_rows(decisions: list[tuple[ReportRow, Decision]]) -> list[tuple]:
    """`price_decisions` rows, in its column order (migration 051)."""
    return [
        (
            r.report_date,
            r.scenario,
            d.point.quote_id,
            d.point.source,
            d.point.seller,
            d.point.sku,
            d.point.kind,
            d.point.form_factor,
            d.point.tier,
            d.point.price_usd,
            d.point.observed_date,
            d.point.capacity_id,
            d.kept,
            d.rule,
            d.reason,
            d.provider_value_usd,
            r.price_method,
            r.run_id,
        )
        for r, d in decisions
    ]


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
    summary: str | None = wh.scalar("SELECT summary FROM runs WHERE run_id = ?", [run_id])
    return summary


def run_sources_failed(wh: Warehouse, run_id: str) -> set[str]:
    """The sources recorded as failed for the run (`runs.sources_failed`, comma-separated)."""
    return set(
        (wh.scalar("SELECT sources_failed FROM runs WHERE run_id = ?", [run_id]) or "").split(",")
    )
