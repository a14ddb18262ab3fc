"""CoinGecko through pycoingecko, made trustworthy.

pycoingecko builds URLs and names the endpoints; everything else is ours: the injected
`HttpSession` owns timeouts, the rate limit, retries and the raw archive, and sends the key as a
header (pycoingecko would put it in the query string, and so into URLs, logs and exceptions).
Parsing works on decoded payloads so that `capcover rebuild` can parse archived bodies with the
very same functions.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any, Literal

from pycoingecko import CoinGeckoAPI
from pydantic import ValidationError

from ingest.errors import BadPayload, IngestError, NotFound, StatusError
from ingest.http import HttpSession, RawResponse, RetryPolicy
from ingest.models import Category, CoinMarket, Quarantined, SectorSnapshot

Plan = Literal["public", "demo", "pro"]

BASE_URLS: dict[str, str] = {
    "public": "https://api.coingecko.com/api/v3",
    "demo": "https://api.coingecko.com/api/v3",
    "pro": "https://pro-api.coingecko.com/api/v3",
}
KEY_HEADERS: dict[str, str] = {"demo": "x-cg-demo-api-key", "pro": "x-cg-pro-api-key"}
# Conservative defaults (calls per minute); the docs disagree over time, so it is a setting.
RATE_LIMITS: dict[str, float] = {"public": 10, "demo": 30, "pro": 500}

PER_PAGE = 250  # CoinGecko's maximum for /coins/markets
MAX_PAGES = 40  # 10,000 coins: far above any category, a guard against a server that never ends


def parse_error_envelope(status: int, body: str) -> tuple[int | None, str | None]:
    """(error_code, message) from any of CoinGecko's three error envelopes, else (None, None)."""
    try:
        payload = json.loads(body)
    except ValueError:
        return None, None
    if not isinstance(payload, dict):
        return None, None
    inner = payload.get("status")
    if isinstance(payload.get("error"), dict):  # {"error": {"status": {...}}} (10012)
        inner = payload["error"].get("status", payload["error"])
    if isinstance(inner, dict) and ("error_code" in inner or "error_message" in inner):
        code = inner.get("error_code")
        message = str(inner.get("error_message", "")).strip()
        return (int(code) if isinstance(code, int | float) else None), _first_sentence(message)
    if isinstance(payload.get("error"), str):  # {"error": "coin not found"}
        return None, payload["error"]
    return None, None


def _first_sentence(message: str) -> str:
    cut = message.split(". ")[0].strip()
    return cut[:200] or "no message"


def _load_json(raw: RawResponse) -> Any:
    try:
        return json.loads(raw.body)
    except ValueError as exc:
        head = raw.body.lstrip()[:1]
        what = "an HTML page" if head == "<" else f"invalid JSON ({exc.msg} at char {exc.pos})"
        raise BadPayload(
            f"coingecko {raw.endpoint}: expected JSON, got {what} — the API or a proxy sent a "
            f"non-API answer; retry later", endpoint=raw.endpoint,
        ) from None


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
        source=raw.source, endpoint=raw.endpoint, record_key=str(key) if key else None,
        reason=reason, record_json=json.dumps(record, sort_keys=True, default=str),
    )


