"""The one taxonomy of price tiers every quote carries (docs/methodology.md, "Tiers").

A tier says what a price buys: on-demand use, a spot or interruptible slot, a reservation, a
cluster, a committed term, or a purchase. Each feed's parser derives it from the feed's own
fields (Vast.ai `is_bid`, RunPod's price fields, gpuhunt's `spot` and `flags`); a feed that says
something this taxonomy does not know gets `unknown`, which never prices anything.

A scenario's `market` (on_demand | spot | a committed term) is a view of this taxonomy:
`tiers_of_market` is the only mapping between the two, and MARKETS the only list of market
names (a committed term is its own market, so a contract price never mixes with list prices).
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
# list (a bid floor is not what a renter is sure to pay), so no market selects them; each
# committed term is a market of its own (a contract price, e.g. a curated 1-year index).
_MARKET_TIERS: dict[str, tuple[str, ...]] = {
    "on_demand": ("on_demand",),
    "spot": ("spot",),
    **{term: (term,) for term in COMMITTED_TIERS.values()},
}
# The markets a rental scenario may name (model/scenarios.py `Market` equals it, tested).
MARKETS: tuple[str, ...] = tuple(_MARKET_TIERS)


def tiers_of_market(market: str | None) -> tuple[str, ...]:
    """The tiers a rental scenario's `market` prices with (none for an unknown market)."""
    return _MARKET_TIERS.get(market or "", ())


def market_of(tier: str | None) -> str | None:
    """The market a tier belongs to (`gpu_quotes.market`): on_demand, spot, a committed term,
    or None for tiers no market selects (reserved, cluster, bids, purchases, unknown)."""
    for market, tiers in _MARKET_TIERS.items():
        if tier in tiers:
            return market
    return None


def label_words(label: str | None) -> str:
    """A human-written tier label as tier_from_label reads it: trimmed, lower case, `-` and
    spaces as `_` ("Committed-1y" -> "committed_1y")."""
    return (label or "").strip().lower().replace("-", "_").replace(" ", "_")


def tier_from_label(label: str | None, *, kind: str) -> str:
    """A tier from a human-written label (a curated file's `tier`): "spot"/"interruptible"/
    "preemptible" words mean spot (a published figure is a provider's preemptible price list,
    never a marketplace bid: the taxonomy's `interruptible` is Vast.ai's bids only); otherwise
    a taxonomy value as is; no label means on-demand for a rental (a list price entered by
    hand) and purchase for a purchase; anything else is unknown."""
    if kind != "rental_hourly":
        return "purchase"
    text = label_words(label)
    if not text:
        return "on_demand"
    if any(word in text for word in ("spot", "interruptible", "preemptible")):
        return "spot"
    if text in TIERS:
        return text
    if "on_demand" in text or text in ("ondemand", "list", "list_price"):
        return "on_demand"
    return "unknown"
