"""dstack's gpuhunt catalogs: the offers of hyperscalers and neoclouds, public and keyless.

Per provider, `GET {root}/{provider}/version` gives the catalog version (e.g. `20260818-42`),
then `GET {root}/{provider}/{version}/catalog.zip` holds one `{provider}.csv` (columns in
../shared/reference/gpu-feeds/gpuhunt_catalog_csv_schema.txt). Both go through capcover's
HTTP layer (retries, timeouts, archive records). The zip is archived losslessly as
`base64:` + its bytes in base64, so `capcover rebuild` re-parses exactly what was received.
A catalog is fetched only when its provider's version changed: otherwise the run archives the
version answer and a link (`RawResponse.same_as`) to the catalog the archive already holds
(`known`, read from the warehouse by the wiring), and parses that.

Quotes: one per (provider, instance type, GPU count, spot, flags) at its cheapest location,
for rows with GPUs whose `gpu_name` maps to a catalogue SKU. `price` is USD per INSTANCE-hour;
the quote is that divided by `gpu_count`. The source is `gpuhunt/{provider}`, so each provider
is its own source for "latest quotes per source". The tier comes from `spot`, the space-separated
`flags` and the JSON `provider_data` (row_tier: a GCP DWS calendar-mode row is a reservation, a
RunPod cluster row a cluster price, an OCI spot row a computed price, an unknown flag is never
guessed). gpuhunt folds H100 SXM and PCIe into `H100`, so the form factor comes from the
instance name: its tokens (`sxm5`, `pcie`) or the provider's conventions in the SKU catalogue
(Verda's `80S`, RunPod's GPU ids, the HGX shapes); a row none of these tells is "unknown".
"""

from __future__ import annotations

import base64
import logging
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import datetime

from capcover.config.defaults import DEFAULTS
from capcover.ingest.client import ApiClient, HttpOptions, rate_pace, received
from capcover.ingest.decode import DEFAULT_MAX_BYTES, csv_rows, loads, zip_member
from capcover.ingest.errors import BadPayload, IngestError, status_errors
from capcover.ingest.feeds import quarantine, record_json
from capcover.ingest.models import Quarantined, Quote, RawResponse
from capcover.ingest.network import Cancelled
from capcover.ingest.quotes import Excluded, RowOutcome, restamped, split_outcomes
from capcover.ingest.ratelimit import Pace
from capcover.ingest.sku import form_factor_of, normalise
from capcover.model.depth import DepthRead, DepthSighting

log = logging.getLogger("capcover")

SOURCE = "gpuhunt"
BASE_URL = DEFAULTS.gpuhunt_base_url  # the settings' defaults: config/defaults.py
STATUS_ERRORS = status_errors(
    auth_advice="the gpuhunt catalogs are public, so the bucket or a proxy refused capcover; "
    "check CAPCOVER_GPUHUNT_BASE_URL or try later"
)
# The providers gpuhunt publishes to the bucket (the others it queries live): the setting's
# default, all of them.
OFFLINE_PROVIDERS = DEFAULTS.gpuhunt_providers
# The catalogs are static files in an S3 bucket; S3 documents at least 5,500 GET requests per
# second per prefix ("Best practices design patterns: optimizing Amazon S3 performance"), far
# above a run's 18 requests: no client-side limit (CAPCOVER_GPUHUNT_RATE_PER_MINUTE sets one).
PACE = Pace(None)
RATE_PER_MINUTE = PACE.per_minute
BINARY_MARKER = "base64:"  # prefix of an archived binary body
# Every column the quote is made of. `flags` and `provider_data` tell a reservation, a cluster
# or a computed price from an on-demand row (row_tier): a catalog without them is refused like
# one without `spot`, never read as "no flags" (gpuhunt's storage.py writes all 14 columns of
# its v2 format, CATALOG_V2_FIELDS, into every catalog it publishes).
REQUIRED_COLUMNS = (
    "instance_name",
    "location",
    "price",
    "gpu_count",
    "gpu_name",
    "spot",
    "flags",
    "provider_data",
)
_VERSION = re.compile(r"^[A-Za-z0-9._-]{1,64}$")

