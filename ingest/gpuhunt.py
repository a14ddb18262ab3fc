"""dstack's gpuhunt catalogs: the offers of hyperscalers and neoclouds, public and keyless.

Per provider, `GET {root}/{provider}/version` gives the catalog version (e.g. `20260818-42`),
then `GET {root}/{provider}/{version}/catalog.zip` holds one `{provider}.csv` (columns in
../shared/reference/gpu-feeds/gpuhunt_catalog_csv_schema.txt). Both go through capcover's
HTTP layer (rate limit, retries, timeouts, raw archive). The zip is archived losslessly as
`base64:` + its bytes in base64, so `capcover rebuild` re-parses exactly what was received.

Quotes: one per (provider, instance type, spot/on-demand) at its cheapest location, for rows
with GPUs whose `gpu_name` maps to a catalogue SKU. `price` is USD per INSTANCE-hour; the
quote is that divided by `gpu_count`. The source is `gpuhunt/{provider}`, so each provider is
its own source for "latest quotes per source". gpuhunt folds H100 SXM and PCIe into `H100`, so
the form factor comes from the instance name (tokens such as `sxm5`, `pcie`) or from the
8-GPU HGX shapes listed in HGX_SHAPES; a row neither tells is stored with form factor unknown.
"""

from __future__ import annotations

import base64
import logging
import re
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import datetime

from capcover.ingest.client import ArchivingClient, HttpOptions
from capcover.ingest.decode import DEFAULT_MAX_BYTES, csv_rows, zip_member
from capcover.ingest.errors import BadPayload, IngestError, status_errors
from capcover.ingest.feeds import quarantine
from capcover.ingest.http import RawResponse
from capcover.ingest.models import Quarantined, Quote
from capcover.ingest.quotes import restamped
from capcover.ingest.sku import normalise

log = logging.getLogger("capcover")

SOURCE = "gpuhunt"
BASE_URL = "https://dstack-gpu-pricing.s3.eu-west-1.amazonaws.com/v3"
STATUS_ERRORS = status_errors(
    auth_advice="the gpuhunt catalogs are public, so the bucket or a proxy refused capcover; "
    "check CAPCOVER_GPUHUNT_BASE_URL or try later"
)
# The providers gpuhunt publishes to the bucket (the others it queries live).
OFFLINE_PROVIDERS = (
    "aws",
    "azure",
    "verda",
    "gcp",
    "lambdalabs",
    "nebius",
    "oci",
    "runpod",
    "cloudrift",
)
RATE_PER_MINUTE = 60.0
BINARY_MARKER = "base64:"  # prefix of an archived binary body
REQUIRED_COLUMNS = ("instance_name", "location", "price", "gpu_count", "gpu_name", "spot")
_VERSION = re.compile(r"^[A-Za-z0-9._-]{1,64}$")

# Instance shapes that are HGX boards, hence SXM parts, although their names do not say so
# (NOTES.md "gpuhunt catalogs"): AWS p4d/p4de/p5/p5e/p5en, GCP A3, Azure ND v5, OCI BM.GPU.*.8.
HGX_SHAPES = (
    re.compile(r"^p(4d|4de|5|5e|5en)\.48xlarge$"),
    re.compile(r"^p4d\.24xlarge$|^p4de\.24xlarge$"),
    re.compile(r"^a3-(highgpu|megagpu|ultragpu|edgegpu)-\d+g$"),
    re.compile(r"^Standard_ND\d*[a-z]*_(H100|H200|MI300X)_v5$", re.IGNORECASE),
    re.compile(r"^BM\.GPU\.(H100|H200|B200|A100[-\w]*)\.8$"),
)


class GpuhuntClient(ArchivingClient):
    """Fetches each configured provider's latest catalog through `HttpSession`."""

    source = SOURCE

    def __init__(
        self,
        *,
        base_url: str = BASE_URL,
        providers: tuple[str, ...] | list[str] = OFFLINE_PROVIDERS,
        rate_per_minute: float = RATE_PER_MINUTE,
        http: HttpOptions | None = None,
        max_skew_s: float | None = None,  # catalogs carry no timestamps to check
        now: Callable[[], datetime] | None = None,  # None: the wall clock (a replay injects)
    ) -> None:
        super().__init__(
            source=SOURCE,
            base_url=base_url,
            rate_per_minute=rate_per_minute,
            http=http,
            status_mapping=STATUS_ERRORS,
            headers={"Accept": "*/*"},
        )
        self.providers = tuple(providers)
        self.now = now
        self.failed: dict[str, str] = {}  # provider -> why its catalog is missing this run

    def _get(self, path: str, *, binary: bool = False) -> RawResponse:
        exchange = self._exchange("GET", self.session.base_url + path)
        raw = exchange.record
        if binary:
            body = BINARY_MARKER + base64.b64encode(exchange.response.content).decode("ascii")
            raw = replace(raw, body=body)
        raw = restamped(raw, self.now)
        self.archive[-1] = raw
        return raw

    def fetch(self) -> list[RawResponse]:
        """Every provider's version and catalog; a provider that fails is logged and left out
        (the others still count). Fails only when no provider answered."""
        for provider in self.providers:
            try:
                version = self._get(f"/{provider}/version").body.strip()
                if not _VERSION.match(version):
                    raise BadPayload(
                        f"gpuhunt /{provider}/version: not a version string: "
                        f"{version[:40]!r} — the bucket changed; capcover needs "
                        f"an update"
                    )
                self._get(f"/{provider}/{version}/catalog.zip", binary=True)
            except IngestError as exc:
                self.failed[provider] = str(exc)
                log.warning("gpuhunt %s: catalog unavailable this run: %s", provider, exc)
        if self.providers and len(self.failed) == len(self.providers):
            raise IngestError(
                f"gpuhunt: no provider's catalog could be fetched (first: "
                f"{next(iter(self.failed.values()))})"
            )
        return list(self.archive)

    def parse(self, raws: list[RawResponse]) -> tuple[list[Quote], list[Quarantined]]:
        return parse_raws(raws, max_bytes=self.session.max_body_bytes)


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


