"""Vast.ai marketplace offers: `GET /api/v0/bundles/?q=<JSON>`, no key.

One query per GPU name of interest, on-demand only (bids excluded), verified, rentable and not
rented, ordered by `dph_total` ascending. Vast.ai caps a page at 64 offers, so a full page is
followed by the next one with a price cursor (`dph_total >= last price seen`, offers de-duplicated
by id) until a page is not full, up to `max_pages`. Prices: `dph_total` is USD per
INSTANCE-hour (storage included); the quote is that divided by `num_gpus`.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable
from datetime import datetime

from capcover.ingest.client import ApiClient, HttpOptions, rate_pace, received
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
from capcover.ingest.quotes import restamped
from capcover.ingest.ratelimit import Pace
from capcover.ingest.sku import normalise

log = logging.getLogger("capcover")

SOURCE = "vastai"
# 401/403 from a keyless feed is its CDN refusing us: advice names this feed's own setting.
STATUS_ERRORS = status_errors(
    auth_advice="Vast.ai needs no key, so its CDN refused capcover; check CAPCOVER_VASTAI_BASE_URL "
    "or try later"
)
BASE_URL = "https://console.vast.ai"
ENDPOINT = "/api/v0/bundles/"
PAGE_CAP = 64  # Vast.ai returns at most 64 offers per query
MAX_PAGES = 8  # per GPU name: the 512 cheapest offers are plenty for a median
# Vast.ai "applies rate limits per endpoint and per identity ... enforced as a minimum interval
# between requests" and sends no Retry-After (docs.vast.ai, "Rate Limits and Errors"); the
# interval is not published (its own CLI retries a 429 after 0.15 s, x1.5 each time). So
# requests are spread evenly, 30 a minute (one every 2 s); CAPCOVER_VASTAI_RATE_PER_MINUTE.
PACE = Pace(30.0, spread=True)
RATE_PER_MINUTE = PACE.per_minute
# Vast.ai's own names (its `gpu_name` field) for the SKUs capcover's scenarios use.
DEFAULT_GPU_NAMES = ("H100 SXM", "H100 PCIE", "H100 NVL", "H200", "H200 NVL", "B200")
REQUIRED_FIELDS = ("id", "gpu_name", "num_gpus", "dph_total")


def offer_query(gpu_name: str, min_dph_total: float | None = None) -> dict:
    """The bundles query for one GPU name: on-demand, verified, rentable, cheapest first."""
    q: dict = {
        "gpu_name": {"eq": gpu_name},
        "rentable": {"eq": True},
        "rented": {"eq": False},
        "verified": {"eq": True},
        "type": "on-demand",
        "order": [["dph_total", "asc"]],
        "limit": PAGE_CAP,
    }
    if min_dph_total is not None:
        q["dph_total"] = {"gte": min_dph_total}
    return q


class VastAiClient(ApiClient):
    """Fetches Vast.ai offers through `HttpSession` (pacing, retries, archive records)."""

    source = SOURCE

    def __init__(
        self,
        *,
        base_url: str = BASE_URL,
        gpu_names: tuple[str, ...] | list[str] = DEFAULT_GPU_NAMES,
        max_pages: int = MAX_PAGES,
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
        )
        # Quotes are stamped with the fetch time (the feed has none of its own): a replay's
        # clock makes a replayed day's quotes belong to that day.
        self.now = now
        self.gpu_names = tuple(gpu_names)
        self.max_pages = max_pages

    def bundles(self, query: dict) -> list[RawResponse]:
        """One query's records (its answer last), stamped with the run's clock."""
        text = json.dumps(query, separators=(",", ":"), sort_keys=True)
        exchange = self._exchange("GET", self.session.base_url + ENDPOINT, params={"q": text})
        return [restamped(r, self.now) for r in exchange.records]

    def fetch(self) -> list[RawResponse]:
        """Every page of every GPU name: the records received, in order (a failure carries
        them in `.raws`)."""
        with received([]) as records:
            self._pages(records)
        return records

    def _pages(self, records: list[RawResponse]) -> None:
        for name in self.gpu_names:
            seen: set = set()
            cursor = None
            for _page in range(self.max_pages):
                page = self.bundles(offer_query(name, cursor))
                records += page
                offers = _offers(page[-1])
                objects = [o for o in offers if isinstance(o, dict)]
                new = [o for o in objects if str(o.get("id")) not in seen]
                seen.update(str(o.get("id")) for o in new)
                if len(offers) < PAGE_CAP or not new:
                    break
                prices = [o["dph_total"] for o in objects if _is_number(o.get("dph_total"))]
                if not prices:
                    break
                cursor = max(prices)
            else:
                log.warning(
                    "vastai %s: still %d offers per page after %d pages; using the cheapest %d",
                    name,
                    PAGE_CAP,
                    self.max_pages,
                    len(seen),
                )

    def parse(self, raws: list[RawResponse]) -> tuple[list[Quote], list[Quarantined]]:
        return parse_raws(raws, max_skew_s=self.max_skew_s)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _offers(raw: RawResponse) -> list:
    payload = load_json(raw)
    if not isinstance(payload, dict) or not isinstance(payload.get("offers"), list):
        raise BadPayload(
            f"vastai {raw.endpoint}: no `offers` list in the answer — the API "
            f"changed shape; capcover needs an update",
            endpoint=raw.endpoint,
        )
    return payload["offers"]


def parse_raws(
    raws: list[RawResponse], *, max_skew_s: float = MAX_CLOCK_SKEW_S
) -> tuple[list[Quote], list[Quarantined]]:
    """Vast.ai responses (live or archived) -> one rental quote per on-demand offer.

    All offers of one fetch share one `observed_at`: the first response's fetch time (the
    feed has no timestamp of its own). Bids, unverified, unrentable or rented offers are left
    out even if the server returned them; malformed offers are quarantined.
    """
    ok = [
        r for r in raws if r.source == SOURCE and r.endpoint == ENDPOINT and 200 <= r.status < 300
    ]
    if not ok:
        return [], []
    observed_at = min(r.fetched_at for r in ok)
    quotes: dict[str, Quote] = {}
    bad: list[Quarantined] = []
    for raw in ok:
        offers = _offers(raw)
        require_fields(raw, offers, REQUIRED_FIELDS)
        for offer in offers:
            if not isinstance(offer, dict):
                bad.append(quarantine(raw, offer, None, f"not an object: {type(offer).__name__}"))
                continue
            if (
                offer.get("is_bid") is True
                or offer.get("rentable") is False
                or offer.get("rented") is True
                or offer.get("verification") != "verified"
            ):
                continue  # not an on-demand, verified, available offer: not a price anyone pays
            oid = offer.get("id")
            if str(oid) in quotes:
                continue  # pages overlap at the price cursor
            try:
                quote = offer_to_quote(offer, raw, observed_at)
            except (ValueError, TypeError) as exc:
                bad.append(quarantine(raw, offer, oid, " ".join(str(exc).split())[:300]))
                continue
            problem = future_problem("observed_at", quote.observed_at, raw.fetched_at, max_skew_s)
            if problem:
                bad.append(quarantine(raw, offer, oid, problem))
                continue
            quotes[str(oid)] = quote
    return list(quotes.values()), bad


def offer_to_quote(offer: dict, raw: RawResponse, observed_at: datetime) -> Quote:
    label = offer["gpu_name"]
    if not isinstance(label, str) or not label.strip():
        raise ValueError("gpu_name: empty")
    gpus = offer["num_gpus"]
    if isinstance(gpus, bool) or not isinstance(gpus, int) or gpus < 1:
        raise ValueError(f"num_gpus: not a positive integer: {gpus!r}")
    dph = positive_number(offer["dph_total"])
    if dph is None:
        raise ValueError(f"dph_total: no price: {offer['dph_total']!r}")
    match = normalise(label)
    memory = match.memory_gb
    if memory is None and _is_number(offer.get("gpu_ram")) and 0 < offer["gpu_ram"] < 1e9:
        memory = float(round(offer["gpu_ram"] / 1024))  # MiB per GPU -> nominal GB
    geo = offer.get("geolocation")
    region = (geo.strip(" ,") or None) if isinstance(geo, str) else None
    condition = offer.get("verification")
    return Quote(
        observed_at=observed_at,
        source=SOURCE,
        source_url=raw.url,
        kind="rental_hourly",
        sku_label=label,
        sku=match.sku,
        form_factor=match.form_factor,
        memory_gb=memory,
        gpu_count_basis=gpus,
        price_raw=dph,
        price_unit="USD/instance-hour",
        currency="USD",
        usd_per_unit=1.0,
        price_usd=dph / gpus,
        tier="on-demand",
        condition=condition if isinstance(condition, str) else None,
        region=region,
        note=f"offer {offer['id']}, machine {offer.get('machine_id')}",
        listing_id=str(offer["id"]),
    )