# Method mad3.5-median-v1's list of HGX shapes (frozen; see form_factor_v1). The form factors
# of new quotes come from ingest/data/sku_catalogue.toml's [[instance]] conventions.
HGX_SHAPES_V1 = (
    re.compile(r"^p(4d|4de|5|5e|5en)\.48xlarge$"),
    re.compile(r"^p4d\.24xlarge$|^p4de\.24xlarge$"),
    re.compile(r"^a3-(highgpu|megagpu|ultragpu|edgegpu)-\d+g$"),
    re.compile(r"^Standard_ND\d*[a-z]*_(H100|H200|MI300X)_v5$", re.IGNORECASE),
    re.compile(r"^BM\.GPU\.(H100|H200|B200|A100[-\w]*)\.8$"),
)


class GpuhuntClient(ApiClient):
    """Fetches each configured provider's latest catalog through `HttpSession`, only when its
    version is not one the archive already holds (`known`: provider -> the archived catalog
    record, `same_as` set)."""

    source = SOURCE

    def __init__(
        self,
        *,
        base_url: str = BASE_URL,
        providers: tuple[str, ...] | list[str] = OFFLINE_PROVIDERS,
        rate_per_minute: float | None = None,  # None: PACE
        http: HttpOptions | None = None,
        max_skew_s: float | None = None,  # catalogs carry no timestamps to check
        now: Callable[[], datetime] | None = None,  # None: the wall clock (a replay injects)
        known: Mapping[str, RawResponse] | Callable[[], Mapping[str, RawResponse]] | None = None,
    ) -> None:
        super().__init__(
            source=SOURCE,
            base_url=base_url,
            pace=rate_pace(PACE, rate_per_minute),
            http=http,
            status_mapping=STATUS_ERRORS,
            headers={"Accept": "*/*"},
        )
        self.providers = tuple(providers)
        self.now = now
        # What the archive holds, or how to read it: read when the fetch starts (on the
        # fetch's own worker, beside the other sources), not when the client is made.
        self._known = known
        self.known: dict[str, RawResponse] = {}
        self.failed: dict[str, str] = {}  # provider -> why its catalog is missing this run

    def _get(self, path: str, *, binary: bool = False) -> list[RawResponse]:
        """One request's records, stamped with the run's clock; with `binary`, the answer's
        body is the archived form of its bytes (`base64:` + base64)."""
        exchange = self._exchange("GET", self.session.base_url + path)
        records = list(exchange.records)
        if binary:
            body = BINARY_MARKER + base64.b64encode(exchange.response.content).decode("ascii")
            records[-1] = replace(records[-1], body=body)
        return [restamped(r, self.now) for r in records]

    def _provider(self, provider: str) -> list[RawResponse]:
        """One provider's records: its version answer, then its catalog (fetched, or linked
        to the archived copy when the version is the one the archive holds)."""
        with received([]) as records:
            records += self._get(f"/{provider}/version")
            version = records[-1].body.strip()
            if not _VERSION.match(version):
                raise BadPayload(
                    f"gpuhunt /{provider}/version: not a version string: "
                    f"{version[:40]!r} — the bucket changed; capcover needs an update"
                )
            held = self.known.get(provider)
            if held is not None and held.endpoint == f"/{provider}/{version}/catalog.zip":
                # Unchanged since it was archived: link to that copy, stamped with this run
                # (the quotes it gives are today's offers).
                stamp = (self.now or self.session.now)()
                records.append(replace(held, fetched_at=stamp, elapsed_ms=0.0, attempt=1))
            else:
                records += self._get(f"/{provider}/{version}/catalog.zip", binary=True)
        return records

    def fetch(self) -> list[RawResponse]:
        """Every provider's version and catalog; a provider that fails is logged and left out
        (the others still count). Fails only when no provider answered."""
        known = self._known() if callable(self._known) else self._known
        self.known = dict(known or {})
        self.failed = {}
        records: list[RawResponse] = []
        for provider in self.providers:
            try:
                records += self._provider(provider)
            except Cancelled:
                raise  # the run failed elsewhere: no other provider is asked
            except IngestError as exc:
                records += exc.raws
                self.failed[provider] = str(exc)
        if not self.failed:
            return records
        first = next(iter(self.failed.values()))
        if len(self.failed) == len(self.providers):
            error = IngestError(f"gpuhunt: no provider's catalog could be fetched (first: {first})")
            error.raws = tuple(records)
            raise error
        # Some providers answered: the run goes on with them, saying which did not, once.
        log.warning(
            "gpuhunt: %d of %d provider catalog(s) unavailable this run (%s): %s",
            len(self.failed),
            len(self.providers),
            ", ".join(self.failed),
            first,
        )
        return records

    def parse(self, raws: list[RawResponse]) -> tuple[list[Quote], list[Quarantined]]:
        return parse_raws(raws, max_bytes=self.session.max_body_bytes)

    def outcomes(self, raws: list[RawResponse]) -> list[RowOutcome]:
        return row_outcomes(raws, max_bytes=self.session.max_body_bytes)

    def parts_failed(self, quarantined: list[Quarantined]) -> dict[str, str]:
        """`gpuhunt/<provider>` -> why, for each configured provider left out of this run while
        the others counted: its version or catalog not fetched (`failed`), or its catalog
        quarantined whole by the parse (`quarantined`: unreadable, columns missing, no rows)."""
        out = {f"{SOURCE}/{p}": why for p, why in self.failed.items()}
        out.update(catalogs_left_out(quarantined))
        return dict(sorted(out.items()))


