"""Scenario definitions: which GPUs, how many, and where the unit price comes from."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

# Data, not code: read by the configuration loader in config/settings.py.
BUILTIN_SCENARIOS_PATH = Path(__file__).parent / "scenarios.toml"

PriceKind = Literal["fixed", "purchase", "rental_hourly"]


class PriceRule(BaseModel):
    # No inf/nan: `unit_price_usd = inf` would make every ratio 0 without a word.
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

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


class Scenario(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]*$")
    description: str = ""
    gpu_sku: str = Field(min_length=1)
    gpu_count: int = Field(gt=0)
    price: PriceRule
    # What the quote price buys (model/prices.py groups quotes the same way): a form factor
    # (SXM, PCIe, NVL, OAM, or "any" for every one, unknown included; default SXM for H100,
    # the datacentre part, else "any") and, for rentals, the market.
    form_factor: Literal["SXM", "PCIe", "NVL", "OAM", "any"] = "any"
    market: Literal["on_demand", "spot"] = "on_demand"

    @model_validator(mode="before")
    @classmethod
    def _default_form_factor(cls, data: object) -> object:
        if isinstance(data, dict) and data.get("form_factor") is None:
            sku = str(data.get("gpu_sku", "")).upper()
            data = {**data, "form_factor": "SXM" if sku == "H100" else "any"}
        return data

    def unit_price(self, quote_price_usd: float | None) -> float:
        """Full unit cost per GPU given the quote median (ignored for fixed prices)."""
        if self.price.kind == "fixed":
            if self.price.unit_price_usd is None:
                raise ValueError(f"scenario {self.name}: fixed price without unit_price_usd")
            base = self.price.unit_price_usd
        else:
            if quote_price_usd is None:
                raise ValueError(f"scenario {self.name}: no {self.price.kind} quote")
            base = quote_price_usd * self.price.hours
        return base * self.price.multiplier


def parse_scenarios(entries: list[dict], *, where: str) -> list[Scenario]:
    """Validate `[[scenario]]` tables; a bad one raises ValueError naming it and the field.

    Two tables with the same name in one file are an error (which one was meant?); replacing a
    built-in by name is what `merge_scenarios` does and stays allowed."""
    out: list[Scenario] = []
    seen: dict[str, int] = {}
    for i, entry in enumerate(entries, start=1):
        try:
            scenario = Scenario.model_validate(entry)
        except ValidationError as exc:
            err = exc.errors()[0]
            loc = ".".join(str(p) for p in err["loc"])
            name = entry.get("name", f"#{i}") if isinstance(entry, dict) else f"#{i}"
            if not (isinstance(name, str) and name.isprintable() and len(name) <= 60):
                name = repr(name)[:60]  # the message stays one short line
            raise ValueError(f"{where}: scenario {name}: {loc}: {err['msg']}") from None
        if scenario.name in seen:
            raise ValueError(
                f"{where}: scenario {scenario.name}: defined twice ([[scenario]] "
                f"#{seen[scenario.name]} and #{i}); give each a unique name"
            )
        seen[scenario.name] = i
        out.append(scenario)
    return out


def merge_scenarios(builtin: list[Scenario], user: list[Scenario]) -> list[Scenario]:
    """Built-ins first, in file order; a user scenario with the same name replaces the built-in."""
    merged = {s.name: s for s in builtin}
    for s in user:
        merged[s.name] = s
    return list(merged.values())
