"""Vast.ai marketplace offers: `GET /api/v0/bundles/?q=<JSON>`, no key.

One query per GPU name of interest: on-demand, rentable and not rented, ordered by `dph_total`
ascending. No `verified` filter: the live field is the string `verification`, and a
`verified: {eq: true}` filter silently dropped the cheapest hosts (getcomputable/gpu-index,
sources/vast.py); each offer's `verification` is kept on its quote (`condition`). Vast.ai caps a
page (64 offers seen), so every page is followed by the next one with a (price, id) cursor:
`dph_total >= the highest price seen` and `id notin` the offers already read at that price (the
query operators of the vast-ai CLI: eq, neq, gt, gte, lt, lte, in, notin), so asks tied at one
price are read past a page's end, each once. Paging ends when a page brings no offer not already
seen, whatever size the server's pages are, or after `max_pages` (a book still growing then is
logged with the count read). Prices: `dph_total` is USD per INSTANCE-hour (storage
included); the quote is that divided by `num_gpus`.

One machine lists several slices (1, 2, 4, 8 GPUs; `gpu_frac` is the slice's share of the
machine): every slice is a quote carrying `machine_id` and `host_id`, and the price method lets
each machine vote once, with its cheapest price per GPU (model/prices.py).
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable, Iterable
from datetime import datetime

from capcover.config.defaults import DEFAULTS
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
from capcover.ingest.quotes import Excluded, RowOutcome, restamped, split_outcomes
from capcover.ingest.ratelimit import Pace
from capcover.ingest.sku import form_factor_of, normalise
from capcover.model.depth import (
    MAX_GPUS_PER_MACHINE,
    DepthRead,
    DepthSighting,
    within_ceiling,
)

log = logging.getLogger("capcover")

SOURCE = "vastai"
# 401/403 from a keyless feed is its CDN refusing us: advice names this feed's own setting.
STATUS_ERRORS = status_errors(
    auth_advice="Vast.ai needs no key, so its CDN refused capcover; check CAPCOVER_VASTAI_BASE_URL "
    "or try later"
)
BASE_URL = DEFAULTS.vastai_base_url  # the settings' defaults: config/defaults.py
ENDPOINT = "/api/v0/bundles/"
PAGE_CAP = 64  # the `limit` asked for: the most Vast.ai was seen to return; never a stop rule
MAX_PAGES = 8  # pages per GPU name: the cheapest ~500 offers are plenty for a median
# Vast.ai "applies rate limits per endpoint and per identity ... enforced as a minimum interval
# between requests" and sends no Retry-After (docs.vast.ai, "Rate Limits and Errors"); the
# interval is not published (its own CLI retries a 429 after 0.15 s, x1.5 each time). So
# requests are spread evenly, 30 a minute (one every 2 s); CAPCOVER_VASTAI_RATE_PER_MINUTE
# (default DEFAULTS.vastai_rate_per_minute, unset) replaces the rate.
PACE = Pace(30.0, spread=True)
RATE_PER_MINUTE = PACE.per_minute
# Vast.ai's own names (its `gpu_name` field) for the SKUs capcover's scenarios use.
DEFAULT_GPU_NAMES = DEFAULTS.vastai_gpu_names
REQUIRED_FIELDS = ("id", "gpu_name", "num_gpus", "dph_total")


def offer_query(
    gpu_name: str, min_dph_total: float | None = None, read_at_min: Iterable[object] = ()
) -> dict:
    """The bundles query for one GPU name: on-demand, rentable, cheapest first (no filter on
    verification: see the module docstring); a later page asks from `min_dph_total` on, less
    the offers already read at exactly that price (`read_at_min`, their ids)."""
    q: dict = {
        "gpu_name": {"eq": gpu_name},
        "rentable": {"eq": True},
        "rented": {"eq": False},
        "type": "on-demand",
        "order": [["dph_total", "asc"]],
        "limit": PAGE_CAP,
    }
    if min_dph_total is not None:
        q["dph_total"] = {"gte": min_dph_total}
        skip = sorted(set(read_at_min), key=str)
        if skip:
            q["id"] = {"notin": skip}
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
        self.truncated: dict[str, int] = {}  # GPU name -> offers read when max_pages ran out

    def bundles(self, query: dict) -> list[RawResponse]:
        """One query's records (its answer last), stamped with the run's clock."""
        text = json.dumps(query, separators=(",", ":"), sort_keys=True)
        exchange = self._exchange("GET", self.session.base_url + ENDPOINT, params={"q": text})
        return [restamped(r, self.now) for r in exchange.records]

    def fetch(self) -> list[RawResponse]:
        """Every GPU name's book, page after page until a page brings no new offer; the page
        size is the server's (never assumed: a server with smaller pages is read to the end
        too). The records received, in order (a failure carries them in `.raws`)."""
        with received([]) as records:
            self._pages(records)
        return records

    def _pages(self, records: list[RawResponse]) -> None:
        for name in self.gpu_names:
            seen: set = set()
            cursor: float | None = None
            at_cursor: list[object] = []  # ids of the offers read at exactly `cursor`
            for _page in range(self.max_pages):
                page = self.bundles(offer_query(name, cursor, at_cursor))
                records += page
                offers = _offers(page[-1])
                objects = [o for o in offers if isinstance(o, dict)]
                new = [o for o in objects if str(o.get("id")) not in seen]
                seen.update(str(o.get("id")) for o in new)
                prices = [o["dph_total"] for o in objects if _is_number(o.get("dph_total"))]
                if not new or not prices:
                    break
                # The cursor is (price, id): the next page starts at this page's highest price,
                # less the offers already read at it, so a wall of asks at one price longer
                # than a page is read to its end, each offer once.
                top = max(prices)
                ids = [o["id"] for o in objects if o.get("dph_total") == top and _is_id(o)]
                at_cursor = (at_cursor if top == cursor else []) + ids
                cursor = top
            else:
                self.truncated[name] = len(seen)
                log.warning(
                    "vastai %s: the book still grew after %d pages; using the cheapest %d offers",
                    name,
                    self.max_pages,
                    len(seen),
                )

    def parse(self, raws: list[RawResponse]) -> tuple[list[Quote], list[Quarantined]]:
        return parse_raws(raws, max_skew_s=self.max_skew_s)

    def outcomes(self, raws: list[RawResponse]) -> list[RowOutcome]:
        return row_outcomes(raws, max_skew_s=self.max_skew_s)


def _is_id(offer: dict) -> bool:
    """Whether the offer's id can be sent back in a query (Vast.ai's ids are integers)."""
    oid = offer.get("id")
    return (isinstance(oid, int) and not isinstance(oid, bool)) or isinstance(oid, str)


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
    offers: list[object] = payload["offers"]
    return offers


def parse_raws(
    raws: list[RawResponse], *, max_skew_s: float = MAX_CLOCK_SKEW_S
) -> tuple[list[Quote], list[Quarantined]]:
    """Vast.ai responses (live or archived) -> quotes and quarantined offers (row_outcomes)."""
    quotes, bad, _left_out = split_outcomes(row_outcomes(raws, max_skew_s=max_skew_s))
    return quotes, bad


# Vast.ai's verification states of a host; any other value is not guessed.
VERIFICATION_STATES = ("verified", "unverified")


def row_outcomes(
    raws: list[RawResponse], *, max_skew_s: float = MAX_CLOCK_SKEW_S
) -> list[RowOutcome]:
    """What became of every offer: a rental quote per offer id (a bid is tier interruptible,
    an offer that cannot be had now says why in `unavailable_reason`), the same offer read
    again on a later page left out, a malformed offer quarantined.

    All offers of one fetch share one `observed_at`: the first response's fetch time (the
    feed has no timestamp of its own).
    """
    ok = [
        (i, r)
        for i, r in enumerate(raws)
        if r.source == SOURCE and r.endpoint == ENDPOINT and 200 <= r.status < 300
    ]
    if not ok:
        return []
    observed_at = min(r.fetched_at for _, r in ok)
    seen: set[str] = set()
    outcomes: list[RowOutcome] = []
    for i, raw in ok:
        offers = _offers(raw)
        require_fields(raw, offers, REQUIRED_FIELDS)
        for j, offer in enumerate(offers):
            if not isinstance(offer, dict):
                why = f"not an object: {type(offer).__name__}"
                outcomes.append(RowOutcome((i, j), quarantine(raw, offer, None, why)))
                continue
            oid = offer.get("id")
            if str(oid) in seen:
                outcomes.append(
                    RowOutcome(
                        (i, j),
                        Excluded(
                            raw.source,
                            raw.endpoint,
                            str(oid),
                            "the same offer again on a later page (the price cursor overlaps)",
                        ),
                    )
                )
                continue
            try:
                quote = offer_to_quote(offer, raw, observed_at)
            except (ValueError, TypeError) as exc:
                reason = " ".join(str(exc).split())[:300]
                outcomes.append(RowOutcome((i, j), quarantine(raw, offer, oid, reason)))
                continue
            problem = future_problem("observed_at", quote.observed_at, raw.fetched_at, max_skew_s)
            if problem:
                outcomes.append(RowOutcome((i, j), quarantine(raw, offer, oid, problem)))
                continue
            seen.add(str(oid))
            outcomes.append(RowOutcome((i, j), quote))
    return outcomes


def _text(value: object) -> str | None:
    return None if value is None or isinstance(value, bool) else str(value)


def unavailable(offer: dict) -> str | None:
    """Why an offer cannot be had now (the server's filters drift), or None."""
    if offer.get("rentable") is False:
        return "not rentable"
    if offer.get("rented") is True:
        return "already rented"
    verification = offer.get("verification")
    if verification not in VERIFICATION_STATES:
        return (
            f"host verification {verification!r}: not a state Vast.ai lists hosts in "
            f"(verified, unverified)"
        )
    return None


def offer_to_quote(offer: dict, raw: RawResponse, observed_at: datetime) -> Quote:
    label = offer["gpu_name"]
    if not isinstance(label, str) or not label.strip():
        raise ValueError("gpu_name: empty")
    gpus = offer["num_gpus"]
    if isinstance(gpus, bool) or not isinstance(gpus, int) or gpus < 1:
        raise ValueError(f"num_gpus: not a positive integer: {gpus!r}")
    if not within_ceiling(gpus, MAX_GPUS_PER_MACHINE):
        raise ValueError(
            f"num_gpus: {gpus} is more than the {MAX_GPUS_PER_MACHINE} GPUs one machine holds"
        )
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
    bid = offer.get("is_bid") is True
    machine, host = _text(offer.get("machine_id")), _text(offer.get("host_id"))
    frac = offer.get("gpu_frac")
    of_machine = ""
    if isinstance(frac, int | float) and _is_number(frac) and 0 < frac <= 1:
        of_machine = f" of the machine's {round(gpus / frac)}" if gpus / frac < 1e4 else ""
    return Quote(
        observed_at=observed_at,
        source=SOURCE,
        source_url=raw.url,
        kind="rental_hourly",
        sku_label=label,
        sku=match.sku,
        form_factor=form_factor_of(SOURCE, label),
        form_factor_v1=match.form_factor,
        memory_gb=memory,
        gpu_count_basis=gpus,
        price_raw=dph,
        price_unit="USD/instance-hour",
        currency="USD",
        usd_per_unit=1.0,
        price_usd=dph / gpus,
        tier="interruptible" if bid else "on_demand",
        tier_label="bid" if bid else "on-demand",
        provider=SOURCE,
        unavailable_reason=unavailable(offer),
        condition=condition if isinstance(condition, str) else None,
        region=region,
        note=f"offer {offer['id']}, machine {machine}, host {host}, {gpus}{of_machine} GPU(s)",
        listing_id=str(offer["id"]),
        capacity_id=f"machine {machine}" if machine is not None else None,
        machine_id=machine,
        host_id=host,
    )


def _queried_name(raw: RawResponse) -> str | None:
    """The GPU name a bundles answer was asked for (its `q` parameter), or None."""
    try:
        q = json.loads(raw.params.get("q") or "{}")
    except (TypeError, ValueError):
        return None
    name = q.get("gpu_name", {}).get("eq") if isinstance(q, dict) else None
    name = name if isinstance(name, str) else None
    return name


def depth_raws(raws: list[RawResponse]) -> DepthRead:
    """How many GPUs Vast.ai showed as rentable now, per SKU and form factor (model/depth.py).

    Every offer that can be had now (`unavailable` says nothing against it; a bid is rentable
    too) counts through its machine: a machine lists slices (1, 2, 4, 8 GPUs) of the same GPUs,
    so each machine counts once, at its largest rentable slice, and an offer id read again on a
    later page (the price cursor overlaps) counts once. An offer without a machine id is a
    machine of its own. A GPU name asked for with no rentable offer is a count of 0; a book
    still growing at its last page read makes the count a floor (its basis says so). Malformed
    offers (the quote parser quarantines them) count nothing."""
    ok = [r for r in raws if r.source == SOURCE and r.endpoint == ENDPOINT and r.status // 100 == 2]
    if not ok:
        return DepthRead()
    observed_at = min(r.fetched_at for r in ok)
    seen: set[str] = set()
    machines: dict[tuple[str, str], dict[str, int]] = {}  # (sku, form) -> machine -> GPUs
    offers: dict[tuple[str, str], int] = {}
    read: dict[tuple[str, str], int] = {}
    grew: set[tuple[str, str]] = set()
    implausible: dict[tuple[str, str], int] = {}  # offers above MAX_GPUS_PER_MACHINE
    pages: dict[str | None, list[RawResponse]] = {}
    for raw in ok:
        pages.setdefault(_queried_name(raw), []).append(raw)
    for name, answers in pages.items():
        asked = None
        if name is not None:
            asked = (normalise(name).sku, form_factor_of(SOURCE, name))
            if asked[0] != "unmapped":
                machines.setdefault(asked, {})
                offers.setdefault(asked, 0)
                read.setdefault(asked, 0)
        for k, raw in enumerate(answers):
            new_here = False
            for offer in _offers(raw):
                if not isinstance(offer, dict) or str(offer.get("id")) in seen:
                    continue
                seen.add(str(offer.get("id")))
                new_here = True
                label, gpus = offer.get("gpu_name"), offer.get("num_gpus")
                if not isinstance(label, str) or not label.strip():
                    continue
                if isinstance(gpus, bool) or not isinstance(gpus, int) or gpus < 1:
                    continue
                key = (normalise(label).sku, form_factor_of(SOURCE, label))
                if key[0] == "unmapped":
                    continue
                read[key] = read.get(key, 0) + 1
                if not within_ceiling(gpus, MAX_GPUS_PER_MACHINE):
                    implausible[key] = implausible.get(key, 0) + 1
                    continue
                if unavailable(offer) is not None:
                    continue
                machine = _text(offer.get("machine_id")) or f"offer {offer.get('id')}"
                held = machines.setdefault(key, {})
                held[machine] = max(held.get(machine, 0), gpus)
                offers[key] = offers.get(key, 0) + 1
            if k == len(answers) - 1 and new_here and asked is not None:
                grew.add(asked)
    out = []
    for key in sorted(machines):
        held = machines[key]
        basis = (
            f"{len(held)} machine(s) with a rentable offer, each counted once at its largest "
            f"rentable slice; {offers.get(key, 0)} rentable of {read.get(key, 0)} offer(s) read"
        )
        if not held:
            basis = f"no rentable offer among {read.get(key, 0)} offer(s) read"
        if implausible.get(key):
            basis += (
                f"; {implausible[key]} offer(s) left out: num_gpus above the "
                f"{MAX_GPUS_PER_MACHINE} GPUs one machine holds (quarantined)"
            )
        if key in grew:
            basis += "; a floor: the book still grew at the last page read"
        out.append(
            DepthSighting(
                source=SOURCE,
                sku=key[0],
                form_factor=key[1],
                gpus_seen=sum(held.values()),
                offers_seen=offers.get(key, 0),
                basis=basis,
                observed_at=observed_at,
            )
        )
    return DepthRead(out)
