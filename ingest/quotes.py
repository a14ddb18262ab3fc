"""GPU price quote providers behind one interface.

A provider fetches raw material (HTTP responses, or the curated file's text wrapped as a
`RawResponse`) and parses it into `Quote`s. Parsing is a separate, pure step so the raw archive
can be re-parsed offline by `capcover rebuild`.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Protocol, runtime_checkable

from pydantic import ValidationError

from capcover.config.files import FileRefused, loads_toml, read_text
from capcover.ingest import CURATED_QUOTES_PATH, RENTAL_TIERS
from capcover.ingest.errors import BadPayload, IngestError, PartialFailure
from capcover.ingest.feeds import MAX_CLOCK_SKEW_S, future_problem, record_json
from capcover.ingest.fx import KNOWN_CURRENCIES, ExchangeRates, rates_from_raws
from capcover.ingest.models import Quarantined, Quote, RawResponse
from capcover.ingest.sku import UNMAPPED, normalise
from capcover.model.tiers import label_words, tier_from_label

log = logging.getLogger("capcover")


@dataclass
class QuoteBatch:
    """What one provider produced in one run."""

    source: str
    raws: list[RawResponse]
    quotes: list[Quote] = field(default_factory=list)
    quarantined: list[Quarantined] = field(default_factory=list)
    error: str | None = None  # set when the feed failed; the run goes on without it
    # Parts of a feed that still counted, left out with why (`gpuhunt/<provider>` -> reason):
    # each is named among the run's failed feeds beside the whole ones.
    parts_failed: dict[str, str] = field(default_factory=dict)


def failed_feeds(batches: list[QuoteBatch]) -> dict[str, str]:
    """Every quote feed that failed in a run, with why, in the batches' order: a whole feed
    (its source), or a part of a feed that otherwise counted (`gpuhunt/aws`). This is what
    `runs.sources_failed`, the run summary and the feed-failure alerts name."""
    out: dict[str, str] = {}
    for b in batches:
        if b.error:
            out[b.source] = b.error
        else:
            out.update(b.parts_failed)
    return out


@dataclass(frozen=True)
class Excluded:
    """A record a parser left out on purpose, with the reason a person can read (a CPU-only
    instance, a GPU the SKU catalogue does not know, a dearer location of an offer kept)."""

    source: str
    endpoint: str
    record_key: str | None
    reason: str


@dataclass(frozen=True)
class RowOutcome:
    """What became of one record of a feed's answer: `row` is (the index of its response in
    the raws parsed, the record's index in that response). A record may end as several quotes
    (RunPod: one per price field); every record ends as at least one outcome."""

    row: tuple[int, int]
    result: Quote | Quarantined | Excluded


def split_outcomes(
    outcomes: list[RowOutcome],
) -> tuple[list[Quote], list[Quarantined], list[Excluded]]:
    """Quotes, quarantined records and exclusions, each in the order of the records."""
    quotes = [o.result for o in outcomes if isinstance(o.result, Quote)]
    bad = [o.result for o in outcomes if isinstance(o.result, Quarantined)]
    left_out = [o.result for o in outcomes if isinstance(o.result, Excluded)]
    return quotes, bad, left_out


class QuoteProvider(Protocol):
    """Every quote source: `fetch` does the I/O and returns the records it received, in order
    (a failure raises an IngestError whose `.raws` holds the records received before it);
    `parse` turns records into quotes, with no session and no I/O (`capcover rebuild` calls
    it on the archive); `outcomes` says what became of every record
    (tests/test_quote_contract.py holds every provider to it: a typed quote with a tier and a
    form factor, or a reason)."""

    source: str

    def fetch(self) -> list[RawResponse]: ...

    def parse(self, raws: list[RawResponse]) -> tuple[list[Quote], list[Quarantined]]: ...

    def outcomes(self, raws: list[RawResponse]) -> list[RowOutcome]: ...


@runtime_checkable
class PartedProvider(QuoteProvider, Protocol):
    """A provider made of parts that fail one by one (gpuhunt: one catalog per provider):
    `parts_failed` names the parts left out of the run, given what its parse quarantined."""

    def parts_failed(self, quarantined: list[Quarantined]) -> dict[str, str]: ...


def collect(provider: QuoteProvider) -> QuoteBatch:
    """Fetch and parse one provider; a failure is recorded on the batch, not raised."""
    raws: list[RawResponse] = []
    try:
        raws = provider.fetch()
        quotes, bad = provider.parse(raws)
        parts = provider.parts_failed(bad) if isinstance(provider, PartedProvider) else {}
    except PartialFailure as exc:  # failed, loudly, but what could be read still counts
        return QuoteBatch(provider.source, raws, exc.quotes, exc.quarantined, error=str(exc))
    except Exception as exc:  # noqa: BLE001 - one feed down must not stop the daily run
        # What was received is archived all the same: the fetch's records, or a failed
        # fetch's (IngestError.raws).
        got = raws or list(getattr(exc, "raws", ()))
        return QuoteBatch(provider.source, got, error=str(exc))
    if not quotes:
        return QuoteBatch(provider.source, raws, [], bad, error="parsed zero quotes")
    return QuoteBatch(provider.source, raws, quotes, bad, parts_failed=parts)


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
        max_skew_s: float = MAX_CLOCK_SKEW_S,
        clock: Callable[[], datetime] | None = None,  # UTC wall clock; None: the real one
    ) -> None:
        self.shipped_path = Path(shipped_path)
        self.user_path = Path(user_path) if user_path is not None else None
        self.rates_fetcher = rates_fetcher
        self.max_skew_s = max_skew_s
        self.now = clock or (lambda: datetime.now(UTC))

    def _read(self, path: Path) -> RawResponse:
        # A regular UTF-8 file within the size cap (config/files.py): a FIFO or /dev/zero as
        # CAPCOVER_QUOTES_FILE is refused at once, never read forever.
        try:
            text = read_text(path)
        except FileRefused as exc:
            raise BadPayload(f"curated quotes {exc} (CAPCOVER_QUOTES_FILE)") from None
        return RawResponse(
            source=self.source,
            endpoint=path.name,
            method="READ",
            url=path.resolve().as_uri(),
            params={},
            request_body=None,
            status=200,
            body=text,
            fetched_at=self.now(),
            elapsed_ms=0.0,
            attempt=1,
        )

    def fetch(self) -> list[RawResponse]:
        raws = [self._read(self.shipped_path)]
        if (
            self.user_path is not None
            and self.user_path.exists()
            and self.user_path.resolve() != self.shipped_path.resolve()
        ):
            raws.append(self._read(self.user_path))
        if self.rates_fetcher is not None and any(needs_rates(r.body) for r in raws):
            try:
                raws.append(self.rates_fetcher())
            except IngestError as exc:
                # The entries that needed the rates are quarantined by `parse`, with the reason.
                log.warning("curated quotes: exchange rates unavailable: %s", exc)
        return raws

    def parse(self, raws: list[RawResponse]) -> tuple[list[Quote], list[Quarantined]]:
        return parse_curated_raws(raws, max_skew_s=self.max_skew_s)

    def outcomes(self, raws: list[RawResponse]) -> list[RowOutcome]:
        """Every entry of every file read: a quote, or kept out with its reason (a bad entry
        fails the whole file instead: a human must fix it)."""
        rates = rates_from_raws(raws)
        out: list[RowOutcome] = []
        for i, raw in enumerate(raws):
            if raw.source != self.source:
                continue
            good, rejected = parse_curated_entries(
                raw.body,
                where=raw.url,
                rates=rates,
                read_at=raw.fetched_at,
                max_skew_s=self.max_skew_s,
            )
            kept_out = {int(q.record_key.lstrip("#")) - 1: q for q in rejected if q.record_key}
            quotes = iter(good)
            entries = _toml(raw.body, where=raw.url).get("quote", [])
            for j in range(len(entries)):
                out.append(RowOutcome((i, j), kept_out[j] if j in kept_out else next(quotes)))
        return out


def _toml(text: str, *, where: str) -> dict:
    """A curated file's TOML document; BadPayload (one line naming the file) for text that is
    not TOML or is nested too deeply to parse (config/files.py)."""
    try:
        return loads_toml(text, where=where)
    except FileRefused as exc:
        raise BadPayload(f"curated quotes {exc}") from None


def parse_curated_raws(
    raws: list[RawResponse], *, max_skew_s: float = MAX_CLOCK_SKEW_S
) -> tuple[list[Quote], list[Quarantined]]:
    """The curated file as read (plus CoinGecko's /exchange_rates when it was needed); an
    entry dated after the file was read (beyond `max_skew_s` seconds) is quarantined."""
    rates = rates_from_raws(raws)
    quotes: list[Quote] = []
    bad: list[Quarantined] = []
    broken: list[BadPayload] = []
    files = [raw for raw in raws if raw.source == CuratedQuotes.source]
    for raw in files:
        try:  # each file is one unit: a mistake in yours leaves the shipped file counting
            good, rejected = parse_curated_entries(
                raw.body, where=raw.url, rates=rates, read_at=raw.fetched_at, max_skew_s=max_skew_s
            )
        except BadPayload as exc:
            broken.append(exc)
            bad.append(
                Quarantined(
                    source=CuratedQuotes.source,
                    endpoint=Path(raw.url).name,
                    record_key="file",
                    reason=str(exc),
                    record_json=record_json({"file": raw.url}),
                )
            )
            continue
        quotes.extend(good)
        bad.extend(rejected)
    if broken and len(broken) == len(files):
        raise broken[0]
    if broken:  # the feed is failed (your file needs fixing); the other file still prices
        raise PartialFailure(str(broken[0]), quotes=quotes, quarantined=bad)
    return quotes, bad


def needs_rates(text: str) -> bool:
    """Whether some entry is priced in a currency other than USD and carries no rate."""
    try:
        entries = _toml(text, where="quotes").get("quote", [])
    except BadPayload:
        return False
    if not isinstance(entries, list):
        return False
    return any(
        str(e.get("currency", "USD")).upper() != "USD" and "usd_per_unit" not in e
        for e in entries
        if isinstance(e, dict)
    )


class NeedsRate(ValueError):
    """A non-USD quote with no `usd_per_unit` and no CoinGecko rates of its own day."""


def parse_curated(text: str, *, where: str = "quotes.toml") -> list[Quote]:
    """Parse the curated TOML; any bad entry fails with its index, since a human must fix it."""
    return parse_curated_entries(text, where=where)[0]


def parse_curated_entries(
    text: str,
    *,
    where: str = "quotes.toml",
    rates: ExchangeRates | None = None,
    read_at: datetime | None = None,
    max_skew_s: float = MAX_CLOCK_SKEW_S,
) -> tuple[list[Quote], list[Quarantined]]:
    """Quotes, plus the entries kept out with why: non-USD ones that could not be converted,
    and (given `read_at`) ones dated more than `max_skew_s` seconds after the file was read.

    Any other bad entry fails the file with its index, since a human must fix it.
    """
    doc = _toml(text, where=where)
    version = doc.get("version")
    version = version if isinstance(version, int) and not isinstance(version, bool) else None
    entries = doc.get("quote", [])
    if not isinstance(entries, list):
        raise BadPayload(
            f"curated quotes {where}: `quote` must be an array of tables ([[quote]]) — fix the file"
        )
    quotes = []
    bad = []
    for i, entry in enumerate(entries, start=1):
        try:
            if not isinstance(entry, dict):
                raise TypeError(f"not a table: {type(entry).__name__}")
            quote = curated_entry_to_quote(entry, version=version, rates=rates)
        except NeedsRate as exc:
            bad.append(_kept_out(where, i, entry, str(exc)))
            continue
        except (ValidationError, KeyError, TypeError, ValueError, OverflowError) as exc:
            detail = exc.errors()[0]["msg"] if isinstance(exc, ValidationError) else repr(exc)
            label = entry.get("sku_label", "?") if isinstance(entry, dict) else "?"
            raise BadPayload(
                " ".join(
                    f"curated quotes {where}: entry #{i} ({label}): {detail} "
                    f"— fix or remove it".split()
                )
            ) from None
        problem = read_at and future_problem("observed", quote.observed_at, read_at, max_skew_s)
        if problem:
            bad.append(_kept_out(where, i, entry, problem))
            continue
        quotes.append(quote)
    return quotes, bad


def _kept_out(where: str, index: int, entry: object, reason: str) -> Quarantined:
    return Quarantined(
        source=CuratedQuotes.source,
        endpoint=Path(where).name,
        record_key=f"#{index}",
        reason=reason,
        record_json=record_json(entry),
    )


def _number(entry: dict, name: str, default: float | None = None) -> float:
    """A finite number from the file; a boolean (`price = true`) is not one."""
    value = entry.get(name, default) if default is not None else entry[name]
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise TypeError(f"{name}: not a number: {value!r}")
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"{name}: not a finite number: {value!r}")
    return number


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
        raise ValueError(
            f"currency {currency}: unknown (use an ISO code CoinGecko's "
            f"/exchange_rates lists, e.g. USD, EUR, GBP, JPY)"
        )
    if "usd_per_unit" in entry:
        usd_per_unit = _number(entry, "usd_per_unit")
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
    price = _number(entry, "price")
    count = entry.get("gpu_count", 1)
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise ValueError(f"gpu_count: not a positive integer: {count!r}")
    note = entry.get("note")
    if version is not None:
        note = f"{note} [quotes.toml v{version}]" if note else f"[quotes.toml v{version}]"
    kind = entry.get("kind", "purchase")
    label = entry.get("tier")
    tier = tier_from_label(label if isinstance(label, str) else None, kind=str(kind))
    if label is not None and not isinstance(label, str):
        raise TypeError(f"tier: not text: {label!r}")
    words = label_words(label)
    if words.startswith("committed") and words not in RENTAL_TIERS:
        # A misspelt term would be tier unknown and never price, without a word: name the
        # known ones instead.
        raise ValueError(f"tier {label!r}: unknown committed term (use one of {RENTAL_TIERS})")
    provider = entry.get("provider", entry["source"])
    if not isinstance(provider, str) or not provider.strip():
        raise ValueError(f"provider: not a name: {provider!r}")
    label_text = entry["sku_label"]
    if not isinstance(label_text, str):
        raise TypeError(f"sku_label: not text: {label_text!r}")
    # What the entry leaves out, its label tells by the catalogue's rules, as for a feed's
    # names and as `capcover quotes add --label` writes it: the SKU, the form factor
    # ("SXM5" is SXM), the memory ("80GB"). A key written in the entry wins.
    told = normalise(label_text)
    sku = entry.get("sku") or told.sku
    if sku == UNMAPPED:
        raise ValueError(f"sku: missing, and the label {label_text!r} names no known SKU")
    return Quote(
        observed_at=observed_at,
        source=entry["source"],
        source_url=entry.get("source_url"),
        kind=kind,
        sku_label=label_text,
        sku=sku,
        form_factor=entry.get("form_factor") or told.form_factor or "unknown",
        form_factor_v1=entry.get("form_factor"),
        memory_gb=entry.get("memory_gb") or told.memory_gb,
        gpu_count_basis=count,
        price_raw=price,
        price_unit=entry.get("unit", f"{currency}/GPU"),
        currency=currency,
        usd_per_unit=usd_per_unit,
        price_usd=price * usd_per_unit / count,
        tier=tier,
        tier_label=label,
        provider=provider,
        condition=entry.get("condition"),
        region=entry.get("region"),
        note=note,
        confidence=entry.get("confidence"),
    )
