"""RunPod GPU list prices: `POST /graphql` with the `gpuTypes` query, no key.

Prices are USD per GPU-hour, one quote per price field: `securePrice` / `communityPrice`
(on-demand on Secure / Community Cloud), `secureSpotPrice` / `communitySpotPrice` (spot), and
`oneMonthPrice` / `threeMonthPrice` / `sixMonthPrice` (committed terms; RunPod's schema states no
unit, taken as USD per GPU-hour like the others); 0 or null means "not offered there". The
fields `secureCloud` / `communityCloud` (is the GPU offered on that cloud at all) and
`lowestPrice { stockStatus }` (null: none in stock) go on each quote as `unavailable_reason`, so
the price method can leave a listed-but-unavailable price out with that reason (gpuhunt's RunPod
provider queries the same fields, and drops a type whose stockStatus is null). A type whose
answer tells no stock status (lowestPrice null or absent, stockStatus absent or not a status) is
not known to be in stock: unavailable too, never priced as in stock. Depth (`depth_raws`):
`lowestPrice { maxUnreservedGpuCount availableGpuCounts }` say how many GPUs of a type are free
now (the fields SkyPilot's RunPod catalog fetcher and public availability watchers query;
docs/methodology.md, "Depth"). RunPod's CDN has answered the default python-requests
User-Agent with 403, so the session's own User-Agent (capcover/...) is always sent.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from capcover.config.defaults import DEFAULTS
from capcover.ingest.client import ApiClient, HttpOptions, rate_pace
from capcover.ingest.errors import BadPayload, status_errors
from capcover.ingest.feeds import (
    MAX_CLOCK_SKEW_S,
    future_problem,
    load_json,
    positive_number,
    quarantine,
    require_fields,
)
from capcover.ingest.models import Quarantined, Quote, RawResponse
from capcover.ingest.quotes import Excluded, RowOutcome, restamped, split_outcomes
from capcover.ingest.ratelimit import Pace
from capcover.ingest.sku import form_factor_of, normalise
from capcover.model.depth import (
    MAX_GPUS_PER_MACHINE,
    MAX_GPUS_PER_TYPE,
    DepthRead,
    DepthSighting,
    within_ceiling,
)

SOURCE = "runpod"
# 401/403 from a keyless feed is its CDN refusing us: advice names this feed's own setting.
STATUS_ERRORS = status_errors(
    auth_advice="RunPod needs no key, so its CDN refused capcover; check CAPCOVER_RUNPOD_BASE_URL "
    "or try later"
)
BASE_URL = DEFAULTS.runpod_base_url  # the settings' defaults: config/defaults.py
ENDPOINT = "/graphql"
# RunPod publishes no rate limit for its GraphQL API (docs.runpod.io documents limits for
# serverless endpoints only), and a run sends it one query: no client-side limit
# (CAPCOVER_RUNPOD_RATE_PER_MINUTE sets one; a 429 is retried by the HTTP layer anyway).
PACE = Pace(None)
RATE_PER_MINUTE = PACE.per_minute
GPU_TYPES_QUERY = (
    "{gpuTypes{id displayName memoryInGb secureCloud communityCloud securePrice communityPrice "
    "secureSpotPrice communitySpotPrice oneMonthPrice threeMonthPrice sixMonthPrice "
    "lowestPrice(input: {gpuCount: 1}){stockStatus maxUnreservedGpuCount availableGpuCounts}}}"
)
# (price field, tier, cloud): the cloud says which availability field applies ("" none).
SURFACES = (
    ("securePrice", "on_demand", "secure"),
    ("communityPrice", "on_demand", "community"),
    ("secureSpotPrice", "spot", "secure"),
    ("communitySpotPrice", "spot", "community"),
    ("oneMonthPrice", "committed_1m", ""),
    ("threeMonthPrice", "committed_3m", ""),
    ("sixMonthPrice", "committed_6m", ""),
)
# A malformed on-demand price rejects the whole GPU type (as it always has); a malformed
# price of another field rejects that field alone.
WHOLE_TYPE_FIELDS = ("securePrice", "communityPrice")
REQUIRED_FIELDS = ("id", "displayName", "securePrice", "communityPrice")


class RunPodClient(ApiClient):
    """Fetches RunPod's gpuTypes through `HttpSession` (pacing, retries, archive records)."""

    source = SOURCE

    def __init__(
        self,
        *,
        base_url: str = BASE_URL,
        rate_per_minute: float | None = None,  # None: PACE
        http: HttpOptions | None = None,
        max_skew_s: float = MAX_CLOCK_SKEW_S,
        now: Callable[[], datetime] | None = None,  # None: the wall clock (a replay injects)
    ) -> None:
        self.max_skew_s = max_skew_s
        super().__init__(
            source=SOURCE,
            base_url=base_url,
            pace=rate_pace(PACE, rate_per_minute),
            http=http,
            status_mapping=STATUS_ERRORS,
            headers={"Content-Type": "application/json"},
        )
        # Quotes are stamped with the fetch time (the feed has none of its own): a replay's
        # clock makes a replayed day's quotes belong to that day.
        self.now = now

    def fetch(self) -> list[RawResponse]:
        """The query's records (its answer last), stamped with the run's clock."""
        exchange = self._exchange(
            "POST", self.session.base_url + ENDPOINT, json={"query": GPU_TYPES_QUERY}
        )
        return [restamped(r, self.now) for r in exchange.records]

    def parse(self, raws: list[RawResponse]) -> tuple[list[Quote], list[Quarantined]]:
        return parse_raws(raws, max_skew_s=self.max_skew_s)

    def outcomes(self, raws: list[RawResponse]) -> list[RowOutcome]:
        return row_outcomes(raws, max_skew_s=self.max_skew_s)