def catalog_bytes(raw: RawResponse) -> bytes:
    """The zip as received (from the archive's `base64:` body)."""
    if not raw.body.startswith(BINARY_MARKER):
        raise BadPayload(
            f"gpuhunt {raw.endpoint}: archived body is not marked binary — "
            f"re-fetch it with this capcover version",
            endpoint=raw.endpoint,
        )
    return base64.b64decode(raw.body[len(BINARY_MARKER) :])


def catalog_rows(
    raw: RawResponse, provider: str, max_bytes: int = DEFAULT_MAX_BYTES
) -> Iterator[dict]:
    """The rows of `{provider}.csv` inside the catalog zip, streamed by the bounded decoders
    (ingest/decode.py: the member within `max_bytes` once expanded, rows and fields bounded)."""
    where = f"gpuhunt {raw.endpoint}"
    data = zip_member(
        catalog_bytes(raw), f"{provider}.csv", where=where, max_bytes=max_bytes, what="catalog zip"
    )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise BadPayload(
            f"{where}: {provider}.csv is not UTF-8 — the bucket changed; capcover needs an update",
            endpoint=raw.endpoint,
        ) from None
    return csv_rows(text, where=f"{where}: {provider}.csv", required=REQUIRED_COLUMNS)


def form_factor_v1(gpu_name: str, instance_name: str) -> str | None:
    """The form factor price method mad3.5-median-v1 gave a gpuhunt row (the GPU or instance
    name's tokens, else the HGX_SHAPES_V1 list; None if untold). Kept, frozen, so `capcover
    verify` re-derives that method's rows bit for bit (model/prices_v1.py); new quotes take
    theirs from the SKU catalogue's instance conventions (ingest/sku.py)."""
    for text in (gpu_name, instance_name):
        found = normalise(text).form_factor
        if found is not None:
            return found
    if any(shape.match(instance_name) for shape in HGX_SHAPES_V1):
        return "SXM"
    return None


# What each flag gpuhunt's providers write means for a price (NOTES.md, "Round 3"; each from
# the provider module named). A flag not listed here is not guessed: the row's tier is
# "unknown" and it prices nothing.
FLAG_TIERS = {
    "gcp-dws-calendar-mode": "reserved",  # gcp.py: DWS calendar mode, capacity booked ahead
    "runpod-cluster": "cluster",  # runpod.py: clusterPrice x maxGpuCount, pods of 2-8 nodes
}
COMPUTED_FLAGS = {
    "oci-spot": "oci-spot: the on-demand price x 0.5 (oci.py _make_spot_offer)",
}
# The `spot` value a flag is only ever written with (oci.py _make_spot_offer sets spot = True
# beside oci-spot; gcp.py and runpod.py write their reservation and cluster rows with
# spot = False): a row saying otherwise contradicts itself, and its tier is not guessed.
FLAG_SPOT = {"oci-spot": True, "gcp-dws-calendar-mode": False, "runpod-cluster": False}
# Flags that gate the row for old dstack versions and say nothing about its price.
NEUTRAL_FLAGS = frozenset({"gcp-a4", "gcp-g4", "runpod-cpu", "lambda-arm"})
# A second copy of a row, published only for an old dstack version.
DUPLICATE_FLAGS = {"gcp-g4-preview": "gcp-g4"}


