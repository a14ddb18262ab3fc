"""Read-side queries over the GPU price quotes, behind `capcover quotes list` (bound parameters)."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING

from capcover.warehouse.db import Warehouse

# QuotePoint (model.report and the price method, ~10 ms of imports) only for `--stats`:
# a plain `capcover quotes list` prints rows without it.
if TYPE_CHECKING:
    from capcover.model.report import QuotePoint

LIST_COLUMNS = (
    "observed_date",
    "source",
    "kind",
    "sku",
    "form_factor",
    "market",
    "sku_label",
    "gpu_count_basis",
    "price_raw",
    "price_unit",
    "currency",
    "usd_per_unit",
    "price_usd",
    "tier",
    "region",
)

# Without a day: each source's latest quotes (the `latest_quotes` macro); with one: that day's.
_SELECTION = (
    " WHERE (?::VARCHAR IS NULL OR upper(sku) = upper(?))"
    "   AND (?::VARCHAR IS NULL OR kind = ?)"
    "   AND (?::VARCHAR IS NULL OR source = ?)"
    "   AND CASE WHEN ?::DATE IS NULL"
    "       THEN quote_id IN (SELECT quote_id FROM latest_quotes(current_date))"
    "       ELSE observed_date = ? END"
)


def list_quotes(
    wh: Warehouse,
    *,
    sku: str | None = None,
    kind: str | None = None,
    day: date | None = None,
    source: str | None = None,
) -> tuple[list, list]:
    """Quotes observed on `day`; without a day, each source's latest quotes (`latest_quotes`,
    the ones the model prices with today). Cheapest first within each SKU and kind."""
    cols = ", ".join(LIST_COLUMNS)
    return wh.query_table(
        f"SELECT {cols} FROM gpu_quotes"  # noqa: S608 - column list and filters are constants
        + _SELECTION
        + " ORDER BY sku, kind, price_usd, source",
        [sku, sku, kind, kind, source, source, day, day],
    )


def quote_points_on(
    wh: Warehouse, *, sku: str | None = None, kind: str | None = None, day: date | None = None
) -> list[QuotePoint]:
    """The quotes the price method summarises per group: those observed on `day`, or without
    a day each source's latest ones."""
    from capcover.model.report import QuotePoint

    columns = "sku, kind, source, price_usd, observed_date, form_factor, market, condition"
    sql = f"SELECT {columns} FROM gpu_quotes{_SELECTION}"  # noqa: S608 - constants only
    sql += " AND sku <> 'unmapped' ORDER BY sku, kind, source, price_usd"
    rows = wh.query(sql, [sku, sku, kind, kind, None, None, day, day])
    return [QuotePoint(*r) for r in rows]