def _reason(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"]) or "record"
        parts.append(f"{loc}: {err['msg']}")
    return "; ".join(parts)


def parse_records(raw: RawResponse, model: type, required: Iterable[str] = ()) -> tuple[list, list]:
    """Parse a list payload into `model`s; bad single records are quarantined, not fatal.

    The payload as a whole must be a list. A `required` field that NO record carries (renamed
    or dropped) is the API changing shape: that fails the run instead of quarantining every
    record. A record that alone lacks one is quarantined with the field named. Unknown new
    fields are ignored here and kept in the raw archive.
    """
    payload = _expect_list(raw, _load_json(raw))
    objects = [r for r in payload if isinstance(r, dict)]
    if objects:
        gone = [f for f in required if not any(f in r for r in objects)]
        if gone:
            raise BadPayload(
                f"coingecko {raw.endpoint}: no record has required field(s) {', '.join(gone)} "
                f"— the API changed shape; capcover needs an update", endpoint=raw.endpoint,
            )
    good, bad = [], []
    for record in payload:
        if not isinstance(record, dict):
            bad.append(_quarantine(raw, record, f"not an object: {type(record).__name__}"))
            continue
        missing = [f for f in required if f not in record]
        if missing:
            bad.append(_quarantine(raw, record, f"missing required field(s) {', '.join(missing)}"))
            continue
        try:
            good.append(model.model_validate(record))
        except ValidationError as exc:
            bad.append(_quarantine(raw, record, _reason(exc)))
    return good, bad


CATEGORY_FIELDS = ("id", "market_cap", "updated_at")
MARKET_FIELDS = ("id", "market_cap")


def build_snapshot(
    raws: list[RawResponse], categories: list[str], *, require_constituents: bool = True
) -> SectorSnapshot:
    """Derive a `SectorSnapshot` from raw responses (live or from the archive), in order.

    Fails (BadPayload/NotFound, one line) rather than report from nothing: an empty category
    list, a configured category that is missing, malformed, or has no positive market cap or no
    `updated_at`, and (with `require_constituents`) a category with zero usable constituents.
    """
    ok = [r for r in raws if r.source == "coingecko" and 200 <= r.status < 300]
    cat_raws = [r for r in ok if r.endpoint == "/coins/categories"]
    if not cat_raws:
        raise BadPayload("coingecko /coins/categories: no successful response to parse")
    where = "coingecko /coins/categories"
    all_categories, quarantined = parse_records(cat_raws[-1], Category, CATEGORY_FIELDS)
    if not all_categories and not quarantined:
        raise BadPayload(f"{where}: the API returned an empty list of categories — CoinGecko "
                         f"is degraded; retry later", endpoint="/coins/categories")
    by_id = {c.id: c for c in all_categories}
    rejected = {q.record_key: q.reason for q in quarantined}
    chosen = []
    for cid in categories:
        cat = by_id.get(cid)
        if cat is None and cid in rejected:
            raise BadPayload(f"{where}: category '{cid}' is malformed ({rejected[cid]}) — "
                             f"cannot compute the sector cap; retry later",
                             endpoint="/coins/categories")
        if cat is None:
            raise NotFound(
                f"{where}: category '{cid}' not found — list valid ids with "
                f"GET /coins/categories/list and fix `categories` in the config",
                status=404, endpoint="/coins/categories",
            )
        if cat.updated_at is None:
            raise BadPayload(
                f"{where}: category '{cid}' has no updated_at, so the report date is unknown",
                endpoint="/coins/categories",
            )
        if not cat.market_cap_usd:  # null or 0: a report from nothing is worse than none
            raise BadPayload(
                f"{where}: category '{cid}' reports market cap {cat.market_cap_usd} — "
                f"refusing to report from it; retry later", endpoint="/coins/categories",
            )
        chosen.append(cat)
    quarantined = [q for q in quarantined if q.record_key in set(categories)]

    constituents: dict[str, list[CoinMarket]] = {}
    dropped = 0
    for cid in categories:
        seen: dict[str, CoinMarket] = {}
        rejected_here = 0
        for raw in ok:
            if raw.endpoint != "/coins/markets" or raw.params.get("category") != cid:
                continue
            coins, bad = parse_records(raw, CoinMarket, MARKET_FIELDS)
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
    return SectorSnapshot(chosen, constituents, quarantined, dropped, fetched)


class CoinGeckoClient:
    """One client for CoinGecko: pycoingecko for endpoints, `HttpSession` for everything else."""

    def __init__(
        self,
        *,
        plan: Plan = "public",
        api_key: str | None = None,
        base_url: str | None = None,
        rate_per_minute: float | None = None,
        connect_timeout_s: float = 5.0,
        read_timeout_s: float = 30.0,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        if plan in KEY_HEADERS and not api_key:
            raise ValueError(
                f"CoinGecko plan '{plan}' needs CAPCOVER_COINGECKO_API_KEY (or use plan 'public')"
            )
        headers = {KEY_HEADERS[plan]: api_key} if plan in KEY_HEADERS and api_key else {}
        self.session = HttpSession(
            source="coingecko",
            base_url=base_url or BASE_URLS[plan],
            rate_per_minute=rate_per_minute or RATE_LIMITS[plan],
            headers=headers,
            connect_timeout_s=connect_timeout_s,
            read_timeout_s=read_timeout_s,
            retry=retry,
            error_parser=parse_error_envelope,
            sleep=sleep,
        )
        # Constructed without a key on purpose: pycoingecko would send it as a query parameter.
        self.api = CoinGeckoAPI()
        self.api.api_base_url = self.session.base_url + "/"
        self.api.session = self.session  # replaces its own session and its urllib3 Retry
        self.api.extra_params = None

    @property
    def archive(self) -> list[RawResponse]:
        return self.session.archive

    def _call(self, method: Callable[..., Any], *args: Any, **kwargs: Any) -> RawResponse:
        try:
            method(*args, **kwargs)
        except IngestError:
            raise
        except json.JSONDecodeError:
            pass  # the archived body is judged by the parser, with a clearer message
        except ValueError as exc:  # pycoingecko's bare ValueError(dict): recover the status
            last = self.session.archive[-1] if self.session.archive else None
            status = last.status if last else 0
            raise StatusError(f"coingecko: HTTP {status}: {str(exc)[:200]}",
                              status=status) from None
        return self.session.archive[-1]

    def categories(self) -> RawResponse:
        return self._call(self.api.get_coins_categories, order="market_cap_desc")

    def markets_page(self, category: str, page: int) -> RawResponse:
        return self._call(
            self.api.get_coins_markets, vs_currency="usd", category=category,
            per_page=PER_PAGE, page=page, order="market_cap_desc",
        )

    def fetch_sector(self, categories: list[str]) -> SectorSnapshot:
        """Categories plus every page of every configured category's constituents."""
        self.categories()
        # Fail on an unknown category before spending calls on its pages.
        build_snapshot(list(self.archive), categories, require_constituents=False)
        for cid in categories:
            for page in range(1, MAX_PAGES + 1):
                raw = self.markets_page(cid, page)
                payload = _expect_list(raw, _load_json(raw))
                if len(payload) < PER_PAGE:
                    break
            else:
                raise BadPayload(
                    f"coingecko /coins/markets: category '{cid}' still full after {MAX_PAGES} "
                    f"pages — refusing to page forever", endpoint="/coins/markets",
                )
        return build_snapshot(list(self.archive), categories)

    def market_chart(self, coin_id: str, days: int) -> RawResponse:
        """`/coins/{id}/market_chart?vs_currency=usd&days=N` (parse with ingest.history)."""
        return self._call(self.api.get_coin_market_chart_by_id, id=coin_id,
                          vs_currency="usd", days=days)

    def exchange_rates(self) -> RawResponse:
        """`/exchange_rates`: every currency against BTC (parse with ingest.fx); only called
        when a non-USD GPU quote needs converting."""
        return self._call(self.api.get_exchange_rates)
