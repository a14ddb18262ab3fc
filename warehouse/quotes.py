"""Read-side queries over the GPU price quotes, behind `capcover quotes list` (bound parameters)."""

from __future__ import annotations

from datetime import date

from warehouse.db import Warehouse

LIST_COLUMNS = (
    "observed_date", "source", "kind", "sku", "form_factor", "sku_label", "gpu_count_basis",
    "price_raw", "price_unit", "currency", "usd_per_unit", "price_usd", "tier", "region",
)


def list_quotes(wh: Warehouse, *, sku: str | None = None, kind: str | None = None,
                day: date | None = None, source: str | None = None) -> tuple[list, list]:
    """Quotes observed on `day`; without a day, each source's latest quotes (the ones the
    model prices with today). Cheapest first within each SKU and kind."""
    cols = ", ".join(LIST_COLUMNS)
    return wh.query_table(
        f"SELECT {cols} FROM gpu_quotes"  # noqa: S608 - column list is a constant
        " WHERE (?::VARCHAR IS NULL OR upper(sku) = upper(?))"
        "   AND (?::VARCHAR IS NULL OR kind = ?)"
        "   AND (?::VARCHAR IS NULL OR source = ?)"
        "   AND (?::DATE IS NULL OR observed_date = ?)"
        " QUALIFY ?::DATE IS NOT NULL"
        "   OR observed_date = max(observed_date) OVER (PARTITION BY sku, kind, source)"
        " ORDER BY sku, kind, price_usd, source",
        [sku, sku, kind, kind, source, source, day, day, day],
    )


def quote_stats(wh: Warehouse, *, sku: str | None = None, kind: str | None = None,
                day: date | None = None) -> tuple[list, list]:
    """Per (day, SKU, kind): count, min, median, max and sources (view quote_stats_daily)."""
    return wh.query_table(
        "SELECT * FROM quote_stats_daily"
        " WHERE (?::VARCHAR IS NULL OR upper(sku) = upper(?))"
        "   AND (?::VARCHAR IS NULL OR kind = ?)"
        "   AND (?::DATE IS NULL OR day = ?)"
        " ORDER BY day DESC, sku, kind",
        [sku, sku, kind, kind, day, day],
    )
