"""CoinGecko through pycoingecko, made trustworthy.

pycoingecko builds URLs and names the endpoints; everything else is ours: its session is a
stand-in that hands the URL back, and `HttpSession.fetch` sends it (timeouts, deadline, body
cap, pacing, retries, CoinGecko's own status mapping) and returns the response with its
archive records (an `Exchange`). The key travels as a header (pycoingecko would put it in the
query string, and so into URLs, logs and exceptions). Parsing works on decoded payloads so that
`capcover rebuild` can parse archived bodies with the very same functions.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ValidationError

from capcover.config.secrets import REDACTED, scrub
from capcover.ingest.client import ApiClient, HttpOptions, rate_pace, received
from capcover.ingest.decode import loads, repeated_key
from capcover.ingest.errors import (
    AuthError,
    BadPayload,
    CdnBlocked,
    NotFound,
    PlanLimited,
    RateLimited,
    StatusError,
    StatusReply,
    body_summary,
)
from capcover.ingest.feeds import MAX_CLOCK_SKEW_S, future_problem, json_problem, record_json
from capcover.ingest.models import Category, CoinMarket, Quarantined, RawResponse, SectorSnapshot
from capcover.ingest.ratelimit import Pace

if TYPE_CHECKING:
    from capcover.ingest.http import Exchange

Plan = Literal["public", "demo", "pro"]

BASE_URLS: dict[str, str] = {
    "public": "https://api.coingecko.com/api/v3",
    "demo": "https://api.coingecko.com/api/v3",
    "pro": "https://pro-api.coingecko.com/api/v3",
}
KEY_HEADERS: dict[str, str] = {"demo": "x-cg-demo-api-key", "pro": "x-cg-pro-api-key"}
# Calls per minute, per sliding minute (CoinGecko states its limits per minute; a setting,
# CAPCOVER_COINGECKO_RATE_PER_MINUTE, since the docs have changed over time). Sources:
# - public (keyless): "IP-based rate limiting, shared across all users on the same IP"
#   (docs.coingecko.com "Errors & Rate Limits"); its older "Common Errors" page: about 5 to 15
#   calls per minute. 10: the middle of that range.
# - demo: 100, what CoinGecko's current "Errors & Rate Limits" page documents for the Demo
#   plan (issue #20; its pricing page and earlier docs said 30).
# - pro: "depends on your plan" (Analyst and Lite 500/min, Pro 1,000/min, pricing page); 500:
#   the smallest paid plan.
RATE_LIMITS: dict[str, float] = {"public": 10, "demo": 100, "pro": 500}

PER_PAGE = 250  # asked for: CoinGecko's maximum for /coins/markets (it has answered with 50)
# Paging of one category stops at an empty page, never at a short one (CoinGecko once sent 50
# rows per page for 250 asked, hummingbot #5806), and at a page that brings no coin not already
# read (a server repeating itself: named as a shortfall). Guards against a server that never
# ends, far beyond any real category: more rows than CoinGecko lists coins at all (~18,000),
# or more pages than that many coins need even at 50 a page (a server sending a coin or two
# a page would otherwise be asked 50,000 times).
MAX_ROWS = 50_000
MAX_PAGES = 400


def parse_error_envelope(status: int, body: str) -> tuple[int | None, str | None]:
    """(error_code, message) from any of CoinGecko's three error envelopes, else (None, None)."""
    try:
        payload = loads(body)
    except (ValueError, RecursionError):
        return None, None
    if not isinstance(payload, dict):
        return None, None
    inner = payload.get("status")
    if isinstance(payload.get("error"), dict):  # {"error": {"status": {...}}} (10012)
        inner = payload["error"].get("status", payload["error"])
    if isinstance(inner, dict) and ("error_code" in inner or "error_message" in inner):
        code = inner.get("error_code")
        message = " ".join(str(inner.get("error_message", "")).split())
        code = code if isinstance(code, int) and not isinstance(code, bool) else None
        return code, _first_sentence(message)
    if isinstance(payload.get("error"), str):  # {"error": "coin not found"}
        return None, " ".join(payload["error"].split())[:200] or "no message"
    return None, None