def form_factor_of(gpu_name: str, instance_name: str) -> str | None:
    """SXM, PCIe, NVL from the GPU or instance name, SXM for an HGX shape; None if untold."""
    for text in (gpu_name, instance_name):
        found = normalise(text).form_factor
        if found is not None:
            return found
    if any(shape.match(instance_name) for shape in HGX_SHAPES):
        return "SXM"
    return None


def parse_raws(
    raws: list[RawResponse], *, max_bytes: int = DEFAULT_MAX_BYTES
) -> tuple[list[Quote], list[Quarantined]]:
    """gpuhunt catalogs (live or archived) -> one rental quote per (provider, instance, spot).

    Each provider's quotes share one `observed_at`: its catalog response's fetch time (the
    catalog rows carry no timestamp). Rows without GPUs or with an unmapped GPU are left out;
    malformed GPU rows are quarantined. A provider's catalog that cannot be read (damaged zip,
    over the size bounds, columns missing) is quarantined with the reason and the other
    providers still count; only when no catalog can be read does the feed fail.
    """
    quotes: list[Quote] = []
    bad: list[Quarantined] = []
    broken: list[BadPayload] = []
    catalogs = 0
    for raw in raws:
        if raw.source != SOURCE or not (200 <= raw.status < 300):
            continue
        parts = raw.endpoint.strip("/").split("/")
        if len(parts) != 3 or parts[2] != "catalog.zip":
            continue
        catalogs += 1
        try:  # one provider's catalog is one unit: its failure leaves the others alone
            found, rejected = _parse_catalog(raw, parts[0], parts[1], max_bytes)
        except BadPayload as exc:
            broken.append(exc)
            bad.append(quarantine(raw, {"catalog": raw.endpoint}, parts[0], str(exc)))
            continue
        quotes.extend(found)
        bad.extend(rejected)
    if broken and len(broken) == catalogs:
        raise broken[0]
    return quotes, bad


def _parse_catalog(
    raw: RawResponse, provider: str, version: str, max_bytes: int
) -> tuple[list[Quote], list[Quarantined]]:
    """One provider's catalog -> its quotes and its quarantined rows."""
    quotes: list[Quote] = []
    bad: list[Quarantined] = []
    best: dict[tuple[str, bool], tuple[float, str, dict]] = {}
    counts: dict[tuple[str, bool], int] = {}
    for row in catalog_rows(raw, provider, max_bytes):
        try:
            parsed = _row(row)
        except ValueError as exc:
            bad.append(quarantine(raw, row, row.get("instance_name"), str(exc)))
            continue
        if parsed is None:
            continue
        key, price = parsed
        counts[key] = counts.get(key, 0) + 1
        candidate = (price, row["location"], row)
        if key not in best or candidate[:2] < best[key][:2]:
            best[key] = candidate
    for key in sorted(best):
        price, _loc, row = best[key]
        quotes.append(_quote(row, price, key[1], provider, version, counts[key], raw))
    return quotes, bad


def _row(row: dict) -> tuple[tuple[str, bool], float] | None:
    """((instance, spot), price per instance-hour) of a GPU row; None for rows left out."""
    try:
        gpus = int(row.get("gpu_count") or 0)
    except ValueError:
        raise ValueError(f"gpu_count: not an integer: {row.get('gpu_count')!r}") from None
    name = (row.get("gpu_name") or "").strip()
    if gpus <= 0 or not name or normalise(name).sku == "unmapped":
        return None
    try:
        price = float(row["price"])
    except (TypeError, ValueError):
        raise ValueError(f"price: not a number: {row.get('price')!r}") from None
    if not price > 0 or price == float("inf"):
        raise ValueError(f"price: not a positive finite number: {row.get('price')!r}")
    spot = (row.get("spot") or "").strip().lower()
    if spot not in ("true", "false"):
        raise ValueError(f"spot: not True/False: {row.get('spot')!r}")
    if not (row.get("instance_name") or "").strip():
        raise ValueError("instance_name: empty")
    return (row["instance_name"], spot == "true"), price


def _quote(
    row: dict,
    price: float,
    spot: bool,
    provider: str,
    version: str,
    locations: int,
    raw: RawResponse,
) -> Quote:
    gpus = int(row["gpu_count"])
    match = normalise(row["gpu_name"])
    try:
        memory = float(row.get("gpu_memory") or 0) or match.memory_gb
    except ValueError:
        memory = match.memory_gb
    market = "spot" if spot else "on-demand"
    return Quote(
        observed_at=raw.fetched_at,
        source=f"{SOURCE}/{provider}",
        source_url=raw.url,
        kind="rental_hourly",
        sku_label=row["gpu_name"],
        sku=match.sku,
        form_factor=form_factor_of(row["gpu_name"], row["instance_name"]),
        memory_gb=memory,
        gpu_count_basis=gpus,
        price_raw=price,
        price_unit="USD/instance-hour",
        currency="USD",
        usd_per_unit=1.0,
        price_usd=price / gpus,
        tier=market,
        region=row["location"] or None,
        note=f"{row['instance_name']}, cheapest of {locations} location(s), catalog {version}",
        listing_id=f"{provider}|{row['instance_name']}|{market}",
    )
