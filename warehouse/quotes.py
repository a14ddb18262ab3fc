"""Read-side queries over the GPU price quotes, behind `capcover quotes list` (bound parameters)."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING

from capcover.warehouse.db import Warehouse

# QuotePoint (model.report and the price method, ~10 ms of imports) only for `--stats`:
# a plain `capcover quotes list` prints rows without it.
if TYPE_CHECKING:
    from capcover.model.prices import QuotePoint

# The columns the price method decides on (model/prices.py QuotePoint), in its field order.
POINT_COLUMNS = (
    "sku, kind, source, price_usd, observed_date, form_factor, market, quote_id,"
    " coalesce(provider, source), tier, tier_label, coalesce(flags, []),"
    " coalesce(computed_price, false), unavailable_reason, capacity_id, condition,"
    " instance_name, gpu_count_basis, price_raw, region, form_factor_v1"
)
_POINT_FIELDS = (
    "sku kind source price_usd observed_date form_factor market quote_id provider tier"
    " tier_label flags computed_price unavailable_reason capacity_id condition instance_name"
    " gpu_count_basis price_raw region form_factor_v1"
).split()


def points_of(rows: list) -> list[QuotePoint]:
    """QuotePoints of rows selected with POINT_COLUMNS."""
    from capcover.model.prices import QuotePoint

    points = []
    for r in rows:
        values = dict(zip(_POINT_FIELDS, r, strict=True))
        values["flags"] = tuple(values["flags"])
        points.append(QuotePoint(**values))
    return points


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
    sql = f"SELECT {POINT_COLUMNS} FROM gpu_quotes{_SELECTION}"  # noqa: S608 - constants only
    sql += " AND sku <> 'unmapped' ORDER BY sku, kind, source, price_usd, quote_id"
    rows = wh.query(sql, [sku, sku, kind, kind, None, None, day, day])
    return points_of(rows)
