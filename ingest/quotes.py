"""GPU price quote providers behind one interface.

A provider fetches raw material (HTTP responses, or the curated file's text wrapped as a
`RawResponse`) and parses it into `Quote`s. Parsing is a separate, pure step so the raw archive
can be re-parsed offline by `capcover rebuild`.
"""

from __future__ import annotations

import json
import logging
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Protocol

from pydantic import ValidationError

from ingest import CURATED_QUOTES_PATH
from ingest.errors import BadPayload, IngestError
from ingest.fx import KNOWN_CURRENCIES, ExchangeRates, rates_from_raws
from ingest.http import RawResponse
from ingest.models import Quarantined, Quote

log = logging.getLogger("capcover")


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


def restamped(raw: RawResponse, now: Callable[[], datetime] | None) -> RawResponse:
    """`raw` with `fetched_at` from the injected clock (a replay's), or as received.

    Feeds without timestamps of their own stamp their quotes with the fetch time, so a replay
    of a past day stamps them with that day's clock, not the wall clock."""
    return raw if now is None else replace(raw, fetched_at=now())


class CuratedQuotes:
    """The versioned quotes file shipped with capcover, plus the user's own quotes file.

    The user's file (`capcover quotes add` writes it; beside the warehouse or
    CAPCOVER_QUOTES_FILE) is read after the shipped one when it exists. A non-USD entry
    without its own `usd_per_unit` is converted with CoinGecko's `/exchange_rates`, fetched by
    `rates_fetcher` only when such an entry exists; the rates' response is archived with the
    files, so a replay converts the same way.
    """

    source = "curated"

    def __init__(
        self,
        user_path: Path | None = None,  # the user's quotes file; None: the shipped file only
        rates_fetcher: Callable[[], RawResponse] | None = None,
        *,
        shipped_path: Path = CURATED_QUOTES_PATH,
    ) -> None:
        self.shipped_path = Path(shipped_path)
        self.user_path = Path(user_path) if user_path is not None else None
        self.rates_fetcher = rates_fetcher

    def _read(self, path: Path) -> RawResponse:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise BadPayload(f"curated quotes {path}: cannot read ({exc.strerror})") from None
        return RawResponse(
            source=self.source, endpoint=path.name, method="READ",
            url=path.resolve().as_uri(), params={}, request_body=None, status=200,
            body=text, fetched_at=datetime.now(UTC), elapsed_ms=0.0, attempt=1,
        )

    def fetch(self) -> list[RawResponse]:
        raws = [self._read(self.shipped_path)]
        if (self.user_path is not None and self.user_path.exists()
                and self.user_path.resolve() != self.shipped_path.resolve()):
            raws.append(self._read(self.user_path))
        if self.rates_fetcher is not None and any(needs_rates(r.body) for r in raws):
            try:
                raws.append(self.rates_fetcher())
            except IngestError as exc:
                # The entries that needed the rates are quarantined by `parse`, with the reason.
                log.warning("curated quotes: exchange rates unavailable: %s", exc)
        return raws

    def parse(self, raws: list[RawResponse]) -> tuple[list[Quote], list[Quarantined]]:
        return parse_curated_raws(raws)


def parse_curated_raws(raws: list[RawResponse]) -> tuple[list[Quote], list[Quarantined]]:
    """The curated file as read (plus CoinGecko's /exchange_rates when it was needed)."""
    rates = rates_from_raws(raws)
    quotes: list[Quote] = []
    bad: list[Quarantined] = []
    for raw in raws:
        if raw.source != CuratedQuotes.source:
            continue
        good, rejected = parse_curated_entries(raw.body, where=raw.url, rates=rates)
        quotes.extend(good)
        bad.extend(rejected)
    return quotes, bad


def needs_rates(text: str) -> bool:
    """Whether some entry is priced in a currency other than USD and carries no rate."""
    try:
        entries = tomllib.loads(text).get("quote", [])
    except tomllib.TOMLDecodeError:
        return False
    return any(str(e.get("currency", "USD")).upper() != "USD" and "usd_per_unit" not in e
               for e in entries if isinstance(e, dict))


