"""GPU SKU normalisation by an ordered token catalogue (ingest/data/sku_catalogue.toml).

The knowledge (which names exist, in which order they are tried) is data; this module only
applies the matching rules documented at the top of the catalogue file.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from capcover.config.files import read_text

CATALOGUE_PATH = Path(__file__).parent / "data" / "sku_catalogue.toml"
UNMAPPED = "unmapped"

# Left edge of a SKU token: start, a non-alphanumeric, or an instance count such as "8X".
_SKU_LEFT = r"(?:(?<![A-Z0-9])|(?<=[0-9]X))"
_MEMORY = re.compile(r"(?<![A-Z0-9.])(\d+(?:\.\d+)?)\s*GB\b")


@dataclass(frozen=True)
class SkuMatch:
    """What the catalogue made of one label."""

    sku: str  # normalised, e.g. "H100"; "unmapped" when no entry matched
    vendor: str | None
    form_factor: str | None  # SXM, PCIe, NVL, OAM, or None when the label does not say
    memory_gb: float | None  # from the label ("80GB", "80 GB"), None when not given


@dataclass(frozen=True)
class InstanceRule:
    """A form factor a provider's instance name carries by convention (an [[instance]] entry)."""

    providers: tuple[str, ...]
    pattern: re.Pattern[str]  # matched against the whole instance name
    form_factor: str
    source: str  # where the convention is documented


@dataclass(frozen=True)
class Catalogue:
    version: int
    skus: tuple[tuple[str, str | None, re.Pattern[str]], ...]
    form_factors: tuple[tuple[str, re.Pattern[str]], ...]
    instances: tuple[InstanceRule, ...] = ()

    def form_factor(
        self, provider: str, labels: tuple[str, ...], instance: str | None = None
    ) -> str | None:
        """The form factor the labels' tokens tell (the GPU label first, then the instance
        name), else the first [[instance]] rule of `provider` whose pattern matches the whole
        instance name; None when nothing tells it (stored as "unknown", never guessed)."""
        for text in (*labels, instance or ""):
            if text:
                found = self.normalise(text).form_factor
                if found is not None:
                    return found
        if instance:
            for rule in self.instances:
                if provider in rule.providers and rule.pattern.fullmatch(instance):
                    return rule.form_factor
        return None

    def normalise(self, label: str) -> SkuMatch:
        text = canonical(label)
        sku, vendor = UNMAPPED, None
        for name, ven, pattern in self.skus:
            if pattern.search(text):
                sku, vendor = name, ven
                break
        form = next((name for name, pattern in self.form_factors if pattern.search(text)), None)
        mem = _MEMORY.search(text)
        return SkuMatch(sku, vendor, form, float(mem.group(1)) if mem else None)


def canonical(label: str) -> str:
    """Upper case, `_`/`-` as spaces, single spaces."""
    return " ".join(re.sub(r"[_\-]", " ", label.upper()).split())


def _alternatives(tokens: list[str]) -> str:
    # Longest first so "RTX 6000 ADA" is tried before a shorter token of the same entry.
    return "|".join(re.escape(canonical(t)) for t in sorted(tokens, key=len, reverse=True))


def parse_catalogue(text: str, *, where: str = "sku_catalogue.toml") -> Catalogue:
    doc = tomllib.loads(text)
    skus = []
    for i, entry in enumerate(doc.get("sku", []), start=1):
        if not entry.get("sku") or not entry.get("tokens"):
            raise ValueError(f"{where}: [[sku]] #{i} needs `sku` and a non-empty `tokens` list")
        pattern = re.compile(f"{_SKU_LEFT}(?:{_alternatives(entry['tokens'])})(?![0-9])")
        skus.append((entry["sku"], entry.get("vendor"), pattern))
    forms = []
    for i, entry in enumerate(doc.get("form_factor", []), start=1):
        if not entry.get("name") or not entry.get("tokens"):
            raise ValueError(f"{where}: [[form_factor]] #{i} needs `name` and `tokens`")
        forms.append(
            (entry["name"], re.compile(f"(?<![A-Z])(?:{_alternatives(entry['tokens'])})(?![A-Z])"))
        )
    forms_known = {name for name, _ in forms}
    instances = []
    for i, entry in enumerate(doc.get("instance", []), start=1):
        providers, pattern, form = (
            entry.get("providers"),
            entry.get("pattern"),
            entry.get("form_factor"),
        )
        if not (providers and pattern and form in forms_known and entry.get("source")):
            raise ValueError(
                f"{where}: [[instance]] #{i} needs `providers`, `pattern`, a known `form_factor` "
                f"and the `source` of the convention"
            )
        instances.append(InstanceRule(tuple(providers), re.compile(pattern), form, entry["source"]))
    return Catalogue(int(doc.get("version", 1)), tuple(skus), tuple(forms), tuple(instances))


@lru_cache(maxsize=4)
def load_catalogue(path: Path = CATALOGUE_PATH) -> Catalogue:
    return parse_catalogue(read_text(path), where=str(path))  # config/files.py's rule


def normalise(label: str) -> SkuMatch:
    """Map a feed's GPU label to a normalised SKU with the built-in catalogue."""
    return load_catalogue().normalise(label)


def form_factor_of(provider: str, *labels: str, instance: str | None = None) -> str:
    """The form factor of a provider's offer from its labels and instance name with the built-in
    catalogue: SXM, PCIe, NVL, OAM, or "unknown" when nothing tells it."""
    return load_catalogue().form_factor(provider, labels, instance) or "unknown"