def row_tier(spot: bool, flags: tuple[str, ...], data: dict) -> tuple[str, str | None]:
    """(tier, why it is unknown or None) of a catalog row from its `spot`, `flags` and
    `provider_data` (GCP's is_dws_calendar_mode must agree with its flag)."""
    unknown = [
        f
        for f in flags
        if f not in FLAG_TIERS
        and f not in COMPUTED_FLAGS
        and f not in NEUTRAL_FLAGS
        and f not in DUPLICATE_FLAGS
    ]
    if unknown:
        return "unknown", f"unknown gpuhunt flag(s) {' '.join(unknown)}: the tier is not guessed"
    dws = data.get("is_dws_calendar_mode") is True
    if dws != ("gcp-dws-calendar-mode" in flags):
        return "unknown", "provider_data is_dws_calendar_mode and the flags disagree"
    tiers = {FLAG_TIERS[f] for f in flags if f in FLAG_TIERS}
    if len(tiers) > 1 or any(FLAG_SPOT.get(f, spot) != spot for f in flags):
        return "unknown", f"flags {' '.join(flags)} with spot={spot} contradict each other"
    if tiers:
        return tiers.pop(), None
    return ("spot" if spot else "on_demand"), None


def catalogs_left_out(quarantined: list[Quarantined]) -> dict[str, str]:
    """`gpuhunt/<provider>` -> why, for the catalogs the parse quarantined whole (see
    row_outcomes: record key the provider, record the catalog's endpoint)."""
    out: dict[str, str] = {}
    for q in quarantined:
        if q.source == SOURCE and q.record_key and q.record_json == _whole(q.endpoint):
            out[f"{SOURCE}/{q.record_key}"] = q.reason
    return out


def _whole(endpoint: str) -> str:
    """The quarantined record of a catalog refused whole."""
    return record_json({"catalog": endpoint})


def parse_raws(
    raws: list[RawResponse], *, max_bytes: int = DEFAULT_MAX_BYTES
) -> tuple[list[Quote], list[Quarantined]]:
    """gpuhunt catalogs (live or archived) -> quotes and quarantined rows (see row_outcomes)."""
    quotes, bad, _left_out = split_outcomes(row_outcomes(raws, max_bytes=max_bytes))
    return quotes, bad


def row_outcomes(
    raws: list[RawResponse], *, max_bytes: int = DEFAULT_MAX_BYTES
) -> list[RowOutcome]:
    """What became of every row of every catalog: one rental quote per (instance type, GPU
    count, spot, flags) at its cheapest location, the other rows left out with the reason, or
    quarantined when malformed.

    Each provider's quotes share one `observed_at`: its catalog response's fetch time (the
    catalog rows carry no timestamp). The tier comes from `spot`, `flags` and `provider_data`
    (row_tier); the form factor from the SKU catalogue (GPU name, instance name, the
    provider's instance conventions).

    A provider's catalog is one unit: one that cannot be read (damaged zip, over the size
    bounds of ingest/decode.py with `max_bytes` for the expanded member, columns missing) or
    holds no row at all is quarantined whole with the reason (row index -1; the run names it
    `gpuhunt/<provider>` among the failed feeds) and the other providers still count; only
    when no catalog can be read does the feed fail (BadPayload).
    """
    broken: list[BadPayload] = []
    catalogs = 0
    outcomes: list[RowOutcome] = []
    for i, raw in enumerate(raws):
        if raw.source != SOURCE or not (200 <= raw.status < 300):
            continue
        parts = raw.endpoint.strip("/").split("/")
        if len(parts) != 3 or parts[2] != "catalog.zip":
            continue
        provider, version = parts[0], parts[1]
        catalogs += 1
        try:  # one provider's catalog is one unit: its failure leaves the others alone
            outcomes.extend(_catalog_outcomes(i, raw, provider, version, max_bytes))
        except BadPayload as exc:
            broken.append(exc)
            outcomes.append(
                RowOutcome((i, -1), quarantine(raw, {"catalog": raw.endpoint}, provider, str(exc)))
            )
    if broken and len(broken) == catalogs:
        raise broken[0]
    outcomes.sort(key=lambda o: o.row)
    return outcomes