class NeedsRate(ValueError):
    """A non-USD quote with no `usd_per_unit` and no CoinGecko rates of its own day."""


def parse_curated(text: str, *, where: str = "quotes.toml") -> list[Quote]:
    """Parse the curated TOML; any bad entry fails with its index, since a human must fix it."""
    return parse_curated_entries(text, where=where)[0]


def parse_curated_entries(
    text: str, *, where: str = "quotes.toml", rates: ExchangeRates | None = None
) -> tuple[list[Quote], list[Quarantined]]:
    """Quotes, plus the non-USD entries that could not be converted (quarantined with why).

    Any other bad entry fails the file with its index, since a human must fix it.
    """
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise BadPayload(f"curated quotes {where}: not valid TOML ({exc})") from None
    version = doc.get("version")
    quotes = []
    bad = []
    for i, entry in enumerate(doc.get("quote", []), start=1):
        try:
            quotes.append(curated_entry_to_quote(entry, version=version, rates=rates))
        except NeedsRate as exc:
            bad.append(Quarantined(
                source=CuratedQuotes.source, endpoint=Path(where).name, record_key=f"#{i}",
                reason=str(exc), record_json=json.dumps(entry, sort_keys=True, default=str),
            ))
        except (ValidationError, KeyError, TypeError, ValueError) as exc:
            detail = exc.errors()[0]["msg"] if isinstance(exc, ValidationError) else repr(exc)
            raise BadPayload(
                f"curated quotes {where}: entry #{i} ({entry.get('sku_label', '?')}): {detail} "
                f"— fix or remove it"
            ) from None
    return quotes, bad


def curated_entry_to_quote(
    entry: dict, *, version: int | None = None, rates: ExchangeRates | None = None
) -> Quote:
    observed = entry["observed"]
    if isinstance(observed, str):
        observed = date.fromisoformat(observed)
    if isinstance(observed, datetime):
        observed_at = observed
    else:
        observed_at = datetime.combine(observed, time(0), tzinfo=UTC)
    currency = str(entry.get("currency", "USD")).upper()
    if currency not in KNOWN_CURRENCIES:
        raise ValueError(f"currency {currency}: unknown (use an ISO code CoinGecko's "
                         f"/exchange_rates lists, e.g. USD, EUR, GBP, JPY)")
    if "usd_per_unit" in entry:
        usd_per_unit = float(entry["usd_per_unit"])
    elif currency == "USD":
        usd_per_unit = 1.0
    elif rates is not None and rates.day == observed_at.date():
        usd_per_unit = rates.usd_per_unit(currency)
    else:
        have = f"CoinGecko's rates are of {rates.day}" if rates else "no CoinGecko rates"
        raise NeedsRate(
            f"{currency} quote of {observed_at.date()} has no usd_per_unit and {have} — add "
            f"usd_per_unit (USD per 1 {currency} on that day) to the entry"
        )
    price = float(entry["price"])
    note = entry.get("note")
    if version is not None:
        note = f"{note} [quotes.toml v{version}]" if note else f"[quotes.toml v{version}]"
    return Quote(
        observed_at=observed_at, source=entry["source"], source_url=entry.get("source_url"),
        kind=entry.get("kind", "purchase"), sku_label=entry["sku_label"], sku=entry["sku"],
        form_factor=entry.get("form_factor"), memory_gb=entry.get("memory_gb"),
        gpu_count_basis=int(entry.get("gpu_count", 1)), price_raw=price,
        price_unit=entry.get("unit", f"{currency}/GPU"), currency=currency,
        usd_per_unit=usd_per_unit, price_usd=price * usd_per_unit / int(entry.get("gpu_count", 1)),
        tier=entry.get("tier"),
        condition=entry.get("condition"), region=entry.get("region"), note=note,
    )
