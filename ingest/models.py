"""Typed records parsed at the boundary: what ingest/ hands to the rest of capcover.

Field names carry their unit (`_usd`, `_pct`, `_at` in UTC). This module is ingest's public
surface: warehouse/ imports these records and nothing else of ingest/ (an import-linter
contract in pyproject.toml keeps it so)."""

from __future__ import annotations

import hashlib
import json as jsonlib
import math
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from capcover.model.tiers import TIERS


def utc_day(at: datetime) -> date:
    """The UTC calendar day of `at` (a naive time is taken as UTC, as capcover stores it)."""
    return at.astimezone(UTC).date() if at.tzinfo is not None else at.date()


class _Record(BaseModel):
    # Unknown fields are ignored here: the raw archive keeps the full payload anyway.
    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)

    @field_validator("*", mode="before")
    @classmethod
    def _no_booleans(cls, value: Any, info: ValidationInfo) -> Any:
        # Lax pydantic reads `true` as 1.0 (or as a timestamp). Only the fields declared `bool`
        # take a boolean; anywhere else it is a source error, never the number 1. (Numbers sent
        # as text, "12.5", stay accepted: the fault matrix specifies that drift as harmless.)
        if isinstance(value, bool):
            declared = cls.model_fields.get(info.field_name or "")
            if declared is None or declared.annotation is not bool:
                raise ValueError("a boolean is not a number")
        return value


def _finite_or_none(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError("not a finite number")
    return value


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Category(_Record):
    """One row of `GET /coins/categories`."""

    id: str = Field(min_length=1)
    name: str | None = None
    market_cap_usd: float | None = Field(None, ge=0, validation_alias="market_cap")
    # CoinGecko calls it market_cap_change_24h but it is a percentage.
    market_cap_change_24h_pct: float | None = Field(None, validation_alias="market_cap_change_24h")
    volume_24h_usd: float | None = Field(None, ge=0, validation_alias="volume_24h")
    top_3_coins_id: list[str] | None = None
    updated_at: datetime | None = None

    _finite = field_validator("market_cap_usd", "volume_24h_usd", "market_cap_change_24h_pct")(
        _finite_or_none
    )
    _tz = field_validator("updated_at")(_utc)


class CoinMarket(_Record):
    """One constituent coin from `GET /coins/markets` (every numeric field may be null)."""

    id: str = Field(min_length=1)
    symbol: str | None = None
    name: str | None = None
    current_price_usd: float | None = Field(None, ge=0, validation_alias="current_price")
    market_cap_usd: float | None = Field(None, ge=0, validation_alias="market_cap")
    market_cap_rank: int | None = Field(None, ge=1)
    fully_diluted_valuation_usd: float | None = Field(
        None, ge=0, validation_alias="fully_diluted_valuation"
    )
    total_volume_usd: float | None = Field(None, ge=0, validation_alias="total_volume")
    circulating_supply: float | None = Field(None, ge=0)
    total_supply: float | None = Field(None, ge=0)
    max_supply: float | None = Field(None, ge=0)
    last_updated: datetime | None = None

    _finite = field_validator(
        "current_price_usd",
        "market_cap_usd",
        "fully_diluted_valuation_usd",
        "total_volume_usd",
        "circulating_supply",
        "total_supply",
        "max_supply",
    )(_finite_or_none)
    _tz = field_validator("last_updated")(_utc)


QuoteKind = Literal["purchase", "rental_hourly", "assumption"]
FORM_FACTORS = ("SXM", "PCIe", "NVL", "OAM", "unknown")


class Quote(_Record):
    """One GPU price observation, normalised to USD per GPU (purchase) or per GPU-hour (rental).

    Every quote carries a `tier` from one taxonomy (model/tiers.py) and a `form_factor` or an
    explicit "unknown"; what the price method does with it is decided later, per report row
    (model/prices.py), from the fields here."""

    observed_at: datetime  # UTC; for dated publications, midnight UTC of the publication day
    source: str = Field(min_length=1)  # the route it came by: "vastai", "gpuhunt/aws", ...
    source_url: str | None = None
    kind: QuoteKind
    sku_label: str = Field(min_length=1)  # the label as the source wrote it
    sku: str  # normalised, e.g. "H100"; "unmapped" when the catalogue matches nothing
    form_factor: str = "unknown"  # SXM, PCIe, NVL, OAM; "unknown" when untold
    memory_gb: float | None = None
    gpu_count_basis: int = Field(1, ge=1)  # GPUs the raw price is for (8 for an 8x instance)
    price_raw: float = Field(gt=0)
    price_unit: str  # e.g. "USD/GPU", "USD/instance-hour", "cents/hour"
    currency: str = "USD"
    usd_per_unit: float = Field(1.0, gt=0)  # exchange rate used: USD per 1 unit of `currency`
    price_usd: float = Field(gt=0)  # per GPU (purchase) or per GPU-hour (rental_hourly)
    tier: str  # model/tiers.py TIERS: on_demand, spot, reserved, cluster, committed_*, purchase
    condition: str | None = None
    region: str | None = None
    note: str | None = None
    # A feed's own id for one offer (Vast.ai offer id, RunPod "gpu type|surface"); None for
    # published figures. A feed snapshot of a day replaces that source's earlier one that day.
    listing_id: str | None = None
    # Migration 050: what the tier was derived from and who sells the capacity.
    tier_label: str | None = None  # the feed's own words for the terms ("on-demand", "spot")
    provider: str = ""  # who sells it ("vastai", "runpod", "aws", ...); default: the source
    flags: tuple[str, ...] = ()  # gpuhunt's flags as published (space-separated words)
    computed_price: bool = False  # the feed computed it from another price (oci-spot)
    unavailable_reason: str | None = None  # the feed says it cannot be had now, and why
    capacity_id: str | None = None  # listings of one capacity (a Vast.ai machine) vote once
    machine_id: str | None = None  # Vast.ai machine_id
    host_id: str | None = None  # Vast.ai host_id
    instance_name: str | None = None  # the feed's instance type or GPU type id
    # The form factor price method mad3.5-median-v1 gave this offer (before the instance
    # conventions of migration 050): kept so `capcover verify` re-derives that method's rows.
    form_factor_v1: str | None = None
    # Migration 061: curated quotes: how far the curator trusts the figure; None for feeds.
    confidence: Literal["high", "medium", "low"] | None = None

    _tz = field_validator("observed_at")(_utc)
    _finite = field_validator("memory_gb", "price_raw", "usd_per_unit", "price_usd")(
        _finite_or_none
    )

    @field_validator("form_factor", mode="before")
    @classmethod
    def _unknown_form_factor(cls, value: Any) -> Any:
        value = "unknown" if value is None else value
        if value not in FORM_FACTORS:
            raise ValueError(f"form factor {value!r}: not one of {', '.join(FORM_FACTORS)}")
        return value

    @field_validator("tier")
    @classmethod
    def _known_tier(cls, value: str) -> str:
        if value not in TIERS:
            raise ValueError(f"tier {value!r}: not one of {', '.join(TIERS)}")
        return value

    @model_validator(mode="after")
    def _provider_default(self) -> Quote:
        if not self.provider:
            object.__setattr__(self, "provider", self.source)
        return self

    @property
    def observed_date(self) -> date:
        """The UTC day of `observed_at` (a time read back in another zone is converted)."""
        return utc_day(self.observed_at)


class Quarantined(_Record):
    """A single record rejected from an otherwise good payload, kept with its reason."""

    source: str
    endpoint: str
    record_key: str | None
    reason: str
    record_json: str


@dataclass(frozen=True)
class RawResponse:
    """One HTTP response exactly as received, ready for the raw archive (no secrets inside)."""

    source: str
    endpoint: str
    method: str
    url: str
    params: dict[str, Any]
    request_body: str | None
    status: int
    body: str
    fetched_at: datetime  # UTC
    elapsed_ms: float
    attempt: int
    # (run_id, seq) of the raw_http row that already holds this body: the response was not
    # fetched again (a gpuhunt catalog whose version did not change). The archive stores a
    # link to that row instead of a second copy; readers resolve it, so `body` is the body.
    same_as: tuple[str, int] | None = None

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.body.encode("utf-8")).hexdigest()

    def json(self) -> Any:
        return jsonlib.loads(self.body)