def _catalog_outcomes(
    i: int, raw: RawResponse, provider: str, version: str, max_bytes: int
) -> list[RowOutcome]:
    """What became of every row of one provider's catalog (`i`: its index in the raws); the
    rows are streamed (catalog_rows), and only the GPU rows are kept until the cheapest
    location of each offer is known. BadPayload when the catalog cannot be read whole."""
    outcomes: list[RowOutcome] = []
    best: dict[tuple, tuple[float, str, int]] = {}
    counts: dict[tuple, int] = {}
    parsed: dict[int, tuple[tuple, _Row, dict]] = {}
    j = -1
    for j, row in enumerate(catalog_rows(raw, provider, max_bytes)):
        try:
            got = _row(row)
        except ValueError as exc:
            outcomes.append(
                RowOutcome((i, j), quarantine(raw, row, row.get("instance_name"), str(exc)))
            )
            continue
        if isinstance(got, str):
            outcomes.append(RowOutcome((i, j), _left_out(raw, row, got)))
            continue
        key = (got.instance, got.gpus, got.spot, got.flags)
        parsed[j] = (key, got, row)
        counts[key] = counts.get(key, 0) + 1
        if key not in best or (got.price, got.location) < best[key][:2]:
            best[key] = (got.price, got.location, j)
    if j < 0:
        raise BadPayload(
            f"gpuhunt {raw.endpoint}: {provider}.csv has no rows — the bucket published an "
            f"empty catalog; {provider} is left out of this run",
            endpoint=raw.endpoint,
        )
    for j, (key, got, row) in parsed.items():
        if best[key][2] != j:
            where = best[key][1]
            outcomes.append(
                RowOutcome(
                    (i, j),
                    _left_out(
                        raw, row, f"the same offer is kept at its cheapest location ({where})"
                    ),
                )
            )
            continue
        outcomes.append(RowOutcome((i, j), _quote(row, got, provider, version, counts[key], raw)))
    return outcomes


@dataclass(frozen=True)
class _Row:
    instance: str
    location: str
    price: float  # USD per instance-hour
    gpus: int
    spot: bool
    flags: tuple[str, ...]
    data: dict


def _left_out(raw: RawResponse, row: dict, reason: str) -> Excluded:
    return Excluded(raw.source, raw.endpoint, row.get("instance_name"), reason)


def _row(row: dict) -> _Row | str:
    """A GPU row's fields, or the reason it is left out (a str); ValueError when malformed."""
    name = (row.get("gpu_name") or "").strip()
    gpus = _gpu_count(row.get("gpu_count"), name)
    if not name:
        # gpuhunt writes CPU instances with gpu_count 0 and no gpu_name.
        return "no GPU: a CPU instance" if gpus == 0 else f"no gpu_name ({gpus} GPU(s) untold)"
    if normalise(name).sku == "unmapped":
        return f"GPU {name!r} is not in the SKU catalogue (ingest/data/sku_catalogue.toml)"
    try:
        price = float(row["price"])
    except (TypeError, ValueError):
        raise ValueError(f"price: not a number: {row.get('price')!r}") from None
    if not price > 0 or price == float("inf"):
        raise ValueError(f"price: not a positive finite number: {row.get('price')!r}")
    spot = (row.get("spot") or "").strip().lower()
    if spot not in ("true", "false"):
        raise ValueError(f"spot: not True/False: {row.get('spot')!r}")
    instance = (row.get("instance_name") or "").strip()
    if not instance:
        raise ValueError("instance_name: empty")
    try:
        data = loads(row.get("provider_data") or "{}")  # bounded (ingest/decode.py)
    except (ValueError, RecursionError):
        raise ValueError(f"provider_data: not JSON: {row.get('provider_data')!r:.80}") from None
    if not isinstance(data, dict):
        raise ValueError(f"provider_data: not a JSON object: {row.get('provider_data')!r:.80}")
    flags = tuple((row.get("flags") or "").split())
    duplicate = next((f for f in flags if f in DUPLICATE_FLAGS), None)
    if duplicate:
        return (
            f"a copy of the {DUPLICATE_FLAGS[duplicate]} row published for old dstack versions "
            f"(flag {duplicate})"
        )
    return _Row(
        row["instance_name"], row.get("location") or "", price, gpus, spot == "true", flags, data
    )


def _gpu_count(cell: str | None, name: str) -> int:
    """The row's GPU count: a whole number, at least 1 on a row naming a GPU (gpuhunt's
    storage.py requires the cell and reads it with int()); ValueError otherwise, so a row
    whose count makes no sense is quarantined with the reason, never silently dropped."""
    text = (cell or "").strip()
    if not text:
        raise ValueError(
            f"gpu_count: empty on a row naming GPU {name!r}" if name else "gpu_count: empty"
        )
    try:
        gpus = int(text)
    except ValueError:
        raise ValueError(f"gpu_count: not an integer: {cell!r}") from None
    if gpus < 0 or (gpus == 0 and name):
        what = "negative" if gpus < 0 else "0"
        raise ValueError(f"gpu_count: {what} ({cell!r}) on a row naming GPU {name!r}")
    return gpus


