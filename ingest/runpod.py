"""RunPod GPU list prices: `POST /graphql` with the `gpuTypes` query, no key.

Prices are USD per GPU-hour, one per surface: `securePrice` (Secure Cloud) and `communityPrice`
(Community Cloud); 0 or null means "not offered there". Spot prices (interruptible) are left
out, as Vast.ai bids are. RunPod's CDN has answered the default python-requests User-Agent with
403, so the session's own User-Agent (capcover/...) is always sent.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from capcover.ingest.client import ArchivingClient, HttpOptions
from capcover.ingest.errors import BadPayload, status_errors
from capcover.ingest.feeds import (
    MAX_CLOCK_SKEW_S,
    future_problem,
    load_json,
    positive_number,
    quarantine,
    require_fields,
)
from capcover.ingest.http import RawResponse
from capcover.ingest.models import Quarantined, Quote
from capcover.ingest.quotes import restamped
from capcover.ingest.sku import normalise

SOURCE = "runpod"
# 401/403 from a keyless feed is its CDN refusing us: advice names this feed's own setting.
STATUS_ERRORS = status_errors(
    auth_advice="RunPod needs no key, so its CDN refused capcover; check CAPCOVER_RUNPOD_BASE_URL "
    "or try later"
)
BASE_URL = "https://api.runpod.io"
ENDPOINT = "/graphql"
RATE_PER_MINUTE = 30.0
GPU_TYPES_QUERY = (
    "{gpuTypes{id displayName memoryInGb secureCloud communityCloud securePrice communityPrice "
    "secureSpotPrice communitySpotPrice}}"
)
# (tier, price field, the flag saying whether the GPU is offered on that surface at all): a
# price listed for a surface whose flag is false is no offer (NOTES.md: a communityPrice can be
# listed for a GPU whose communityCloud is false). Answers without the flags (archived before
# it was asked for) keep their prices.
SURFACES = (
    ("secure", "securePrice", "secureCloud"),
    ("community", "communityPrice", "communityCloud"),
)
REQUIRED_FIELDS = ("id", "displayName", "securePrice", "communityPrice")


class RunPodClient(ArchivingClient):
    """Fetches RunPod's gpuTypes through `HttpSession` (rate limit, retries, raw archive)."""

    source = SOURCE

    def __init__(
        self,
        *,
        base_url: str = BASE_URL,
        rate_per_minute: float = RATE_PER_MINUTE,
        http: HttpOptions | None = None,
        max_skew_s: float = MAX_CLOCK_SKEW_S,
        now: Callable[[], datetime] | None = None,  # None: the wall clock (a replay injects)
    ) -> None:
        self.max_skew_s = max_skew_s
        super().__init__(
            source=SOURCE,
            base_url=base_url,
            rate_per_minute=rate_per_minute,
            http=http,
            status_mapping=STATUS_ERRORS,
            headers={"Content-Type": "application/json"},
        )
        # Quotes are stamped with the fetch time (the feed has none of its own): a replay's
        # clock makes a replayed day's quotes belong to that day.
        self.now = now

    def fetch(self) -> list[RawResponse]:
        self._fetch("POST", self.session.base_url + ENDPOINT, json={"query": GPU_TYPES_QUERY})
        self.archive[-1] = restamped(self.archive[-1], self.now)
        return list(self.archive)

    def parse(self, raws: list[RawResponse]) -> tuple[list[Quote], list[Quarantined]]:
        return parse_raws(raws, max_skew_s=self.max_skew_s)


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
    """RunPod responses (live or archived) -> one rental quote per GPU type and surface."""
    ok = [
        r for r in raws if r.source == SOURCE and r.endpoint == ENDPOINT and 200 <= r.status < 300
    ]
    quotes: dict[str | None, Quote] = {}
    bad: list[Quarantined] = []
    for raw in ok[-1:]:  # one query per run; a replayed archive may hold retried answers
        types = _gpu_types(raw)
        require_fields(raw, types, REQUIRED_FIELDS)
        for gpu in types:
            if not isinstance(gpu, dict):
                bad.append(quarantine(raw, gpu, None, f"not an object: {type(gpu).__name__}"))
                continue
            try:
                found = gpu_type_to_quotes(gpu, raw)
            except (ValueError, TypeError) as exc:
                bad.append(quarantine(raw, gpu, gpu.get("id"), " ".join(str(exc).split())[:300]))
                continue
            problem = next(
                (
                    p
                    for q in found
                    if (
                        p := future_problem(
                            "observed_at", q.observed_at, raw.fetched_at, max_skew_s
                        )
                    )
                ),
                None,
            )
            if problem:
                bad.append(quarantine(raw, gpu, gpu.get("id"), problem))
                continue
            quotes.update((q.listing_id, q) for q in found)
    return list(quotes.values()), bad


def gpu_type_to_quotes(gpu: dict, raw: RawResponse) -> list[Quote]:
    gid, name = gpu["id"], gpu.get("displayName")
    if not isinstance(gid, str) or not gid.strip():
        raise ValueError("id: empty")
    label = f"{gid} ({name})" if isinstance(name, str) and name and name != gid else gid
    prices: dict[str, float | None] = {}
    for tier, field, offered in SURFACES:
        if gpu.get(offered) is False:
            prices[tier] = None  # not offered there, whatever price is listed
            continue
        try:
            prices[tier] = positive_number(gpu.get(field))
        except ValueError as exc:
            raise ValueError(f"{field}: {exc}") from None
    match = normalise(label)
    given = gpu.get("memoryInGb")
    plausible = isinstance(given, int | float) and not isinstance(given, bool) and 0 < given < 1e6
    memory = float(given) if plausible and given is not None else match.memory_gb
    return [
        Quote(
            observed_at=raw.fetched_at,
            source=SOURCE,
            source_url=raw.url,
            kind="rental_hourly",
            sku_label=label,
            sku=match.sku,
            form_factor=match.form_factor,
            memory_gb=memory,
            gpu_count_basis=1,
            price_raw=price,
            price_unit="USD/GPU-hour",
            currency="USD",
            usd_per_unit=1.0,
            price_usd=price,
            tier=f"{tier} cloud, on-demand",
            listing_id=f"{gid}|{tier}",
        )
        for tier, price in prices.items()
        if price is not None
    ]
