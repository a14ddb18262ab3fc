"""Per-chip throughput: the versioned, sourced table behind compute-equivalent scenarios.

The data lives in model/throughput.toml (config/settings.py reads it beside the built-in
scenarios); this module validates it and turns "N reference GPUs of compute bought as chip X"
into a GPU count. Every figure names its source and how the stored value follows from what the
source published (vendors mostly publish tensor throughput *with sparsity*; the table stores the
dense figure). Figures are TFLOPS per GPU (10^12 operations per second).
"""

from __future__ import annotations

from datetime import date
from fractions import Fraction
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

# Data, not code: read by config/settings.py with the built-in scenarios.
THROUGHPUT_PATH = Path(__file__).parent / "throughput.toml"

# The metrics a scenario may compare chips on: dense (no 2:4 sparsity) tensor throughput.
Metric = Literal["dense_fp8", "dense_bf16"]
METRIC_LABELS: dict[str, str] = {
    "dense_fp8": "dense FP8 TFLOPS",
    "dense_bf16": "dense BF16 TFLOPS",
}
DEFAULT_METRIC: Metric = "dense_fp8"
DEFAULT_REFERENCE = "H100 SXM"  # the unit Factorial Funds' 720,000 / 89,000 are counted in


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class Source(_Strict):
    """Where figures were published, and where we read them when the page itself was not at
    hand (`read_in`: a copy reproducing the vendor's table)."""

    title: str = Field(min_length=1)
    publisher: str = Field(min_length=1)
    url: str = Field(pattern=r"^https://\S+$")
    published: date | None = None  # None: the page carries no date
    read_in: list[str] = Field(default_factory=list)  # URLs of the copies we read
    note: str = ""
    checked: date  # the day the figures were checked against the source


class Figure(_Strict):
    """One stored value, the vendor's own words for it, and how one follows from the other."""

    value: float = Field(gt=0)
    published: str = Field(min_length=1)  # e.g. "FP8 Tensor Core 3,958 teraFLOPS (with sparsity)"
    derivation: str = Field(min_length=1)  # e.g. "dense = 3,958 / 2 (datasheet footnote)"
    source: str = Field(min_length=1)  # a key of the table's [source.*] entries


class Chip(_Strict):
    id: str = Field(min_length=1)  # e.g. "H100 SXM", "B200 HGX"
    sku: str = Field(min_length=1)  # the SKU catalogue's name (ingest/data/sku_catalogue.toml)
    form_factor: Literal["SXM", "PCIe", "NVL", "OAM"]
    vendor: str = Field(min_length=1)
    note: str = ""
    tdp_w: Figure | None = None
    dense_fp8: Figure | None = None
    dense_bf16: Figure | None = None

    def figure(self, metric: str) -> Figure | None:
        return {"dense_fp8": self.dense_fp8, "dense_bf16": self.dense_bf16}.get(metric)


class ThroughputTable(_Strict):
    version: int = Field(ge=1)  # bump on every change: report rows store the version they used
    source: dict[str, Source]
    chip: list[Chip] = Field(min_length=1)

    @model_validator(mode="after")
    def _consistent(self) -> ThroughputTable:
        ids = [c.id for c in self.chip]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"chip id(s) defined twice: {', '.join(dupes)}")
        for c in self.chip:
            for name in ("tdp_w", "dense_fp8", "dense_bf16"):
                fig = getattr(c, name)
                if fig is not None and fig.source not in self.source:
                    raise ValueError(f"chip {c.id}: {name}: unknown source {fig.source!r}")
        return self

    def chip_ids(self) -> list[str]:
        return [c.id for c in self.chip]

    def get(self, chip_id: str) -> Chip:
        for c in self.chip:
            if c.id.casefold() == chip_id.casefold():
                return c
        raise ValueError(
            f"unknown chip {chip_id!r} (throughput table v{self.version} has: "
            f"{', '.join(self.chip_ids())})"
        )

    def for_sku(self, sku: str) -> list[Chip]:
        return [c for c in self.chip if c.sku.casefold() == sku.casefold()]

    def tflops(self, chip_id: str, metric: str) -> float:
        chip = self.get(chip_id)
        fig = chip.figure(metric)
        if fig is None:
            raise ValueError(
                f"chip {chip.id} has no {metric} figure in throughput table v{self.version}"
            )
        return fig.value


def parse_throughput(doc: dict, *, where: str) -> ThroughputTable:
    """The table from its parsed TOML; ValueError names the file and the bad field."""
    from pydantic import ValidationError

    try:
        return ThroughputTable.model_validate(doc)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(p) for p in err["loc"])
        raise ValueError(f"{where}: {loc}: {err['msg']}".replace(": : ", ": ")) from None


def equivalent_count(equivalents: int, reference_tflops: float, chip_tflops: float) -> int:
    """GPUs of a chip giving the compute of `equivalents` reference GPUs:
    round(equivalents x reference / chip), halves rounded up. A count that rounds to 0 is
    refused (ValueError): a scenario never buys zero GPUs, and rounding it up to 1 would price
    more compute than the scenario names.

    Exact decimal arithmetic (each figure as written), so the count never depends on binary
    floating point: 720,000 x 1,979 / 4,500 is 316,640 exactly."""
    if equivalents <= 0 or reference_tflops <= 0 or chip_tflops <= 0:
        raise ValueError("equivalents and both throughputs must be positive")
    exact = Fraction(equivalents) * Fraction(repr(reference_tflops)) / Fraction(repr(chip_tflops))
    count = int(exact + Fraction(1, 2))
    if count < 1:
        raise ValueError(
            f"{equivalents} reference GPU(s) is {float(exact):.2f} of this chip, which rounds "
            "to 0 GPUs; give more equivalents or a smaller chip"
        )
    return count