def _quote(
    row: dict, got: _Row, provider: str, version: str, locations: int, raw: RawResponse
) -> Quote:
    match = normalise(row["gpu_name"])
    try:
        memory = float(row.get("gpu_memory") or 0) or match.memory_gb
    except ValueError:
        memory = match.memory_gb
    tier, unknown_why = row_tier(got.spot, got.flags, got.data)
    market = "spot" if got.spot else "on-demand"  # gpuhunt's own word for the row
    computed = next((COMPUTED_FLAGS[f] for f in got.flags if f in COMPUTED_FLAGS), None)
    flags = " ".join(got.flags)
    note = f"{got.instance}, cheapest of {locations} location(s), catalog {version}"
    if unknown_why or computed:
        note += f"; {unknown_why or computed}"
    return Quote(
        observed_at=raw.fetched_at,
        source=f"{SOURCE}/{provider}",
        source_url=raw.url,
        kind="rental_hourly",
        sku_label=row["gpu_name"],
        sku=match.sku,
        form_factor=form_factor_of(provider, row["gpu_name"], instance=got.instance),
        form_factor_v1=form_factor_v1(row["gpu_name"], got.instance),
        memory_gb=memory,
        gpu_count_basis=got.gpus,
        price_raw=got.price,
        price_unit="USD/instance-hour",
        currency="USD",
        usd_per_unit=1.0,
        price_usd=got.price / got.gpus,
        tier=tier,
        tier_label=market,
        provider=provider,
        flags=got.flags,
        computed_price=computed is not None,
        region=got.location or None,
        note=note,
        listing_id=f"{provider}|{got.instance}|{got.gpus}|{market}|{flags}",
        capacity_id=got.instance,
        instance_name=got.instance,
    )


# The tiers whose catalog rows are instances one can start now (a reservation books a future
# window; a cluster row prices pods of the same GPUs; an unknown tier is not guessed).
DEPTH_TIERS = ("on_demand", "spot")


def depth_raws(raws: list[RawResponse]) -> DepthRead:
    """What gpuhunt's catalogs list, per provider (`gpuhunt/<provider>`), SKU and form factor.

    A catalog row is an instance type offered at a location, not a count of machines: the
    count is the GPUs of ONE instance of each (instance type, location) pair listed on-demand
    or spot (its largest GPU count: RunPod's rows list each pod size of a GPU type), a floor of
    what the provider lists, never its stock. Rows the quote parser leaves out (CPU instances,
    GPUs outside the SKU catalogue, copies for old dstack versions) and malformed rows count
    nothing. A provider whose catalog did not come (or does not read) is absent and named."""
    out: list[DepthSighting] = []
    asked: set[str] = set()
    read: set[str] = set()
    problems: dict[str, str] = {}
    for raw in raws:
        if raw.source != SOURCE:
            continue
        parts = raw.endpoint.strip("/").split("/")
        if parts and parts[0]:
            asked.add(parts[0])
        if not (200 <= raw.status < 300) or len(parts) != 3 or parts[2] != "catalog.zip":
            continue
        provider, version = parts[0], parts[1]
        try:
            rows = catalog_rows(raw, provider)
        except BadPayload as exc:
            problems[f"{SOURCE}/{provider}"] = str(exc)
            continue
        read.add(provider)
        pairs: dict[tuple[str, str], dict[tuple[str, str], int]] = {}
        for row in rows:
            try:
                got = _row(row)
            except ValueError:
                continue
            if isinstance(got, str):
                continue
            if row_tier(got.spot, got.flags, got.data)[0] not in DEPTH_TIERS:
                continue
            key = (
                normalise(row["gpu_name"]).sku,
                form_factor_of(provider, row["gpu_name"], instance=got.instance),
            )
            held = pairs.setdefault(key, {})
            pair = (got.instance, got.location)
            held[pair] = max(held.get(pair, 0), got.gpus)
        for (sku, form), held in sorted(pairs.items()):
            out.append(
                DepthSighting(
                    source=f"{SOURCE}/{provider}",
                    sku=sku,
                    form_factor=form,
                    gpus_seen=sum(held.values()),
                    offers_seen=len(held),
                    basis=(
                        f"catalog {version}: {len(held)} (instance type, location) pair(s) "
                        f"listed on-demand or spot, one instance of each counted (a listing, "
                        f"not stock)"
                    ),
                    observed_at=raw.fetched_at,
                )
            )
    missing = {f"{SOURCE}/{p}": "no catalog this run" for p in sorted(asked - read)}
    missing.update(problems)
    return DepthRead(out, missing)
