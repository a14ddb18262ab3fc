"""The price method: from a set of quotes to one defensible price, its quartiles and a count.

Computed here and nowhere else (SQL hands over the quotes, `latest_quotes(as_of)`, never a
median). Method `PRICE_METHOD` (bump the version whenever a rule or parameter changes, since
every report row stores the id it was priced with):

1. Eligible quotes: the group (SKU, form factor, kind, market) of a scenario, each source's
   latest quotes at or before the report date, and not older than the staleness window of
   their kind (`MaxAge`: rental 7 days, purchase 1,095 days by default; settings
   `CAPCOVER_PRICE_MAX_AGE_RENTAL_DAYS` / `..._PURCHASE_DAYS`).
2. Outliers: a quote is dropped when its modified z-score 0.6745 * |x - median| / MAD exceeds
   3.5 (Iglewicz & Hoaglin), MAD being the median absolute deviation from the median. When
   MAD is 0 (more than half the quotes are equal) no quote is dropped.
3. Central value: the median of the kept quotes; quartiles: the 25th and 75th percentiles of
   the kept quotes, linearly interpolated (numpy's and DuckDB's `quantile_cont` default).

Prices are USD per GPU (purchase) or per GPU-hour (rental_hourly).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, timedelta

METHOD_VERSION = "mad3.5-median-v1"
MAD_Z_LIMIT = 3.5  # modified z-score above which a quote is an outlier
MAD_SCALE = 0.6745  # the normal distribution's 0.75 quantile: makes MAD comparable to sigma
ANY_FORM_FACTOR = "any"  # a scenario that takes every form factor, unknown ones included


@dataclass(frozen=True)
class MaxAge:
    """The staleness window per quote kind, in days before the report date."""

    rental_days: int = 7
    purchase_days: int = 1095

    def days(self, kind: str) -> int:
        return self.rental_days if kind == "rental_hourly" else self.purchase_days

    def method_id(self) -> str:
        """The id stored on every priced report row: the method and its windows."""
        return f"{METHOD_VERSION}+age{self.rental_days}d/{self.purchase_days}d"


@dataclass(frozen=True)
class PriceEstimate:
    """The method's numbers for one group of quotes (USD per GPU or per GPU-hour)."""

    quote_count: int  # eligible quotes
    kept_count: int  # after the outlier rule
    central_usd: float  # median of the kept quotes
    q1_usd: float
    q3_usd: float
    min_usd: float  # of the kept quotes
    max_usd: float


def quantile(sorted_values: list[float], p: float) -> float:
    """The `p` quantile (0..1) of ascending `sorted_values`, linearly interpolated."""
    if not sorted_values:
        raise ValueError("no values")
    pos = p * (len(sorted_values) - 1)
    lo = math.floor(pos)
    hi = min(lo + 1, len(sorted_values) - 1)
    frac = pos - lo
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * frac


def median(values: list[float]) -> float:
    return quantile(sorted(values), 0.5)


def outliers_removed(values: list[float]) -> list[float]:
    """`values` ascending, without those whose modified z-score exceeds MAD_Z_LIMIT."""
    xs = sorted(values)
    mid = quantile(xs, 0.5)
    mad = median([abs(x - mid) for x in xs])
    if mad == 0:
        return xs
    return [x for x in xs if MAD_SCALE * abs(x - mid) / mad <= MAD_Z_LIMIT]


def estimate(prices: list[float]) -> PriceEstimate:
    """Count, quartiles and the robust central value of `prices` (at least one)."""
    if not prices:
        raise ValueError("no prices to estimate from")
    kept = outliers_removed(prices)
    return PriceEstimate(
        quote_count=len(prices),
        kept_count=len(kept),
        central_usd=quantile(kept, 0.5),
        q1_usd=quantile(kept, 0.25),
        q3_usd=quantile(kept, 0.75),
        min_usd=kept[0],
        max_usd=kept[-1],
    )


def fresh(observed: date, as_of: date, kind: str, max_age: MaxAge) -> bool:
    """Whether a quote observed on `observed` may price a report of `as_of`."""
    return as_of - timedelta(days=max_age.days(kind)) <= observed <= as_of
