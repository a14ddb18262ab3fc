"""Every setting's name, built-in default and range: the one table.

The settings model (config/settings.py, a pydantic model) takes each field's default and, for
a number, its range from here and adds its type; the read-only commands' lean reader
(config/reader.py) and the name checks of config/sources.py read the same table without loading
pydantic, and docs/threat-model.md lists the ranges (tests/test_threat_model_doc.py checks it).
The order is the model's field order (pydantic validates in it, so the first bad value it names
is the first of these); tests/test_readers_lean.py fails when the model and this table part.

A number outside its range is refused at load time with one line naming the setting (exit 2),
before any network call: `HTTP_READ_TIMEOUT_S=1e308` or a rate of 1e-9 per minute would
otherwise end in a raw Python error or a silent 105-minute sleep far from where it was set. The
ranges are generous: each upper end is far beyond any sensible use, and is there so that every
number a setting can take is one the code was written for (config/bounds.py says what a range
is).

Lists are tuples here (a default is shared by every Settings object); the model hands out a
fresh list. `CAPCOVER_<NAME>` is each name's environment variable; in the CAPCOVER_CONFIG file
the name itself is the key.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Literal

from capcover.config.bounds import Bound

# The closed sets some settings choose from (the settings model types its fields with them).
Plan = Literal["public", "demo", "pro"]
AlertRule = Literal["threshold_crossed", "relative_change", "stale_data"]


def _ranged(default: Any, bound: Bound) -> Any:
    """A numeric setting's default with its range."""
    return field(default=default, metadata={"bound": bound})


# At least one request a minute: the token bucket sleeps 60/(0.95 x rate) s before each
# request, so 1/min is the longest wait (63 s); the benchmarks' fake runs at 600,000/min.
_RATE = Bound(1, 1_000_000, unit="requests/minute")

# Scenario parameters from the file's [[scenario]] tables (config/settings.py checks them after
# the scenario model parsed them). A GPU priced at 1e-300 USD would make an infinite ratio.
SCENARIO_BOUNDS: dict[str, Bound] = {
    "gpu_count": Bound(1, 1e9, unit="GPUs"),
    "price.unit_price_usd": Bound(0.01, 1e9, unit="USD"),
    "price.hours": Bound(0, 1e6, low_open=True, unit="h"),
    "price.multiplier": Bound(0, 1000, low_open=True, unit="x"),
}


