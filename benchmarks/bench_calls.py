"""Part 3 — API calls per daily run, counted by the fake servers, against the minimum
(1 categories call + ceil(n/250) pages and the empty page that ends them per category + one call
per HTTP quote feed + a version file per gpuhunt provider, and its catalog when the version
changed) and against the naive approach (one call per coin). The empty page is part of the
minimum: a page shorter than 250 is never taken for the last (CoinGecko has answered 50 rows
per page, docs/methodology.md). Counted on a day after the first (the warehouse holds the
catalogs, whose versions did not change), as every later daily run is."""

from __future__ import annotations

import math
import tempfile
from pathlib import Path

from benchmarks.common import GPUHUNT_PREFIX, Figure, capcover_settings
from capcover.fakeapi.coingecko import CoinGecko, category_ids

# name -> coins per category. 260 is the AI sector today (2 pages); 500 is an exact multiple of
# the page size; ten categories show the per-category cost.
CONFIGS = {
    "AI sector (1 category, 260 coins)": [260],
    "exact pages (1 category, 500 coins)": [500],
    "10 categories x 260 coins": [260] * 10,
}


def run(configs: dict[str, list[int]] | None = None) -> list[Figure]:
    from capcover.flows.sequence import run_daily

    figures = []
    for label, sizes in (configs or CONFIGS).items():
        cats = dict(zip(category_ids(len(sizes)), sizes, strict=True))
        with (
            tempfile.TemporaryDirectory(prefix="capcover-bench-calls-") as tmp,
            CoinGecko.generated(cats) as fake,
        ):
            settings = capcover_settings(fake, Path(tmp) / "capcover.duckdb")
            run_daily(settings)  # the first day fetches every catalog
            fake.clear_log()
            run_daily(settings)
            cg = fake.coingecko_requests()
            feeds = fake.requests["/api/v0/bundles/"] + fake.requests["/graphql"]
            feed_sources = int(fake.requests["/api/v0/bundles/"] > 0) + int(
                fake.requests["/graphql"] > 0
            )
            # gpuhunt: a version file per provider, and a catalog only for a changed version.
            hunt = sum(v for k, v in fake.requests.items() if k.startswith(GPUHUNT_PREFIX))
            hunt_min = len(
                {
                    k.split("/")[2]
                    for k, v in fake.requests.items()
                    if k.startswith(GPUHUNT_PREFIX) and v
                }
            )
            pages = sum(math.ceil(n / 250) + 1 for n in sizes)
            minimum = 1 + pages + feed_sources + hunt_min
            naive = 1 + sum(sizes) + feed_sources + hunt_min
            total = cg + feeds + hunt
            extra = {
                "coingecko_calls": cg,
                "quote_feed_calls": feeds,
                "gpuhunt_calls": hunt,
                "gpuhunt_minimum_calls": hunt_min,
                "quote_feeds": feed_sources,
                "market_pages_minimum": pages,
                "market_pages_fetched": fake.requests["/api/v3/coins/markets"],
                "naive_calls": naive,
                "minimum_calls": minimum,
            }
            figures.append(
                Figure(
                    "calls",
                    f"CoinGecko calls per daily run vs minimum: {label}",
                    cg,
                    "calls",
                    "minimum: 1 + ceil(n/250) + 1 (the empty page) per category",
                    1 + pages,
                    extra=extra,
                )
            )
            figures.append(
                Figure(
                    "calls",
                    f"API calls per daily run vs minimum: {label}",
                    total,
                    "calls",
                    "minimum: 1 + ceil(n/250) + 1 per category + 1 per HTTP quote feed"
                    " + 1 per gpuhunt provider (its version; catalogs unchanged)",
                    minimum,
                    extra=extra,
                )
            )
            figures.append(
                Figure(
                    "calls",
                    f"API calls per daily run vs naive: {label}",
                    total,
                    "calls",
                    "naive: 1 + one call per coin + the same feeds",
                    naive,
                    extra=extra,
                )
            )
    return figures
