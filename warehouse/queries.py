"""Read-side queries behind `capcover report` and friends (bound parameters only)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from capcover.warehouse.db import Warehouse, table_exists

REPORT_SUMMARY_COLUMNS = (
    "report_date",
    "scenario",
    "sector_market_cap_usd",
    "gpu_count",
    "gpu_sku",
    "unit_price_usd",
    "buildout_cost_usd",
    "coverage_ratio",
    "coverage_ratio_low",
    "coverage_ratio_high",
    "gpus_affordable",
    "breakeven_unit_price_usd",
    "price_quote_count",
    "price_as_of",
    "price_method",
    "basis",
)


def report(
    wh: Warehouse, *, day: date | None = None, scenario: str | None = None, full: bool = False
) -> tuple[list[str], list[tuple]]:
    """Report rows for `day` (default: the latest report date), optionally one scenario."""
    cols = "*" if full else ", ".join(REPORT_SUMMARY_COLUMNS)
    return wh.query_table(
        f"SELECT {cols} FROM report_daily"  # noqa: S608 - column list is a constant
        " WHERE report_date = coalesce(?::DATE, (SELECT max(report_date) FROM report_daily))"
        "   AND (?::VARCHAR IS NULL OR scenario = ?)"
        " ORDER BY scenario",
        [day, scenario, scenario],
    )


PARAMETER_COLUMNS = ("scenario", "parameter", "value", "unit", "note")


def report_parameters(
    wh: Warehouse, *, day: date | None = None, scenario: str | None = None
) -> tuple[list[str], list[tuple]]:
    """The parameters behind the compute-equivalent and total-cost rows of `day` (default:
    the latest report date), from v_report_parameters; none in a warehouse from before
    migration 060."""
    if not wh.has(60):  # warehouse/migrations/060_scenario_parameters.sql
        return list(PARAMETER_COLUMNS), []
    return wh.query_table(
        f"SELECT {', '.join(PARAMETER_COLUMNS)} FROM v_report_parameters"  # noqa: S608 - constant
        " WHERE report_date = coalesce(?::DATE, (SELECT max(report_date) FROM report_daily))"
        "   AND (?::VARCHAR IS NULL OR scenario = ?)"
        " ORDER BY scenario, position",
        [day, scenario, scenario],
    )


DEPTH_COLUMNS = (
    "scenario",
    "gpu_count",
    "sku",
    "form_factor",
    "source",
    "gpus_seen",
    "offers_seen",
    "counted",
    "basis",
)


def report_depth(
    wh: Warehouse, *, day: date | None = None, scenario: str | None = None
) -> tuple[list[str], list[tuple]]:
    """Per rental row of `day` (default: the latest report date), each source's gpu_depth row
    for its SKU and form factor, then a `total` row (rentable_gpus_seen; its basis names the
    sources that did not answer); none in a warehouse from before migration 063."""
    if not wh.has(63):  # warehouse/migrations/063_gpu_depth.sql
        return list(DEPTH_COLUMNS), []
    return wh.query_table(
        f"""
        WITH r AS (
            SELECT * FROM report_daily
            WHERE report_date = coalesce(?::DATE, (SELECT max(report_date) FROM report_daily))
              AND (?::VARCHAR IS NULL OR scenario = ?)
              AND rentable_gpus_method IS NOT NULL
        ), rows AS (
            SELECT r.scenario, r.gpu_count, d.sku, d.form_factor, d.source, d.gpus_seen,
                   d.offers_seen, d.counted, d.basis, 0 AS position
            FROM r JOIN gpu_depth d
              ON d.day = r.report_date AND d.sku = r.gpu_sku
             AND (r.price_form_factor = 'any' OR d.form_factor = r.price_form_factor)
            UNION ALL
            SELECT scenario, gpu_count, gpu_sku, price_form_factor, 'total', rentable_gpus_seen,
                   NULL, NULL,
                   'counted: ' || coalesce(rentable_gpus_sources, 'none')
                   || coalesce('; not counted (no answer): ' || rentable_gpus_missing, ''),
                   1
            FROM r
        )
        SELECT {", ".join(DEPTH_COLUMNS)} FROM rows
        ORDER BY scenario, position, form_factor, source""",  # noqa: S608 - constant columns
        [day, scenario, scenario],
    )


def report_scenarios(wh: Warehouse) -> list[str]:
    """Every scenario with at least one report, by name."""
    return [r[0] for r in wh.query("SELECT DISTINCT scenario FROM report_daily ORDER BY 1")]


def report_dates_near(
    wh: Warehouse, day: date, scenario: str | None = None
) -> tuple[date | None, date | None, date | None]:
    """The report dates closest to `day` (the last before it, the first after it) and the
    latest, of `scenario` or of any: None where there is none."""
    row = wh.query(
        "SELECT max(report_date) FILTER (report_date < ?), min(report_date) FILTER"
        " (report_date > ?), max(report_date) FROM report_daily"
        " WHERE ?::VARCHAR IS NULL OR scenario = ?",
        [day, day, scenario, scenario],
    )[0]
    return row[0], row[1], row[2]


def _dicts(wh: Warehouse, sql: str, params: list | None = None) -> list[dict]:
    cols, rows = wh.query_table(sql, params)
    return [dict(zip(cols, r, strict=True)) for r in rows]


# -- the HTML report -------------------------------------------------------------------------


def latest_report_details(
    wh: Warehouse, day: date | None = None, scenario: str | None = None
) -> list[dict]:
    """The reports of `day` (default: the latest report date) with the inputs behind them,
    one scenario or all, highest coverage first; with the depth count of rental rows
    (migration 063; NULL in an older file)."""
    depth = (
        "rentable_gpus_seen, rentable_gpus_sources, rentable_gpus_missing, rentable_gpus_method"
        if wh.has(63)
        else "NULL AS rentable_gpus_seen, NULL AS rentable_gpus_sources,"
        " NULL AS rentable_gpus_missing, NULL AS rentable_gpus_method"
    )
    return _dicts(
        wh,
        f"""
        SELECT report_date, scenario, basis, sector_market_cap_usd, constituents_market_cap_usd,
               constituents_count, gpu_count, gpu_sku, unit_price_usd, price_basis,
               price_sources, price_quote_count, buildout_cost_usd, coverage_ratio,
               market_as_of, {depth}
        FROM report_daily
        WHERE report_date = coalesce(?::DATE, (SELECT max(report_date) FROM report_daily))
          AND (?::VARCHAR IS NULL OR scenario = ?)
        ORDER BY coverage_ratio DESC, scenario""",  # noqa: S608 - a constant column list
        [day, scenario, scenario],
    )


def ratio_history(wh: Warehouse) -> list[tuple]:
    """(report_date, scenario, coverage_ratio, basis) of every report, by scenario and day."""
    return wh.query(
        "SELECT report_date, scenario, coverage_ratio, basis FROM report_daily"
        " ORDER BY scenario, report_date"
    )


def top_constituents(wh: Warehouse, limit: int, day: date | None = None) -> list[dict]:
    """The `limit` largest constituents of each category, by position: on each category's
    latest snapshot (v_sector_constituents), or its latest at or before `day`."""
    if day is None:
        return _dicts(
            wh,
            """
            SELECT category_id, position, coin_id, symbol, name, market_cap_usd, share_of_sum
            FROM v_sector_constituents WHERE position <= ? ORDER BY category_id, position""",
            [limit],
        )
    return _dicts(
        wh,
        """
        WITH latest AS (
            SELECT category_id, max(as_of_date) AS as_of_date FROM coin_snapshots
            WHERE as_of_date <= ? GROUP BY category_id
        ), ranked AS (
            SELECT c.category_id,
                   row_number() OVER (PARTITION BY c.category_id
                                      ORDER BY c.market_cap_usd DESC NULLS LAST, c.coin_id)
                       AS position,
                   c.coin_id, c.symbol, c.name, c.market_cap_usd,
                   c.market_cap_usd / sum(c.market_cap_usd) OVER (PARTITION BY c.category_id)
                       AS share_of_sum
            FROM coin_snapshots c JOIN latest USING (category_id, as_of_date)
        )
        SELECT * FROM ranked WHERE position <= ? ORDER BY category_id, position""",
        [day, limit],
    )


def latest_purchase_quotes(wh: Warehouse, day: date, skus: list[str]) -> list[dict]:
    """Each source's latest purchase quotes for `skus` at or before `day`, cheapest first."""
    return _dicts(
        wh,
        """
        SELECT sku, kind, source, price_usd, observed_date, source_url
        FROM latest_quotes(?::DATE)
        WHERE list_contains(?, sku) AND kind = 'purchase'
        ORDER BY sku, price_usd, source""",
        [day, skus],
    )