@dataclass(frozen=True)
class Defaults:
    """The built-in value of every setting (units in the names: `_s` seconds, `_usd` US
    dollars, `_days`, `_h` hours, `_mb` megabytes, `_pct` percent), with the range of each
    number."""

    db: Path = Path("data/capcover.duckdb")
    config: Path | None = None
    categories: tuple[str, ...] = ("artificial-intelligence",)

    coingecko_plan: Plan = "public"
    coingecko_base_url: str | None = None  # None: the plan's root
    coingecko_api_key: None = None  # no key
    coingecko_rate_per_minute: float | None = _ranged(None, _RATE)  # None: the plan's limit

    http_connect_timeout_s: float = _ranged(5.0, Bound(0, 300, low_open=True, unit="s"))
    http_read_timeout_s: float = _ranged(30.0, Bound(0, 600, low_open=True, unit="s"))
    # no retry outlives the day's run
    http_retry_budget_s: float = _ranged(120.0, Bound(0, 86_400, unit="s"))
    http_deadline_s: float = _ranged(60.0, Bound(0, 3600, low_open=True, unit="s"))
    http_max_body_mb: float = _ranged(50.0, Bound(0, 1024, low_open=True, unit="MB"))
    max_clock_skew_s: float = _ranged(600.0, Bound(0, 86_400, unit="s"))

    quotes_file: Path | None = None  # None: <db stem>-quotes.toml beside the warehouse
    # The feeds' own roots, limits and names (ingest/vastai.py, runpod.py, gpuhunt.py use these):
    vastai_base_url: str = "https://console.vast.ai"
    vastai_gpu_names: tuple[str, ...] = (
        "H100 SXM",
        "H100 PCIE",
        "H100 NVL",
        "H200",
        "H200 NVL",
        "B200",
    )
    # Client-side limits; None: the source's documented pace (ingest/ratelimit.py Pace, one
    # per module: Vast.ai 30/min spread, none for RunPod and the gpuhunt bucket).
    vastai_rate_per_minute: float | None = _ranged(None, _RATE)
    runpod_base_url: str = "https://api.runpod.io"
    runpod_rate_per_minute: float | None = _ranged(None, _RATE)
    gpuhunt_base_url: str = "https://dstack-gpu-pricing.s3.eu-west-1.amazonaws.com/v3"
    # those gpuhunt publishes offline: all of them
    gpuhunt_providers: tuple[str, ...] = (
        "aws",
        "azure",
        "verda",
        "gcp",
        "lambdalabs",
        "nebius",
        "oci",
        "runpod",
        "cloudrift",
    )
    gpuhunt_rate_per_minute: float | None = _ranged(None, _RATE)
    price_max_age_rental_days: int = _ranged(7, Bound(0, 3650, unit="days"))
    price_max_age_purchase_days: int = _ranged(1095, Bound(0, 3650, unit="days"))

    lock_budget_s: float = _ranged(30.0, Bound(0, 3600, unit="s"))

    alert_urls: tuple[str, ...] = ()
    alert_scenarios: tuple[str, ...] = ("h100-purchase", "coindesk-2024")
    alert_rules: tuple[AlertRule, ...] = ("threshold_crossed", "relative_change", "stale_data")
    # the range is each entry's (a coverage ratio)
    alert_levels: tuple[float, ...] = field(
        default=(1.0,),
        metadata={"item_bound": Bound(0, 1e6, low_open=True, unit="(a coverage ratio)")},
    )
    alert_relative_change_pct: float = _ranged(10.0, Bound(0, 1_000_000, low_open=True, unit="%"))
    # timedelta's range is ~2.4e10 h; 1e9 h turns the CoinGecko staleness rule off in effect
    alert_stale_after_h: float = _ranged(36.0, Bound(0, 1e9, low_open=True, unit="h"))
    alert_feed_failure_days: int = _ranged(2, Bound(1, 365, unit="days"))
    # a receiver's whole exchange for one message
    alert_timeout_s: float = _ranged(10.0, Bound(0, 300, low_open=True, unit="s"))

    schedule_cron: str = "20 0 * * *"
    schedule_timezone: str = "UTC"
    publish_dir: Path | None = None  # None: published/ beside the warehouse
    publish_keep: int = _ranged(7, Bound(1, 1000, unit="snapshots"))

    sector_cap_min_usd: float = _ranged(1e6, Bound(0, 1e18, low_open=True, unit="USD"))
    sector_cap_max_usd: float = _ranged(1e14, Bound(0, 1e18, low_open=True, unit="USD"))
    max_daily_move: float = _ranged(10.0, Bound(1, 1e6, low_open=True, unit="x"))

    # `capcover sql` (warehouse/sandbox.py): a runaway query is interrupted after this long,
    # DuckDB may use this much memory (it spills nothing to disk), and a result may have at most
    # this many rows (they are held in Python memory to be printed, within the same MB). The
    # timeout stays below lock_budget_s: a query holds the warehouse's read lock, and a run
    # that waits the whole lock budget for it must still get the file.
    sql_timeout_s: float = _ranged(25.0, Bound(0, 86_400, low_open=True, unit="s"))
    sql_memory_limit_mb: int = _ranged(1024, Bound(16, 1_048_576, unit="MB"))
    sql_max_rows: int = _ranged(1_000_000, Bound(1, 100_000_000, unit="rows"))

    # only from the file: [[scenario]] tables, their numbers within SCENARIO_BOUNDS
    scenario: tuple[dict[str, object], ...] = ()


DEFAULTS = Defaults()
SETTING_NAMES: tuple[str, ...] = tuple(f.name for f in fields(Defaults))

# Setting name -> the range of its number (every int/float setting of the model;
# tests/test_settings_bounds.py checks that none is missing), and of each entry of a list.
BOUNDS: dict[str, Bound] = {
    f.name: f.metadata["bound"] for f in fields(Defaults) if f.metadata.get("bound")
}
ITEM_BOUNDS: dict[str, Bound] = {
    f.name: f.metadata["item_bound"] for f in fields(Defaults) if f.metadata.get("item_bound")
}
