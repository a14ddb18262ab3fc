"""The rental markets a quote can belong to and a scenario can price with: one vocabulary.

on_demand and spot come from the feeds; a committed term (a contract price: a curated index,
a feed's monthly price) is its own market, so a contract price never mixes with list prices.
Plain tuples, no imports: read by ingest/ (the curated schema), warehouse/ (a quote's market)
and model/scenarios.py alike.
"""

from __future__ import annotations

COMMITTED_MARKETS: tuple[str, ...] = (
    "committed_1m",
    "committed_3m",
    "committed_6m",
    "committed_1y",
    "committed_3y",
)
RENTAL_MARKETS: tuple[str, ...] = ("on_demand", "spot", *COMMITTED_MARKETS)