def _gpu_types(raw: RawResponse) -> list:
    payload = load_json(raw)
    if isinstance(payload, dict) and payload.get("errors"):
        errors = payload["errors"]
        first = errors[0] if isinstance(errors, list) else errors
        message = first.get("message") if isinstance(first, dict) else first
        message = " ".join(str(message).split())[:160]
        raise BadPayload(f"runpod {raw.endpoint}: GraphQL error: {message}", endpoint=raw.endpoint)
    data = payload.get("data") if isinstance(payload, dict) else None
    types = data.get("gpuTypes") if isinstance(data, dict) else None
    if not isinstance(types, list):
        raise BadPayload(
            f"runpod {raw.endpoint}: no data.gpuTypes list in the answer — the "
            f"API changed shape; capcover needs an update",
            endpoint=raw.endpoint,
        )
    return types


def parse_raws(
    raws: list[RawResponse], *, max_skew_s: float = MAX_CLOCK_SKEW_S
) -> tuple[list[Quote], list[Quarantined]]:
    """RunPod responses (live or archived) -> quotes and quarantined GPU types."""
    quotes, bad, _left_out = split_outcomes(row_outcomes(raws, max_skew_s=max_skew_s))
    return quotes, bad


def row_outcomes(
    raws: list[RawResponse], *, max_skew_s: float = MAX_CLOCK_SKEW_S
) -> list[RowOutcome]:
    """What became of every GPU type: a quote per price field it lists, the fields it does not
    list left out ("not offered"), a malformed type (or field) quarantined."""
    ok = [
        (i, r)
        for i, r in enumerate(raws)
        if r.source == SOURCE and r.endpoint == ENDPOINT and 200 <= r.status < 300
    ]
    outcomes: list[RowOutcome] = []
    for i, raw in ok[-1:]:  # one query per run; a replayed archive may hold retried answers
        types = _gpu_types(raw)
        require_fields(raw, types, REQUIRED_FIELDS)
        for j, gpu in enumerate(types):
            if not isinstance(gpu, dict):
                why = f"not an object: {type(gpu).__name__}"
                outcomes.append(RowOutcome((i, j), quarantine(raw, gpu, None, why)))
                continue
            problem = future_problem("observed_at", raw.fetched_at, raw.fetched_at, max_skew_s)
            try:
                found = gpu_type_outcomes(gpu, raw)
            except (ValueError, TypeError) as exc:
                reason = " ".join(str(exc).split())[:300]
                outcomes.append(RowOutcome((i, j), quarantine(raw, gpu, gpu.get("id"), reason)))
                continue
            if problem:  # no feed timestamp: the quotes are stamped with the fetch time
                outcomes.append(RowOutcome((i, j), quarantine(raw, gpu, gpu.get("id"), problem)))
                continue
            outcomes.extend(RowOutcome((i, j), result) for result in found)
    return outcomes