AUTH_ADVICE = "check CAPCOVER_COINGECKO_PLAN and CAPCOVER_COINGECKO_API_KEY"
CDN_ADVICE = (
    "CoinGecko's CDN firewall refused this address (Cloudflare error 1020, Access Denied): "
    "not a key or plan problem — wait and retry later, or check the IP, VPN or proxy the "
    "requests leave from"
)
PLAN_CODES = (10005, 10012)  # pro-only endpoint; history beyond 365 days
AUTH_CODES = (10002, 10010, 10011)  # missing key; key on the wrong plan's root
CDN_BLOCK = 1020  # Cloudflare's "Access Denied" (a firewall rule), sent as HTTP 403


def cdn_blocked(reply: StatusReply) -> bool:
    """Whether a 403 is Cloudflare's firewall (error 1020), not CoinGecko refusing a key:
    its page says "error code: 1020" (HTML or plain text), or an envelope carries code 1020."""
    if reply.status != 403:
        return False
    text = reply.body[:4000].lower()
    return (
        "error code: 1020" in text
        or "error code 1020" in text
        or ("1020" in text and "access denied" in text)
    )


def coingecko_errors(reply: StatusReply) -> StatusError:
    """CoinGecko's own status mapping: its error codes first, then the plain HTTP meaning."""
    code, message = parse_error_envelope(reply.status, reply.body)
    message = message or body_summary(reply.body)
    if reply.status == 429 or code == 429:
        return reply.error(RateLimited, message, code=code)
    if code in PLAN_CODES:
        return reply.error(PlanLimited, message, code=code)
    if code == CDN_BLOCK or cdn_blocked(reply):
        return reply.error(CdnBlocked, message, code=CDN_BLOCK, advice=CDN_ADVICE)
    if reply.status in (401, 403) or code in AUTH_CODES:
        return reply.error(AuthError, message, code=code, advice=AUTH_ADVICE)
    if reply.status == 404:
        return reply.error(NotFound, message, code=code)
    return reply.error(StatusError, message, code=code)


def _first_sentence(message: str) -> str:
    cut = message.split(". ")[0].strip()
    return cut[:200] or "no message"


def _load_json(raw: RawResponse) -> Any:
    try:
        # A repeated key inside one record marks that record (quarantined in parse_records);
        # anywhere else it is a malformed answer.
        return loads(raw.body, records=True)
    except (ValueError, RecursionError) as exc:
        raise BadPayload(
            f"coingecko {raw.endpoint}: expected JSON, got {json_problem(raw.body, exc)} — the "
            f"API or a proxy sent a non-API answer; retry later",
            endpoint=raw.endpoint,
        ) from None


def _decode(raw: RawResponse, decoded: dict[int, Any] | None) -> Any:
    """`raw`'s body as JSON, decoded once per run when `decoded` keeps the results."""
    if decoded is None:
        return _load_json(raw)
    if id(raw) not in decoded:
        decoded[id(raw)] = _load_json(raw)
    return decoded[id(raw)]


def _expect_list(raw: RawResponse, payload: Any) -> list[Any]:
    if not isinstance(payload, list):
        raise BadPayload(
            f"coingecko {raw.endpoint}: expected a JSON list, got {type(payload).__name__}",
            endpoint=raw.endpoint,
        )
    return payload


def _quarantine(raw: RawResponse, record: Any, reason: str) -> Quarantined:
    key = record.get("id") if isinstance(record, dict) else None
    return Quarantined(
        source=raw.source,
        endpoint=raw.endpoint,
        record_key=str(key) if key else None,
        reason=reason,
        record_json=record_json(record),
    )


def _held_a_secret(value: Any) -> bool:
    """Whether an id held a secret: scrubbed already (the HTTP layer scrubs every body it
    archives, so parsers see `[redacted]`) or still to be."""
    return isinstance(value, str) and (REDACTED in value or scrub(value) != value)