@dataclass(frozen=True)
class ChartBounds:
    """CoinGecko `/coins/{id}/market_chart`: the UTC day and the bounds of its stamps (ms since
    the epoch: 1970 to the end of year 9999, what a datetime holds) and of its values (a size
    at or beyond `max_value`, and a negative one, reads as no value: a market cap, price or
    volume below 0 is no market, as the live parser refuses it). Defined once, here, for both
    readers of a
    chart: ingest/history.py (the parser, which defines the day rules) and
    warehouse/history.py (the bulk path that applies the same rules in DuckDB)."""

    day_ms: int = 86_400_000
    min_ms: int = 0
    max_ms: int = 253_402_300_799_000
    max_value: float = 1e300


CHART = ChartBounds()


@dataclass(frozen=True)
class HistoryPoint:
    """One coin on one UTC day (values at `point_at`, normally 00:00 UTC). Amounts in USD."""

    coin_id: str
    day: date
    point_at: datetime  # UTC
    market_cap_usd: float | None  # 0 kept as reported: CoinGecko's "no cap known"
    price_usd: float | None
    volume_24h_usd: float | None


@dataclass
class SectorSnapshot:
    """What one daily CoinGecko pull found: categories, their constituents, and the rejects."""

    categories: list[Category]
    constituents: dict[str, list[CoinMarket]]  # category id -> de-duplicated coins
    quarantined: list[Quarantined] = field(default_factory=list)
    duplicates_dropped: int = 0
    fetched_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    # How each category's paging ended, when not on an empty page (a shortfall to name).
    paging_notes: list[str] = field(default_factory=list)

    @property
    def as_of(self) -> datetime:
        """The source's own timestamp: the oldest `updated_at` of the configured categories."""
        return min(c.updated_at for c in self.categories if c.updated_at is not None)

    @property
    def as_of_date(self) -> date:
        return self.as_of.date()