def gpu_type_to_quotes(gpu: dict, raw: RawResponse) -> list[Quote]:
    """The quotes of one GPU type (its fields not offered and malformed fields left out)."""
    return [r for r in gpu_type_outcomes(gpu, raw) if isinstance(r, Quote)]


def stock_asked(raw: RawResponse) -> bool:
    """Whether the query this answers asked for `lowestPrice { stockStatus }` (capcover's has
    since migration 050; an archived answer to the older four-price query says nothing of
    stock, and is replayed as it was priced then)."""
    return "lowestPrice" in (raw.request_body or "")


def _unavailable(gpu: dict, cloud: str, stock: bool = True) -> str | None:
    """Why a listed price of `cloud` cannot be had now, from the type's own fields; with
    `stock` (the query asked for it), a type whose answer does not tell a stock status is
    not known to be in stock, so it is not priced as if it were."""
    if cloud:
        offered = gpu.get(f"{cloud}Cloud")
        if offered is False:
            return f"RunPod does not offer it on {cloud.title()} Cloud ({cloud}Cloud false)"
    if not stock:
        return None
    if "lowestPrice" not in gpu:
        return "stock not told (no lowestPrice in the answer): not known to be in stock"
    lowest = gpu["lowestPrice"]
    if lowest is None:
        return "stock not told (lowestPrice null): not known to be in stock"
    if not isinstance(lowest, dict):
        return f"stock not told (lowestPrice {type(lowest).__name__}): not known to be in stock"
    if "stockStatus" not in lowest:
        return "stock not told (no lowestPrice.stockStatus): not known to be in stock"
    status = lowest["stockStatus"]
    if status is None:
        return "none in stock (lowestPrice.stockStatus null)"
    if not isinstance(status, str) or not status.strip():
        return f"stock status {status!r:.40} is not one RunPod gives: not known to be in stock"
    return None


def gpu_type_outcomes(gpu: dict, raw: RawResponse) -> list[Quote | Quarantined | Excluded]:
    """One outcome per price field of a GPU type; ValueError when the type itself is bad
    (no id, a malformed on-demand price)."""
    gid, name = gpu["id"], gpu.get("displayName")
    if not isinstance(gid, str) or not gid.strip():
        raise ValueError("id: empty")
    label = f"{gid} ({name})" if isinstance(name, str) and name and name != gid else gid
    prices: dict[str, float | None] = {}
    results: list[Quote | Quarantined | Excluded] = []
    for field, _tier, _cloud in SURFACES:
        try:
            prices[field] = positive_number(gpu.get(field))
        except ValueError as exc:
            if field in WHOLE_TYPE_FIELDS:
                raise ValueError(f"{field}: {exc}") from None
            prices[field] = None
            results.append(quarantine(raw, gpu, f"{gid}|{field}", f"{field}: {exc}"))
    match = normalise(label)
    given = gpu.get("memoryInGb")
    plausible = isinstance(given, int | float) and not isinstance(given, bool) and 0 < given < 1e6
    memory = float(given) if plausible and given is not None else match.memory_gb
    form = form_factor_of(SOURCE, label, instance=gid)
    stock = stock_asked(raw)
    for field, tier, cloud in SURFACES:
        price = prices[field]
        if price is None:
            if gpu.get(field) is None or gpu.get(field) == 0:
                results.append(
                    Excluded(
                        raw.source,
                        raw.endpoint,
                        f"{gid}|{field}",
                        f"not offered ({field} 0 or null)",
                    )
                )
            continue
        surface = f"{cloud} cloud" if cloud else "term"
        results.append(
            Quote(
                observed_at=raw.fetched_at,
                source=SOURCE,
                source_url=raw.url,
                kind="rental_hourly",
                sku_label=label,
                sku=match.sku,
                form_factor=form,
                form_factor_v1=match.form_factor,
                memory_gb=memory,
                gpu_count_basis=1,
                price_raw=price,
                price_unit="USD/GPU-hour",
                currency="USD",
                usd_per_unit=1.0,
                price_usd=price,
                tier=tier,
                tier_label=_LABELS[field],
                provider=SOURCE,
                unavailable_reason=_unavailable(gpu, cloud, stock),
                note=f"{field}",
                # The first two keep the ids of the years before the other fields were read.
                listing_id=f"{gid}|{cloud}" if field in WHOLE_TYPE_FIELDS else f"{gid}|{field}",
                capacity_id=f"{gid}|{surface}",
                instance_name=gid,
            )
        )
    return results