def recent_alerts(
    wh: Warehouse, day: date | None = None, scenario: str | None = None
) -> list[dict]:
    """The 20 most recent alerts that were not withdrawn (of report dates up to `day`, of
    `scenario`, when given)."""
    return _dicts(
        wh,
        """
        SELECT report_date, scenario, rule, previous_ratio, current_ratio, message,
               delivery_state
        FROM alerts WHERE delivery_state <> 'withdrawn'
          AND (?::DATE IS NULL OR report_date <= ?)
          AND (?::VARCHAR IS NULL OR scenario = ?)
        ORDER BY report_date DESC, scenario, rule LIMIT 20""",
        [day, day, scenario, scenario],
    )


def has_demo_runs(wh: Warehouse) -> bool:
    """Whether any run in this warehouse was a demo run (its data is illustrative)."""
    if not table_exists(wh, "runs"):
        return False
    return bool(wh.scalar("SELECT count(*) FROM runs WHERE kind = 'demo'"))


# -- the demo --------------------------------------------------------------------------------


def coverage_history(wh: Warehouse, scenario: str) -> list[tuple]:
    """(report_date, coverage_ratio, basis, crossed_one, previous_ratio) of `scenario`, by day."""
    return wh.query(
        "SELECT report_date, coverage_ratio, basis, crossed_one, previous_ratio"
        " FROM v_coverage_history WHERE scenario = ? ORDER BY report_date",
        [scenario],
    )


