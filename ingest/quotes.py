"""GPU price quote providers behind one interface.

A provider fetches raw material (HTTP responses, or the curated file's text wrapped as a
`RawResponse`) and parses it into `Quote`s. Parsing is a separate, pure step so the raw archive
can be re-parsed offline by `capcover rebuild`.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Protocol

from pydantic import ValidationError

from ingest.errors import BadPayload
from ingest.http import RawResponse
from ingest.models import Quarantined, Quote

CURATED_QUOTES_PATH = Path(__file__).parent / "data" / "quotes.toml"


@dataclass
class QuoteBatch:
    """What one provider produced in one run."""

    source: str
    raws: list[RawResponse]
    quotes: list[Quote] = field(default_factory=list)
    quarantined: list[Quarantined] = field(default_factory=list)
    error: str | None = None  # set when the feed failed; the run goes on without it


class QuoteProvider(Protocol):
    """Every quote source: `fetch` does the I/O, `parse` turns its raw responses into quotes."""

    source: str

    def fetch(self) -> list[RawResponse]: ...

    def parse(self, raws: list[RawResponse]) -> tuple[list[Quote], list[Quarantined]]: ...


def collect(provider: QuoteProvider) -> QuoteBatch:
    """Fetch and parse one provider; a failure is recorded on the batch, not raised."""
    try:
        raws = provider.fetch()
        quotes, bad = provider.parse(raws)
    except Exception as exc:  # noqa: BLE001 - one feed down must not stop the daily run
        return QuoteBatch(provider.source, getattr(provider, "last_raws", []), error=str(exc))
    if not quotes:
        return QuoteBatch(provider.source, raws, [], bad, error="parsed zero quotes")
    return QuoteBatch(provider.source, raws, quotes, bad)


class CuratedQuotes:
    """The versioned quotes file shipped with capcover (or a user's own copy)."""

    source = "curated"

    def __init__(self, path: Path = CURATED_QUOTES_PATH) -> None:
        self.path = Path(path)

    def fetch(self) -> list[RawResponse]:
        try:
            text = self.path.read_text(encoding="utf-8")
        except OSError as exc:
            raise BadPayload(f"curated quotes {self.path}: cannot read ({exc.strerror})") from None
        return [RawResponse(
            source=self.source, endpoint=self.path.name, method="READ",
            url=self.path.resolve().as_uri(), params={}, request_body=None, status=200,
            body=text, fetched_at=datetime.now(UTC), elapsed_ms=0.0, attempt=1,
        )]

    def parse(self, raws: list[RawResponse]) -> tuple[list[Quote], list[Quarantined]]:
        quotes: list[Quote] = []
        for raw in raws:
            quotes.extend(parse_curated(raw.body, where=raw.url))
        return quotes, []


def parse_curated(text: str, *, where: str = "quotes.toml") -> list[Quote]:
    """Parse the curated TOML; any bad entry fails with its index, since a human must fix it."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise BadPayload(f"curated quotes {where}: not valid TOML ({exc})") from None
    version = doc.get("version")
    quotes = []
    for i, entry in enumerate(doc.get("quote", []), start=1):
        try:
            quotes.append(curated_entry_to_quote(entry, version=version))
        except (ValidationError, KeyError, TypeError, ValueError) as exc:
            detail = exc.errors()[0]["msg"] if isinstance(exc, ValidationError) else repr(exc)
            raise BadPayload(
                f"curated quotes {where}: entry #{i} ({entry.get('sku_label', '?')}): {detail} "
                f"— fix or remove it"
            ) from None
    return quotes


def curated_entry_to_quote(entry: dict, *, version: int | None = None) -> Quote:
    observed = entry["observed"]
    if isinstance(observed, str):
        observed = date.fromisoformat(observed)
    if isinstance(observed, datetime):
        observed_at = observed
    else:
        observed_at = datetime.combine(observed, time(0), tzinfo=UTC)
    currency = str(entry.get("currency", "USD")).upper()
    if currency != "USD":
        raise ValueError(f"currency {currency}: curated quotes must be in USD for now")
    price = float(entry["price"])
    note = entry.get("note")
    if version is not None:
        note = f"{note} [quotes.toml v{version}]" if note else f"[quotes.toml v{version}]"
    return Quote(
        observed_at=observed_at, source=entry["source"], source_url=entry.get("source_url"),
        kind=entry.get("kind", "purchase"), sku_label=entry["sku_label"], sku=entry["sku"],
        form_factor=entry.get("form_factor"), memory_gb=entry.get("memory_gb"),
        gpu_count_basis=int(entry.get("gpu_count", 1)), price_raw=price,
        price_unit=entry.get("unit", f"{currency}/GPU"), currency=currency, usd_per_unit=1.0,
        price_usd=price / int(entry.get("gpu_count", 1)), tier=entry.get("tier"),
        condition=entry.get("condition"), region=entry.get("region"), note=note,
    )
