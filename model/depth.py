"""Depth: how many GPUs the sources show as rentable now, per SKU and form factor, each GPU once.

Each feed's pure parser (ingest/vastai.py, runpod.py, gpuhunt.py `depth_raws`) turns one run's
answers into `DepthSighting`s, one per (source, SKU, form factor), with the number of GPUs it
saw, the listings behind them and the basis in words (docs/methodology.md, "Depth"). This
module combines them: the same source's sightings of one key are merged; RunPod seen directly
and through gpuhunt's RunPod catalog is counted once (the direct feed wins when it answered and
lists that GPU type); the total of a scenario is the sum of the counted sightings of its SKU
and form factor. A source that failed is absent and named (`DepthRead.missing`), never a zero.
Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime

from capcover.model.prices import ANY_FORM_FACTOR

# The version of the counting rules below, stored on every report row they filled
# (report_daily.rentable_gpus_method): `capcover rebuild` and `verify` leave rows published
# without it (before migration 063) without a count, as they were published.
DEPTH_METHOD = "depth-v1"
# Plausibility ceilings (docs/methodology.md section 7): a count above them is a broken answer,
# not stock, and is left out with its reason (never summed into a row's depth). One machine
# holds at most MAX_GPUS_PER_MACHINE GPUs (today's largest servers hold 8 to 16; an NVL72
# rack is 72 GPUs across 18 machines): a Vast.ai offer's `num_gpus` or a RunPod pod size above
# it is refused. One provider's free GPUs of one type: at most MAX_GPUS_PER_TYPE (all of
# RunPod's H100s are a few thousand).
MAX_GPUS_PER_MACHINE = 64
MAX_GPUS_PER_TYPE = 100_000


def within_ceiling(count: int, ceiling: int) -> bool:
    """Whether a GPU count is at most its plausibility ceiling (MAX_GPUS_PER_*)."""
    return count <= ceiling


# The direct feed and the catalog that mirrors it: one is counted, never both.
DIRECT_MIRRORS: dict[str, str] = {"runpod": "gpuhunt/runpod"}


@dataclass(frozen=True)
class DepthSighting:
    """What one source showed of one SKU and form factor in one run."""

    source: str  # vastai | runpod | gpuhunt/<provider>
    sku: str  # the SKU catalogue's name (H100, H200, B200, ...)
    form_factor: str  # SXM | PCIe | NVL | OAM | unknown
    gpus_seen: int | None  # GPUs rentable now; None: the source said no number (a stock word)
    offers_seen: int  # the listings behind the count (offers, GPU types, catalog rows)
    basis: str  # what was counted, in words
    observed_at: datetime  # UTC: the fetch time of the answer counted
    counted: bool = True  # False: left out of the total (basis says why)

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.sku, self.form_factor, self.source)


@dataclass(frozen=True)
class DepthRead:
    """One feed's depth in one run: its sightings and the sources whose count is absent, with
    the reason (a gpuhunt provider whose catalog did not come)."""

    sightings: list[DepthSighting] = field(default_factory=list)
    missing: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Depth:
    """A day's depth: every sighting (counted or not) and the sources that are absent."""

    sightings: tuple[DepthSighting, ...] = ()
    missing: tuple[str, ...] = ()  # sources whose count is absent this run, sorted

    def seen(self, sku: str, form_factor: str) -> tuple[int | None, str | None]:
        """(GPUs rentable now, the contributing sources) for a scenario's SKU and form factor
        ("any": every form factor, unknown included); (None, None) when no source gave a
        number for it."""
        hits = [
            s
            for s in self.sightings
            if s.counted
            and s.gpus_seen is not None
            and s.sku == sku
            and (form_factor == ANY_FORM_FACTOR or s.form_factor == form_factor)
        ]
        if not hits:
            return None, None
        return sum(s.gpus_seen or 0 for s in hits), sources_text(s.source for s in hits)


def _source_order(source: str) -> tuple[int, str]:
    # Direct feeds first, then the catalogs, each alphabetical: "vastai, runpod, gpuhunt/aws".
    rank = {"vastai": 0, "runpod": 1}.get(source, 2)
    return (rank, source)


def sources_text(sources: Iterable[str]) -> str:
    """Distinct sources in a fixed order, comma-separated."""
    return ", ".join(sorted(set(sources), key=_source_order))


def merge(sightings: Iterable[DepthSighting]) -> list[DepthSighting]:
    """One sighting per (SKU, form factor, source): GPUs and listings summed (a count only
    when one of them gave a number), bases joined; in key order."""
    by_key: dict[tuple[str, str, str], DepthSighting] = {}
    for s in sightings:
        held = by_key.get(s.key)
        if held is None:
            by_key[s.key] = s
            continue
        gpus = (
            None
            if held.gpus_seen is None and s.gpus_seen is None
            else (held.gpus_seen or 0) + (s.gpus_seen or 0)
        )
        by_key[s.key] = replace(
            held,
            gpus_seen=gpus,
            offers_seen=held.offers_seen + s.offers_seen,
            basis=f"{held.basis}; {s.basis}",
            observed_at=max(held.observed_at, s.observed_at),
        )
    return [by_key[k] for k in sorted(by_key)]


def combine(reads: Iterable[DepthRead], failed: Iterable[str] = ()) -> Depth:
    """The day's depth from every feed's read and the feeds that failed (their counts absent):
    merged per key, the catalog mirror of a direct feed left out of the total where the direct
    feed lists the same SKU and form factor."""
    reads = list(reads)
    merged = merge(s for r in reads for s in r.sightings)
    direct = {(s.sku, s.form_factor, s.source) for s in merged}
    out = []
    for s in merged:
        feed = next((d for d, m in DIRECT_MIRRORS.items() if m == s.source), None)
        if feed is not None and (s.sku, s.form_factor, feed) in direct:
            s = replace(
                s,
                counted=False,
                basis=f"{s.basis}; not counted: {feed}'s own feed answered this run and lists "
                f"it (the direct feed wins)",
            )
        out.append(s)
    missing = set(failed) | {m for r in reads for m in r.missing}
    return Depth(tuple(out), tuple(sorted(missing, key=_source_order)))


def rentable_text(gpus: int | None, sources: str | None, missing: str | None) -> str:
    """ "1,234 rentable now (vastai, runpod)" for a scenario's row; "no count of rentable GPUs"
    when no source gave one; the absent sources named."""
    if gpus is None:
        text = "no source counted rentable GPUs"
    else:
        text = f"{gpus:,} rentable now ({sources})"
    if missing:
        text += f"; not counted: {missing} (no answer this run)"
    return text
