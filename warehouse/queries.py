"""Read-side queries behind `capcover report` and friends (bound parameters only)."""

from __future__ import annotations

from datetime import date

from warehouse.db import Warehouse

REPORT_SUMMARY_COLUMNS = (
    "report_date", "scenario", "sector_market_cap_usd", "gpu_count", "gpu_sku",
    "unit_price_usd", "buildout_cost_usd", "coverage_ratio", "gpus_affordable",
    "breakeven_unit_price_usd", "price_quote_count", "price_as_of", "basis",
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