def _reason(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"]) or "record"
        parts.append(f"{loc}: {err['msg']}")
    return "; ".join(parts)


def parse_records(
    raw: RawResponse,
    model: type[BaseModel],
    required: Iterable[str] = (),
    *,
    stamp: str | None = None,
    max_skew_s: float = MAX_CLOCK_SKEW_S,
    decoded: dict[int, Any] | None = None,
) -> tuple[list, list]:
    """Parse a list payload into `model`s; bad single records are quarantined, not fatal.

    A record whose `stamp` field (its own timestamp) lies more than `max_skew_s` seconds after
    the response arrived is quarantined too: no source can report from the future.

    The payload as a whole must be a list. A `required` field that NO record carries (renamed
    or dropped) is the API changing shape: that fails the run instead of quarantining every
    record. A record that alone lacks one is quarantined with the field named. Unknown new
    fields are ignored here and kept in the raw archive.

    `decoded` (by `id(raw)`) holds bodies already decoded in this run: a page is decoded once.
    """
    payload = _expect_list(raw, _decode(raw, decoded))
    objects = [r for r in payload if isinstance(r, dict)]
    if objects:
        gone = [f for f in required if not any(f in r for r in objects)]
        if gone:
            raise BadPayload(
                f"coingecko {raw.endpoint}: no record has required field(s) {', '.join(gone)} "
                f"— the API changed shape; capcover needs an update",
                endpoint=raw.endpoint,
            )
    good, bad = [], []
    for record in payload:
        if not isinstance(record, dict):
            bad.append(_quarantine(raw, record, f"not an object: {type(record).__name__}"))
            continue
        repeated = repeated_key(record)
        if repeated is not None:
            bad.append(
                _quarantine(
                    raw, record, f"names the key {repeated!r} twice: malformed, its value unknown"
                )
            )
            continue
        missing = [f for f in required if f not in record]
        if missing:
            bad.append(_quarantine(raw, record, f"missing required field(s) {', '.join(missing)}"))
            continue
        if _held_a_secret(record.get("id")):
            # Stored, its id would read `[redacted]`, like any other record whose id held a
            # secret: two different coins would become one. Neither is read as a coin.
            bad.append(_quarantine(raw, record, "its id held a secret (scrubbed)"))
            continue
        try:
            parsed = model.model_validate(record)
        except ValidationError as exc:
            bad.append(_quarantine(raw, record, _reason(exc)))
            continue
        problem = stamp and future_problem(
            stamp, getattr(parsed, stamp), raw.fetched_at, max_skew_s
        )
        if problem:
            bad.append(_quarantine(raw, record, problem))
            continue
        good.append(parsed)
    return good, bad


CATEGORY_FIELDS = ("id", "market_cap", "updated_at")
MARKET_FIELDS = ("id", "market_cap")


def build_snapshot(
    raws: list[RawResponse],
    categories: list[str],
    *,
    require_constituents: bool = True,
    max_skew_s: float = MAX_CLOCK_SKEW_S,
    decoded: dict[int, Any] | None = None,
) -> SectorSnapshot:
    """Derive a `SectorSnapshot` from raw responses (live or from the archive), in order.
    `decoded`: bodies already decoded (see `parse_records`).

    Fails (BadPayload/NotFound, one line) rather than report from nothing: an empty category
    list, a configured category that is missing, malformed, or has no positive market cap or no
    `updated_at`, and (with `require_constituents`) a category with zero usable constituents.
    """
    ok = [r for r in raws if r.source == "coingecko" and 200 <= r.status < 300]
    cat_raws = [r for r in ok if r.endpoint == "/coins/categories"]
    if not cat_raws:
        raise BadPayload("coingecko /coins/categories: no successful response to parse")
    where = "coingecko /coins/categories"
    all_categories, quarantined = parse_records(
        cat_raws[-1],
        Category,
        CATEGORY_FIELDS,
        stamp="updated_at",
        max_skew_s=max_skew_s,
        decoded=decoded,
    )
    if not all_categories and not quarantined:
        raise BadPayload(
            f"{where}: the API returned an empty list of categories — CoinGecko "
            f"is degraded; retry later",
            endpoint="/coins/categories",
        )
    ids = [c.id for c in all_categories] + [q.record_key for q in quarantined if q.record_key]
    twice = sorted(i for i, n in Counter(ids).items() if n > 1)
    if twice:
        raise BadPayload(
            f"{where}: category '{twice[0]}' is listed twice — the answer "
            f"contradicts itself; retry later",
            endpoint="/coins/categories",
        )
    by_id = {c.id: c for c in all_categories}
    rejected = {q.record_key: q.reason for q in quarantined}
    chosen = []
    for cid in categories:
        cat = by_id.get(cid)
        if cat is None and cid in rejected:
            raise BadPayload(
                f"{where}: category '{cid}' is malformed ({rejected[cid]}) — "
                f"cannot compute the sector cap; retry later",
                endpoint="/coins/categories",
            )
        if cat is None:
            raise NotFound(
                f"{where}: category '{cid}' not found — list valid ids with "
                f"GET /coins/categories/list and fix `categories` in the config",
                status=404,
                endpoint="/coins/categories",
            )
        if cat.updated_at is None:
            raise BadPayload(
                f"{where}: category '{cid}' has no updated_at, so the report date is unknown",
                endpoint="/coins/categories",
            )
        if not cat.market_cap_usd:  # null or 0: a report from nothing is worse than none
            raise BadPayload(
                f"{where}: category '{cid}' reports market cap {cat.market_cap_usd} — "
                f"refusing to report from it; retry later",
                endpoint="/coins/categories",
            )
        chosen.append(cat)
    quarantined = [q for q in quarantined if q.record_key in set(categories)]

    constituents: dict[str, list[CoinMarket]] = {}
    dropped = 0
    notes: list[str] = []
    for cid in categories:
        seen: dict[str, CoinMarket] = {}
        rejected_here = 0
        pages = [
            r for r in ok if r.endpoint == "/coins/markets" and r.params.get("category") == cid
        ]
        last = _decode(pages[-1], decoded) if pages else []
        if pages and last:
            notes.append(
                f"'{cid}': paging stopped at page {len(pages)} before an empty page (it "
                f"repeated coins already read: the server may ignore `page`) — constituents "
                f"may be missing"
            )
        for raw in pages:
            coins, bad = parse_records(
                raw,
                CoinMarket,
                MARKET_FIELDS,
                stamp="last_updated",
                max_skew_s=max_skew_s,
                decoded=decoded,
            )
            quarantined.extend(bad)
            rejected_here += len(bad)
            for coin in coins:
                # Ranks move while we page, so a coin can show up twice: keep the first.
                if coin.id in seen:
                    dropped += 1
                    continue
                seen[coin.id] = coin
        if require_constituents and not seen:
            raise BadPayload(
                f"coingecko /coins/markets: category '{cid}' has zero usable constituents "
                f"({rejected_here} quarantined) — refusing to report from nothing; retry later",
                endpoint="/coins/markets",
            )
        constituents[cid] = list(seen.values())
    fetched = max((r.fetched_at for r in ok), default=datetime.now(UTC))
    return SectorSnapshot(chosen, constituents, quarantined, dropped, fetched, notes)


class _Planned(Exception):
    def __init__(self, url: str, params: dict[str, Any]) -> None:
        super().__init__(url)
        self.url, self.params = url, params


class _PlanOnly:
    """Stands in for pycoingecko's session: it hands back the URL and parameters pycoingecko
    built, so the client sends them itself and gets response and record back directly."""

    def get(self, url: str, params: dict | None = None, **_: Any) -> None:
        raise _Planned(url, dict(params or {}))


class CoinGeckoClient(ApiClient):
    """One client for CoinGecko: pycoingecko names the endpoints, `HttpSession` sends them.

    Each request returns its `Exchange` (response and archive records); `fetch_sector`
    returns the snapshot with every record it received. Paced at the plan's calls per sliding
    minute (RATE_LIMITS) or `rate_per_minute`; `spread` spaces the calls evenly instead (the
    backfill's long stream of charts).
    """

    def __init__(
        self,
        *,
        plan: Plan = "public",
        api_key: str | None = None,
        base_url: str | None = None,
        rate_per_minute: float | None = None,
        spread: bool = False,
        http: HttpOptions | None = None,
        max_skew_s: float = MAX_CLOCK_SKEW_S,
    ) -> None:
        if plan in KEY_HEADERS and not api_key:
            raise ValueError(
                f"CoinGecko plan '{plan}' needs CAPCOVER_COINGECKO_API_KEY (or use plan 'public')"
            )
        headers = {KEY_HEADERS[plan]: api_key} if plan in KEY_HEADERS and api_key else {}
        super().__init__(
            source="coingecko",
            base_url=base_url or BASE_URLS[plan],
            pace=rate_pace(Pace(RATE_LIMITS[plan], spread=spread), rate_per_minute),
            http=http,
            status_mapping=coingecko_errors,
            headers=headers,
        )
        self.max_skew_s = max_skew_s
        # Imported here, with the session: the parsers above need neither (`capcover rebuild`).
        from pycoingecko import CoinGeckoAPI

        # Constructed without a key on purpose: pycoingecko would send it as a query parameter.
        self.api = CoinGeckoAPI()
        self.api.api_base_url = self.session.base_url + "/"
        self.api.session = _PlanOnly()  # replaces its own session and its urllib3 Retry
        self.api.extra_params = None

    def _call(self, method: Callable[..., Any], *args: Any, **kwargs: Any) -> Exchange:
        try:
            method(*args, **kwargs)
        except _Planned as plan:
            url, params = plan.url, plan.params
        else:  # pragma: no cover - every pycoingecko method goes through session.get
            raise RuntimeError(f"pycoingecko {method.__name__} sent no request")
        return self._exchange("GET", url, params=params)

    def categories(self) -> Exchange:
        return self._call(self.api.get_coins_categories, order="market_cap_desc")

    def markets_page(self, category: str, page: int) -> Exchange:
        return self._call(
            self.api.get_coins_markets,
            vs_currency="usd",
            category=category,
            per_page=PER_PAGE,
            page=page,
            order="market_cap_desc",
        )

    def fetch_sector(self, categories: list[str]) -> tuple[SectorSnapshot, list[RawResponse]]:
        """Categories plus every page of every configured category's constituents: the
        snapshot and every record received (a failure carries them in `.raws`). Each body is
        decoded once. Pages are read until one comes back empty, whatever size the server's
        pages are (a short page is not the last one). A page that brings no coin not already
        read (a server repeating itself) ends the paging too, and the snapshot names it
        (`SectorSnapshot.paging_notes`)."""
        decoded: dict[int, Any] = {}
        with received([]) as records:
            records += self.categories().records
            # Fail on an unknown category before spending calls on its pages.
            build_snapshot(
                records,
                categories,
                require_constituents=False,
                max_skew_s=self.max_skew_s,
                decoded=decoded,
            )
            for cid in categories:
                seen: set[str] = set()
                rows = 0
                for page in itertools.count(1):
                    exchange = self.markets_page(cid, page)
                    records += exchange.records
                    payload = _expect_list(exchange.record, _decode(exchange.record, decoded))
                    if not payload:
                        break
                    ids = {str(r.get("id")) for r in payload if isinstance(r, dict)}
                    new = ids - seen
                    seen |= ids
                    rows += len(payload)
                    if not new:
                        break  # named by build_snapshot: the paging ended on a repeated page
                    if rows > MAX_ROWS:
                        raise BadPayload(
                            f"coingecko /coins/markets: category '{cid}' still sends coins "
                            f"after {rows:,} rows ({page} pages), more than CoinGecko lists in "
                            f"all — refusing to page forever",
                            endpoint="/coins/markets",
                        )
                    if page >= MAX_PAGES:
                        raise BadPayload(
                            f"coingecko /coins/markets: category '{cid}' still sends coins "
                            f"after {page:,} pages ({rows:,} rows), more pages than "
                            f"CoinGecko's coins need — refusing to page forever",
                            endpoint="/coins/markets",
                        )
            snapshot = build_snapshot(
                records, categories, max_skew_s=self.max_skew_s, decoded=decoded
            )
        return snapshot, records

    def market_chart(self, coin_id: str, days: int) -> Exchange:
        """`/coins/{id}/market_chart?vs_currency=usd&days=N` (parse with ingest.history)."""
        return self._call(
            self.api.get_coin_market_chart_by_id, id=coin_id, vs_currency="usd", days=days
        )

    def exchange_rates(self) -> Exchange:
        """`/exchange_rates`: every currency against BTC (parse with ingest.fx); only called
        when a non-USD GPU quote needs converting."""
        return self._call(self.api.get_exchange_rates)