def run_alerts(wh: Warehouse, run_id: str) -> list[tuple]:
    """(rule, scenario, message) of the alerts the run fired and did not withdraw."""
    return wh.query(
        "SELECT rule, scenario, message FROM alerts WHERE run_id = ?"
        " AND delivery_state <> 'withdrawn' ORDER BY rule, scenario",
        [run_id],
    )


def latest_report_date(wh: Warehouse) -> date | None:
    """The latest day with a report, or None."""
    day: date | None = wh.scalar("SELECT max(report_date) FROM report_daily")
    return day


def crossings_on(wh: Warehouse, day: date | None) -> list[tuple]:
    """(scenario, previous_ratio, coverage_ratio) of the scenarios that crossed 1.0 on `day`."""
    return wh.query(
        "SELECT scenario, previous_ratio, coverage_ratio FROM v_coverage_history"
        " WHERE report_date = ? AND crossed_one ORDER BY scenario",
        [day],
    )


# -- alerts ----------------------------------------------------------------------------------

# Here, not in warehouse/alerts.py: `capcover alerts` only reads, and warehouse/alerts.py loads
# the alert rules and the report model (~20 ms of imports) for the daily run's writes.
ALERT_COLUMNS = [
    "report_date",
    "scenario",
    "rule",
    "level",
    "previous_ratio",
    "current_ratio",
    "delivery_state",
    "channels",
    "delivered",
    "attempts",
    "last_error",
    "message",
    "alert_id",
    "previous_date",
    "created_at",
    "delivered_at",
    "run_id",
]


def list_alerts(
    wh: Warehouse, *, since: date | None = None, undelivered: bool = False
) -> tuple[list[str], list[tuple]]:
    """Alert history, newest report date first, with per-channel delivery counts.

    `undelivered` keeps alerts that some channel has not confirmed yet (pending, failed,
    partial, unknown, held); alerts with no channel configured are not undelivered, they had
    nowhere to go.
    """
    cols, rows = wh.query_table(
        """
        SELECT a.report_date, a.scenario, a.rule, a.level, a.previous_ratio, a.current_ratio,
               a.delivery_state, a.channels,
               count(d.channel_id) FILTER (d.state = 'delivered') AS delivered,
               coalesce(sum(d.attempts), 0) AS attempts,
               max(d.last_error) FILTER (d.state NOT IN ('delivered', 'superseded'))
                   AS last_error,
               a.message, a.alert_id, a.previous_date, a.created_at, a.delivered_at, a.run_id
        FROM alerts a LEFT JOIN alert_deliveries d USING (alert_id)
        WHERE (CAST(? AS DATE) IS NULL OR a.report_date >= ?)
          AND (NOT ? OR a.delivery_state IN ('pending', 'failed', 'partial', 'unknown', 'held'))
        GROUP BY ALL
        ORDER BY a.report_date DESC, a.scenario, a.rule, a.level
        """,
        [since, since, undelivered],
    )
    return cols, rows


# -- status ----------------------------------------------------------------------------------


def recent_runs(wh: Warehouse, columns: Sequence[str], limit: int) -> tuple[list[str], list[tuple]]:
    """The `limit` latest runs, with those of `columns` this warehouse's `runs` has (older
    files predate some columns)."""
    present = {
        c
        for (c,) in wh.query(
            "SELECT column_name FROM information_schema.columns WHERE table_name = 'runs'"
        )
    }
    cols = [c for c in columns if c in present]
    # The latest is the last committed (run_seq, migration 070), not the latest clock reading.
    order = "started_at DESC"
    if "run_seq" in present:
        order = "run_seq DESC NULLS LAST, started_at DESC"
    return wh.query_table(
        f"SELECT {', '.join(cols)} FROM runs"  # noqa: S608 - names from a constant list
        f" ORDER BY {order} LIMIT ?",
        [limit],
    )


# -- the HTML report's chart -----------------------------------------------------------------

BAND_COLUMNS = ("coverage_ratio_low", "coverage_ratio_high")


def ratio_history_with_band(wh: Warehouse) -> list[tuple]:
    """(report_date, scenario, coverage_ratio, basis, coverage_ratio_low, coverage_ratio_high)
    of every report, by scenario and day. The band's ends are NULL in warehouses whose
    report_daily has no band columns (those written before the ratio band existed)."""
    present = {
        c
        for (c,) in wh.query(
            "SELECT column_name FROM information_schema.columns WHERE table_name = 'report_daily'"
        )
    }
    band = ", ".join(BAND_COLUMNS) if present.issuperset(BAND_COLUMNS) else "NULL, NULL"
    sql = f"SELECT report_date, scenario, coverage_ratio, basis, {band} FROM report_daily"  # noqa: S608 - constant names
    return wh.query(sql + " ORDER BY scenario, report_date")
