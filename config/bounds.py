"""The range of every numeric setting, defined once.

The settings model (config/settings.py) builds its field constraints from `BOUNDS`, the lean
reader of the read-only commands (config/reader.py) checks the same ranges, and
docs/threat-model.md lists them. A value outside its range is refused at load time with one
line naming the setting (exit 2), before any network call: `HTTP_READ_TIMEOUT_S=1e308` or a
rate of 1e-9 per minute would otherwise end in a raw Python error or a silent 105-minute sleep
far from where it was set.

The ranges are generous: each upper end is far beyond any sensible use, and is there so that
every number a setting can take is one the code was written for. Importing this module loads
nothing else (the lean reader uses it).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Bound:
    """A closed range [low, high], or (low, high] with `low_open`; finite numbers only."""

    low: float
    high: float
    low_open: bool = False
    unit: str = ""

    def constraint(self) -> Any:
        """This range as an `Annotated` constraint pydantic enforces."""
        from annotated_types import Interval  # only where the settings model is built

        if self.low_open:
            return Interval(gt=self.low, le=self.high)
        return Interval(ge=self.low, le=self.high)

    def contains(self, value: float) -> bool:
        if isinstance(value, bool) or not math.isfinite(value):
            return False
        above = value > self.low if self.low_open else value >= self.low
        return above and value <= self.high

    def describe(self) -> str:
        left = "(" if self.low_open else "["
        unit = f" {self.unit}" if self.unit else ""
        return f"{left}{_number(self.low)}, {_number(self.high)}]{unit}"


def _number(value: float) -> str:
    """1,048,576 and 86,400 as such; 1e+18 and 0.01 as Python writes them."""
    if value == int(value) and abs(value) < 1e7:
        return f"{int(value):,}"
    return f"{value:g}"


_RATE = Bound(1, 1_000_000, unit="requests/minute")

# Setting name -> its range. Every int/float setting of config.settings.Settings is here
# (tests/test_settings_bounds.py checks that none is missing).
BOUNDS: dict[str, Bound] = {
    # At most one request a minute would be slower than any source needs; the token bucket
    # sleeps 60/(0.95 x rate) s before each request, so 1/min is the longest wait (63 s).
    "coingecko_rate_per_minute": _RATE,
    "vastai_rate_per_minute": _RATE,
    "runpod_rate_per_minute": _RATE,
    "gpuhunt_rate_per_minute": _RATE,
    "http_connect_timeout_s": Bound(0, 300, low_open=True, unit="s"),
    "http_read_timeout_s": Bound(0, 600, low_open=True, unit="s"),
    "http_retry_budget_s": Bound(0, 86_400, unit="s"),  # no retry outlives the day's run
    "http_deadline_s": Bound(0, 3600, low_open=True, unit="s"),
    "http_max_body_mb": Bound(0, 1024, low_open=True, unit="MB"),
    "max_clock_skew_s": Bound(0, 86_400, unit="s"),
    "price_max_age_rental_days": Bound(0, 3650, unit="days"),
    "price_max_age_purchase_days": Bound(0, 3650, unit="days"),
    "lock_budget_s": Bound(0, 3600, unit="s"),
    "alert_relative_change_pct": Bound(0, 1_000_000, low_open=True, unit="%"),
    # timedelta's range is ~2.4e10 h; 1e9 h turns the CoinGecko staleness rule off in effect
    "alert_stale_after_h": Bound(0, 1e9, low_open=True, unit="h"),
    "alert_feed_failure_days": Bound(1, 365, unit="days"),
    "publish_keep": Bound(1, 1000, unit="snapshots"),
    "sector_cap_min_usd": Bound(0, 1e18, low_open=True, unit="USD"),
    "sector_cap_max_usd": Bound(0, 1e18, low_open=True, unit="USD"),
    "max_daily_move": Bound(1, 1e6, low_open=True, unit="x"),
    # `capcover sql` (warehouse/sandbox.py): a runaway query is interrupted after this long,
    # DuckDB may use this much memory (it spills nothing to disk), and a result may have at most
    # this many rows (they are held in Python memory to be printed).
    "sql_timeout_s": Bound(0, 86_400, low_open=True, unit="s"),
    "sql_memory_limit_mb": Bound(16, 1_048_576, unit="MB"),
    "sql_max_rows": Bound(1, 100_000_000, unit="rows"),
}

# Each entry of a list setting.
ITEM_BOUNDS: dict[str, Bound] = {
    "alert_levels": Bound(0, 1e6, low_open=True, unit="(a coverage ratio)"),
}

# Scenario parameters from [[scenario]] tables (config/settings.py checks them after the
# scenario model parsed them). A GPU priced at 1e-300 USD would make an infinite ratio.
SCENARIO_BOUNDS: dict[str, Bound] = {
    "gpu_count": Bound(1, 1e9, unit="GPUs"),
    "price.unit_price_usd": Bound(0.01, 1e9, unit="USD"),
    "price.hours": Bound(0, 1e6, low_open=True, unit="h"),
    "price.multiplier": Bound(0, 1000, low_open=True, unit="x"),
}


def within(name: str) -> Any:
    """The constraint of setting `name`: `Annotated[float, within("http_read_timeout_s")]`."""
    return BOUNDS[name].constraint()


def out_of_range(name: str, value: Any) -> str | None:
    """Why `value` is not a valid number for setting `name` (None when it is)."""
    b = BOUNDS[name]
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "not a number"
    if b.contains(value):
        return None
    return f"must be within {b.describe()}"
