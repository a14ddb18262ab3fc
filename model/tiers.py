"""The one taxonomy of price tiers every quote carries (docs/methodology.md, "Tiers").

A tier says what a price buys: on-demand use, a spot or interruptible slot, a reservation, a
cluster, a committed term, or a purchase. Each feed's parser derives it from the feed's own
fields (Vast.ai `is_bid`, RunPod's price fields, gpuhunt's `spot` and `flags`); a feed that says
something this taxonomy does not know gets `unknown`, which never prices anything.

A scenario's `market` (on_demand | spot) is a view of this taxonomy: `tiers_of_market` is the
only mapping between the two.
"""

from __future__ import annotations

from typing import Literal

Tier = Literal[
    "on_demand",  # a list price anyone can rent now, by the hour, without commitment
    "spot",  # a provider's preemptible price list (AWS/GCP/Azure spot, RunPod spot, ...)
    "interruptible",  # a bid: the renter names the price and may be outbid (Vast.ai bids)
    "reserved",  # capacity booked for a fixed future window (GCP DWS calendar mode)
    "cluster",  # a multi-node cluster price (RunPod clusters), not a single-node rental
    "committed_1m",  # a price for a one-month commitment
    "committed_3m",
    "committed_6m",
    "committed_1y",
    "purchase",  # a purchase price (USD per GPU), not a rental
    "unknown",  # the feed said something this taxonomy does not know: never guessed
]

TIERS: tuple[str, ...] = (
    "on_demand",
    "spot",
    "interruptible",
    "reserved",
    "cluster",
    "committed_1m",
    "committed_3m",
    "committed_6m",
    "committed_1y",
    "purchase",
    "unknown",
)
COMMITTED_TIERS: dict[int, str] = {
    1: "committed_1m",
    3: "committed_3m",
    6: "committed_6m",
    12: "committed_1y",
}

# A scenario's market selects exactly these tiers. Interruptible bids are not a spot price
# list (a bid floor is not what a renter is sure to pay), so no market selects them.
_MARKET_TIERS: dict[str, tuple[str, ...]] = {"on_demand": ("on_demand",), "spot": ("spot",)}


def tiers_of_market(market: str | None) -> tuple[str, ...]:
    """The tiers a rental scenario's `market` prices with (none for an unknown market)."""
    return _MARKET_TIERS.get(market or "", ())


def market_of(tier: str | None) -> str | None:
    """The market a tier belongs to (`gpu_quotes.market`): on_demand, spot, or None for tiers no
    market selects (reserved, cluster, committed terms, bids, purchases, unknown)."""
    for market, tiers in _MARKET_TIERS.items():
        if tier in tiers:
            return market
    return None


def tier_from_label(label: str | None, *, kind: str) -> str:
    """A tier from a human-written label (a curated file's `tier`): a taxonomy value as is;
    otherwise "spot"/"interruptible" words mean spot, no label means on-demand for a rental
    (a list price entered by hand) and purchase for a purchase; anything else is unknown."""
    if kind != "rental_hourly":
        return "purchase"
    text = (label or "").strip().lower().replace("-", "_").replace(" ", "_")
    if not text:
        return "on_demand"
    if text in TIERS:
        return text
    if "spot" in text or "interruptible" in text:
        return "spot"
    if "on_demand" in text or text in ("ondemand", "list", "list_price"):
        return "on_demand"
    return "unknown"
