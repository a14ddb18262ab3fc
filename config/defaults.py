"""Every setting's name and built-in default: the one table.

The settings model (config/settings.py, a pydantic model) takes each field's default from here
and adds its type and bounds; the read-only commands' lean reader (config/reader.py) and the
name checks of config/sources.py read the same table without loading pydantic. The order is the
model's field order (pydantic validates in it, so the first bad value it names is the first of
these); tests/test_readers_lean.py fails when the model and this table part.

Lists are tuples here (a default is shared by every Settings object); the model hands out a
fresh list. `CAPCOVER_<NAME>` is each name's environment variable; in the CAPCOVER_CONFIG file
the name itself is the key.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path
from typing import Literal

# The closed sets some settings choose from (the settings model types its fields with them).
Plan = Literal["public", "demo", "pro"]
AlertRule = Literal["threshold_crossed", "relative_change", "stale_data"]


@dataclass(frozen=True)
class Defaults:
    """The built-in value of every setting (units in the names: `_s` seconds, `_usd` US
    dollars, `_days`, `_h` hours, `_mb` megabytes, `_pct` percent)."""

    db: Path = Path("data/capcover.duckdb")
    config: Path | None = None
    categories: tuple[str, ...] = ("artificial-intelligence",)

    coingecko_plan: Plan = "public"
    coingecko_base_url: str | None = None  # None: the plan's root
    coingecko_api_key: None = None  # no key
    coingecko_rate_per_minute: float | None = None  # None: the plan's limit

    http_connect_timeout_s: float = 5.0
    http_read_timeout_s: float = 30.0
    http_retry_budget_s: float = 120.0
    http_deadline_s: float = 60.0
    http_max_body_mb: float = 50.0
    max_clock_skew_s: float = 600.0

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
    vastai_rate_per_minute: float | None = None
    runpod_base_url: str = "https://api.runpod.io"
    runpod_rate_per_minute: float | None = None
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
    gpuhunt_rate_per_minute: float | None = None
    price_max_age_rental_days: int = 7
    price_max_age_purchase_days: int = 1095

    lock_budget_s: float = 30.0

    alert_urls: tuple[str, ...] = ()
    alert_scenarios: tuple[str, ...] = ("h100-purchase", "coindesk-2024")
    alert_rules: tuple[AlertRule, ...] = ("threshold_crossed", "relative_change", "stale_data")
    alert_levels: tuple[float, ...] = (1.0,)
    alert_relative_change_pct: float = 10.0
    alert_stale_after_h: float = 36.0
    alert_feed_failure_days: int = 2
    alert_timeout_s: float = 10.0  # a receiver's whole exchange for one message

    schedule_cron: str = "20 0 * * *"
    schedule_timezone: str = "UTC"
    publish_dir: Path | None = None  # None: published/ beside the warehouse
    publish_keep: int = 7

    sector_cap_min_usd: float = 1e6
    sector_cap_max_usd: float = 1e14
    max_daily_move: float = 10.0

    scenario: tuple[dict[str, object], ...] = ()  # only from the file: [[scenario]] tables


DEFAULTS = Defaults()
SETTING_NAMES: tuple[str, ...] = tuple(f.name for f in fields(Defaults))
