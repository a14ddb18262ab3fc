"""Price method `mad3.5-median-v1`, frozen: the code path that re-derives the report rows it
published (before migration 050), bit for bit, for `capcover rebuild` and `capcover verify`.

Published rows are never revised (docs/methodology.md, "Versions"). This method pooled every
quote of its selection and took the median after a MAD outlier rule; it read its quotes with
the parsers of its time, which kept fewer of them. `legacy_points` recovers exactly the quote
set those parsers made from today's richer quotes of the same archived answers:

- Vast.ai: verified, on-demand offers that could be rented (bids, unverified hosts, rented or
  unrentable offers were left out);
- RunPod: the two on-demand surfaces, whatever the availability fields say (never read then);
- gpuhunt: one quote per (catalog, instance type, spot) at its cheapest (price, location),
  flags ignored, with the form factor of that time (`form_factor_v1`);
- curated files: as they are, the market read from the tier's words.

Then, per (SKU, kind, source), the quotes of the latest observed day at or before the date.
Nothing new is ever priced with this module.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from datetime import date

from capcover.model.prices import (
    ANY_FORM_FACTOR,
    Decision,
    MaxAge,
    PriceStat,
    QuotePoint,
    Selection,
    estimate,
    fresh,
)

METHOD_VERSION_V1 = "mad3.5-median-v1"


def _market_v1(p: QuotePoint) -> str | None:
    """The market method v1 derived from the feed's words (migration 007)."""
    if p.kind != "rental_hourly":
        return None
    words = (p.tier_label or "").lower()
    return "spot" if "spot" in words or "interruptible" in words else "on_demand"


def _v1(p: QuotePoint) -> QuotePoint:
    form = p.form_factor_v1
    return replace(p, form_factor=form, market=_market_v1(p))


def legacy_points(rows: Iterable[QuotePoint], as_of: date) -> list[QuotePoint]:
    """The quote points method v1 priced with at `as_of`, from every stored quote observed at
    or before it (see the module docstring)."""
    kept: list[QuotePoint] = []
    cheapest: dict[tuple, QuotePoint] = {}
    for p in rows:
        if p.observed_date > as_of or p.sku == "unmapped":
            continue
        if p.source == "vastai":
            if p.condition == "verified" and p.tier == "on_demand" and not p.unavailable_reason:
                kept.append(_v1(p))
        elif p.source == "runpod":
            if p.tier == "on_demand":
                kept.append(_v1(p))
        elif p.source.startswith("gpuhunt/"):
            key = (p.source, p.observed_date, p.sku, p.instance_name, p.tier_label == "spot")
            best = cheapest.get(key)
            mine = (p.price_raw if p.price_raw is not None else p.price_usd, p.region or "")
            if best is None or mine < (
                best.price_raw if best.price_raw is not None else best.price_usd,
                best.region or "",
            ):
                cheapest[key] = p
        else:
            kept.append(_v1(p))
    kept.extend(_v1(p) for p in cheapest.values())
    latest: dict[tuple[str, str, str], date] = {}
    for p in kept:
        k = (p.sku, p.kind, p.source)
        latest[k] = max(latest.get(k, p.observed_date), p.observed_date)
    return sorted(
        (p for p in kept if p.observed_date == latest[(p.sku, p.kind, p.source)]),
        key=lambda p: (p.sku, p.kind, p.source, p.price_usd, p.form_factor or "", p.market or ""),
    )


def price_v1(
    points: Iterable[QuotePoint], sel: Selection, *, as_of: date | None, max_age: MaxAge
) -> PriceStat | None:
    """Method mad3.5-median-v1 on `legacy_points`: the selection's fresh quotes pooled, the
    median after the MAD outlier rule, quartiles of the kept quotes."""
    pts = [
        p
        for p in points
        if p.sku == sel.sku
        and p.kind == sel.kind
        and (sel.form_factor == ANY_FORM_FACTOR or p.form_factor == sel.form_factor)
        and (sel.kind != "rental_hourly" or p.market == sel.market)
        and (as_of is None or fresh(p.observed_date, as_of, sel.kind, max_age))
    ]
    if not pts:
        return None
    est = estimate([p.price_usd for p in pts])
    # The outlier rule keeps every quote within a distance of the median: the kept quotes
    # are exactly those between the kept minimum and maximum.
    kept = [p for p in pts if est.min_usd <= p.price_usd <= est.max_usd]
    decisions = tuple(
        Decision(p, True)
        if est.min_usd <= p.price_usd <= est.max_usd
        else Decision(p, False, "outlier", "outside the pooled MAD rule of method v1")
        for p in pts
    )
    return PriceStat(
        sku=sel.sku,
        kind=sel.kind,
        form_factor=sel.form_factor,
        market=sel.market if sel.kind == "rental_hourly" else None,
        estimate=est,
        sources=", ".join(sorted({p.source for p in kept})),
        newest_quote_date=max(p.observed_date for p in kept),
        oldest_quote_date=min(p.observed_date for p in kept),
        method=max_age.method_id(METHOD_VERSION_V1),
        decisions=decisions,
    )