# The feed's own words for each field (`tier_label`): the first two as stored before
# migration 050, so the quotes' natural keys (and ids) stay what they were.
_LABELS = {
    "securePrice": "secure cloud, on-demand",
    "communityPrice": "community cloud, on-demand",
    "secureSpotPrice": "secure cloud, spot",
    "communitySpotPrice": "community cloud, spot",
    "oneMonthPrice": "1-month term",
    "threeMonthPrice": "3-month term",
    "sixMonthPrice": "6-month term",
}


def _count(value: object) -> int | None:
    """A non-negative integer count, or None."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        return None
    return value


def stock_of(gpu: dict) -> tuple[int | None, str]:
    """(GPUs rentable now, the basis in words) from a GPU type's `lowestPrice` stock fields:
    `maxUnreservedGpuCount` (the GPUs of the type free now) when it is a count, else the largest
    pod size in `availableGpuCounts` (a floor), else no number: a `stockStatus` word is recorded
    but counts nothing, and a null `stockStatus` (none in stock) counts 0."""
    lowest = gpu.get("lowestPrice")
    if not isinstance(lowest, dict):
        return None, "no lowestPrice stock fields in the answer"
    status = lowest.get("stockStatus")
    said = f"stockStatus {status}" if isinstance(status, str) else "stockStatus null"
    left_out = []  # implausible counts (model/depth.py ceilings), named in the basis
    free = _count(lowest.get("maxUnreservedGpuCount"))
    if free is not None and not within_ceiling(free, MAX_GPUS_PER_TYPE):
        left_out.append(
            f"maxUnreservedGpuCount {free} left out: above {MAX_GPUS_PER_TYPE:,} GPUs of a type"
        )
        free = None
    if free is not None:
        return free, f"lowestPrice.maxUnreservedGpuCount {free} ({said})"
    sizes = lowest.get("availableGpuCounts")
    if isinstance(sizes, list):
        counts = [c for c in (_count(s) for s in sizes) if c is not None]
        too_big = [c for c in counts if not within_ceiling(c, MAX_GPUS_PER_MACHINE)]
        if too_big:
            left_out.append(
                f"availableGpuCounts {too_big} left out: above {MAX_GPUS_PER_MACHINE} GPUs a "
                "pod's machine holds"
            )
        counts = [c for c in counts if c not in too_big]
        if counts:
            return max(counts), "; ".join(
                [
                    f"largest pod size in lowestPrice.availableGpuCounts {counts} ({said}): "
                    "a floor",
                    *left_out,
                ]
            )
    if left_out:
        return None, "; ".join([f"no plausible stock count in the answer ({said})", *left_out])
    if "stockStatus" in lowest and status is None:
        return 0, "none in stock (lowestPrice.stockStatus null)"
    if isinstance(status, str):
        return None, f"stockStatus {status}, no count in the answer"
    return None, "no stock count in the answer"


def depth_raws(raws: list[RawResponse]) -> DepthRead:
    """How many GPUs RunPod showed as rentable now, one sighting per GPU type (stock_of),
    from the run's last answer (model/depth.py merges types of one SKU and form factor)."""
    ok = [r for r in raws if r.source == SOURCE and r.endpoint == ENDPOINT and r.status // 100 == 2]
    out = []
    for raw in ok[-1:]:
        for gpu in _gpu_types(raw):
            if not isinstance(gpu, dict):
                continue
            gid, name = gpu.get("id"), gpu.get("displayName")
            if not isinstance(gid, str) or not gid.strip():
                continue
            label = f"{gid} ({name})" if isinstance(name, str) and name and name != gid else gid
            sku = normalise(label).sku
            if sku == "unmapped":
                continue
            gpus, basis = stock_of(gpu)
            out.append(
                DepthSighting(
                    source=SOURCE,
                    sku=sku,
                    form_factor=form_factor_of(SOURCE, label, instance=gid),
                    gpus_seen=gpus,
                    offers_seen=1,
                    basis=f"{gid}: {basis}",
                    observed_at=raw.fetched_at,
                )
            )
    return DepthRead(out)
