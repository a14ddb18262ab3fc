"""Scenario definitions: which GPUs, how many, and where the unit price comes from.

A scenario names its GPU count directly (`gpu_count`) or as compute (`compute`: N GPUs of a
reference chip, bought as the scenario's SKU; the count follows from the throughput table,
model/throughput.toml). Its unit price is a fixed figure, the price method's purchase price or a
rental price times hours, optionally with running costs (`costs`: power and hosting over years)
on top of a purchase: the total-cost scenario.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from capcover.model.throughput import (
    DEFAULT_METRIC,
    DEFAULT_REFERENCE,
    Metric,
    ThroughputTable,
    equivalent_count,
)

# Data, not code: read by the configuration loader in config/settings.py.
BUILTIN_SCENARIOS_PATH = Path(__file__).parent / "scenarios.toml"

PriceKind = Literal["fixed", "purchase", "rental_hourly"]
# The rental market a scenario prices with: model/tiers.py MARKETS, the one taxonomy's view
# (a Literal for pydantic's message; a test keeps the two equal).
Market = Literal[
    "on_demand",
    "spot",
    "committed_1m",
    "committed_3m",
    "committed_6m",
    "committed_1y",
]
HOURS_PER_YEAR = 8_760


class _Strict(BaseModel):
    # No inf/nan: `unit_price_usd = inf` would make every ratio 0 without a word. Strict
    # types: a TOML string ("720000") or boolean where a number belongs is the wrong type and
    # refused, never coerced (docs/usage.md); an integer still reads as a float.
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False, strict=True)


class PriceRule(_Strict):
    kind: PriceKind
    unit_price_usd: float | None = Field(None, gt=0)  # only for "fixed"
    hours: float = Field(1.0, gt=0)  # rental: GPU-hours per GPU (8,760 for a year)
    multiplier: float = Field(1.0, gt=0)  # e.g. datacentre overhead for an all-in price

    @model_validator(mode="after")
    def _fixed_needs_price(self) -> PriceRule:
        if self.kind == "fixed" and self.unit_price_usd is None:
            raise ValueError("a fixed price needs unit_price_usd")
        if self.kind != "fixed" and self.unit_price_usd is not None:
            raise ValueError(f"unit_price_usd is only for kind 'fixed', not '{self.kind}'")
        return self

    @property
    def quote_kind(self) -> str | None:
        return None if self.kind == "fixed" else self.kind

    def describe(self) -> str:
        if self.kind == "fixed":
            base = f"fixed ${self.unit_price_usd:,.0f}"
        elif self.kind == "purchase":
            base = "median purchase quote"
        else:
            base = f"median rental quote x {self.hours:,.0f} h"
        return base if self.multiplier == 1.0 else f"{base} x {self.multiplier:g}"


class ComputeSpec(_Strict):
    """What a user writes: `equivalents` GPUs of `reference` compute, bought as `chip` (a
    throughput-table chip of the scenario's SKU; default: the SKU's only chip there)."""

    equivalents: int = Field(gt=0)
    reference: str = DEFAULT_REFERENCE
    chip: str | None = None
    metric: Metric = DEFAULT_METRIC


class ComputeEquivalent(_Strict):
    """A resolved compute spec: the figures the count was made from, stored on report rows."""

    equivalents: int = Field(gt=0)
    reference: str
    chip: str
    metric: Metric
    reference_tflops: float = Field(gt=0)
    chip_tflops: float = Field(gt=0)
    table_version: int = Field(ge=1)

    @property
    def gpu_count(self) -> int:
        return equivalent_count(self.equivalents, self.reference_tflops, self.chip_tflops)


def resolve_compute(spec: ComputeSpec, gpu_sku: str, table: ThroughputTable) -> ComputeEquivalent:
    """The spec against the table; ValueError says which field and what the table has."""
    if spec.chip is not None:
        chip = table.get(spec.chip)
        if chip.sku.casefold() != gpu_sku.casefold():
            raise ValueError(f"chip {chip.id!r} is a {chip.sku}, not the scenario's {gpu_sku}")
    else:
        chips = table.for_sku(gpu_sku)
        if len(chips) != 1:
            have = ", ".join(c.id for c in chips) or "none"
            raise ValueError(
                f"name the chip: throughput table v{table.version} has {len(chips)} "
                f"{gpu_sku} chip(s) ({have})"
            )
        chip = chips[0]
    return ComputeEquivalent(
        equivalents=spec.equivalents,
        reference=table.get(spec.reference).id,
        chip=chip.id,
        metric=spec.metric,
        reference_tflops=table.tflops(spec.reference, spec.metric),
        chip_tflops=table.tflops(chip.id, spec.metric),
        table_version=table.version,
    )


class RunningCosts(_Strict):
    """Power and hosting per GPU over `years`, added to a purchase price (total cost).

    Power: years x 8,760 h x watts/1000 kW x PUE x USD per kWh (the facility's draw, IT load
    times PUE). Hosting: years x 12 months x watts/1000 kW x USD per kW-month (colocation is
    priced per kW of IT load; electricity billed apart). All amounts USD per GPU."""

    years: float = Field(gt=0, le=30)
    watts_per_gpu: float = Field(gt=0, le=10_000)
    pue: float = Field(ge=1.0, le=5.0)
    usd_per_kwh: float = Field(gt=0, le=10.0)
    hosting_usd_per_kw_month: float = Field(ge=0, le=100_000)

    @property
    def kw(self) -> float:
        return self.watts_per_gpu / 1000

    def power_usd(self) -> float:
        return self.years * HOURS_PER_YEAR * self.kw * self.pue * self.usd_per_kwh

    def hosting_usd(self) -> float:
        return self.years * 12 * self.kw * self.hosting_usd_per_kw_month

    def total_usd(self) -> float:
        return self.power_usd() + self.hosting_usd()


class Scenario(_Strict):
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]*$")
    description: str = ""
    gpu_sku: str = Field(min_length=1)
    gpu_count: int = Field(gt=0)
    price: PriceRule
    # What the quote price buys (model/prices.py groups quotes the same way): a form factor
    # (SXM, PCIe, NVL, OAM, or "any" for every one, unknown included; default SXM for H100,
    # the datacentre part, else "any") and, for rentals, the market.
    form_factor: Literal["SXM", "PCIe", "NVL", "OAM", "any"] = "any"
    market: Market = "on_demand"
    # Purchases: new parts only (default), used/refurbished only, or any. A quote counts as
    # used when its condition says used, refurbished or second-hand.
    condition: Literal["new", "used", "any"] = "new"
    # The staleness window for this scenario's quotes, in days; None: the settings' window
    # for its kind. A monthly contract index needs months, not the 7 days of a live offer.
    max_age_days: int | None = Field(None, gt=0, le=3650)
    compute: ComputeEquivalent | None = None  # set by parse_scenarios from a `compute` table
    costs: RunningCosts | None = None

    @model_validator(mode="before")
    @classmethod
    def _default_form_factor(cls, data: object) -> object:
        if isinstance(data, dict) and data.get("form_factor") is None:
            sku = str(data.get("gpu_sku", "")).upper()
            data = {**data, "form_factor": "SXM" if sku == "H100" else "any"}
        return data

    @model_validator(mode="after")
    def _consistent(self) -> Scenario:
        if self.costs is not None and self.price.kind == "rental_hourly":
            raise ValueError(
                "costs (power and hosting) are for bought GPUs: a rental price already "
                "includes them"
            )
        # A value other than the default is refused where it would be ignored (the default
        # itself is what every recorded definition holds: model_dump writes every field).
        if self.market != "on_demand" and self.price.kind != "rental_hourly":
            raise ValueError(
                f"market is for rentals (on_demand, spot, committed_…): a {self.price.kind} "
                "price has none; remove it"
            )
        if self.condition != "new" and self.price.kind != "purchase":
            raise ValueError(
                f"condition (new, used, any) is for purchases: a {self.price.kind} price has "
                "none; remove it"
            )
        if self.compute is not None and self.compute.gpu_count != self.gpu_count:
            raise ValueError(
                f"gpu_count {self.gpu_count} does not follow from compute "
                f"({self.compute.gpu_count}); give one of them"
            )
        return self

    def unit_price(self, quote_price_usd: float | None) -> float:
        """Full unit cost per GPU given the quote median (ignored for fixed prices)."""
        return self.capex(quote_price_usd) + (self.costs.total_usd() if self.costs else 0.0)

    def capex(self, quote_price_usd: float | None) -> float:
        """The price part of the unit cost (purchase or rent, times the multiplier), USD."""
        if self.price.kind == "fixed":
            if self.price.unit_price_usd is None:
                raise ValueError(f"scenario {self.name}: fixed price without unit_price_usd")
            base = self.price.unit_price_usd
        else:
            if quote_price_usd is None:
                raise ValueError(f"scenario {self.name}: no {self.price.kind} quote")
            base = quote_price_usd * self.price.hours
        return base * self.price.multiplier

    def describe_price(self) -> str:
        """The price rule in words, running costs included (report_daily.price_basis)."""
        base = self.price.describe()
        if self.costs is None:
            return base
        return f"{base} + {self.costs.years:g} y power and hosting"


def _entry_error(where: str, entry: object, i: int, loc: str, msg: str) -> ValueError:
    name = entry.get("name", f"#{i}") if isinstance(entry, dict) else f"#{i}"
    if not (isinstance(name, str) and name.isprintable() and len(name) <= 60):
        name = repr(name)[:60]  # the message stays one short line
    return ValueError(f"{where}: scenario {name}: {loc}: {msg}")


def _resolved(entry: dict, table: ThroughputTable | None) -> dict:
    """`entry` with a `compute` table resolved against `table` (gpu_count filled in)."""
    if "compute" not in entry or entry["compute"] is None:
        return entry
    if "gpu_count" in entry:
        raise ValueError("gpu_count: give gpu_count or compute, not both")
    if table is None:
        raise ValueError("compute: no throughput table given")
    spec = ComputeSpec.model_validate(entry["compute"])
    try:
        resolved = resolve_compute(spec, str(entry.get("gpu_sku", "")), table)
    except ValueError as exc:
        raise ValueError(f"compute: {exc}") from None
    try:
        count = resolved.gpu_count
    except ValueError as exc:
        raise ValueError(f"compute.equivalents: {exc}") from None
    return {**entry, "compute": resolved, "gpu_count": count}


def parse_scenarios(
    entries: list[dict], *, where: str, throughput: ThroughputTable | None = None
) -> list[Scenario]:
    """Validate `[[scenario]]` tables; a bad one raises ValueError naming it and the field.

    A `compute` table is resolved against `throughput` (model/throughput.toml). Two tables
    with the same name in one file are an error (which one was meant?); replacing a built-in
    by name is what `merge_scenarios` does and stays allowed."""
    out: list[Scenario] = []
    seen: dict[str, int] = {}
    for i, entry in enumerate(entries, start=1):
        try:
            if not isinstance(entry, dict):
                raise TypeError(f"not a table: {type(entry).__name__}")
            scenario = Scenario.model_validate(_resolved(entry, throughput))
        except ValidationError as exc:
            err = exc.errors()[0]
            loc = ".".join(str(p) for p in err["loc"])
            prefix = "compute." if "compute" in entry and _is_spec_error(exc) else ""
            raise _entry_error(where, entry, i, prefix + loc, err["msg"]) from None
        except (ValueError, TypeError) as exc:
            loc, _, msg = str(exc).partition(": ")
            raise _entry_error(where, entry, i, loc, msg or loc) from None
        if scenario.name in seen:
            raise ValueError(
                f"{where}: scenario {scenario.name}: defined twice ([[scenario]] "
                f"#{seen[scenario.name]} and #{i}); give each a unique name"
            )
        seen[scenario.name] = i
        out.append(scenario)
    return out


def _is_spec_error(exc: ValidationError) -> bool:
    return exc.title == ComputeSpec.__name__


def merge_scenarios(builtin: list[Scenario], user: list[Scenario]) -> list[Scenario]:
    """Built-ins first, in file order; a user scenario with the same name replaces the built-in."""
    merged = {s.name: s for s in builtin}
    for s in user:
        merged[s.name] = s
    return list(merged.values())
