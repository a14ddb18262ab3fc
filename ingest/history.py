"""Per-coin history from `GET /coins/{id}/market_chart`, parsed into one point per UTC day.

CoinGecko returns `{prices, market_caps, total_volumes}`, each `[[ms, value], ...]`. Over 90 days
the points are daily at 00:00 UTC and the last one is "now" (a partial, intraday value); shorter
ranges come hourly. Either way a day is represented by its FIRST point (00:00 UTC on the daily
granularity), and a trailing intraday "now" point is dropped, so every day means the same thing:
the coin's value at the start of that UTC day.
"""

from __future__ import annotations

import math
from datetime import UTC, date, datetime

from capcover.ingest.decode import loads
from capcover.ingest.errors import BadPayload
from capcover.ingest.feeds import json_problem
from capcover.ingest.models import CHART, HistoryPoint, RawResponse

DAY_MS, MIN_MS, MAX_MS = CHART.day_ms, CHART.min_ms, CHART.max_ms  # 1970 to the end of 9999
SERIES = {"market_caps": "market_cap_usd", "prices": "price_usd", "total_volumes": "volume_24h_usd"}


def _series(raw: RawResponse, payload: dict, name: str) -> dict[int, float | None]:
    values = payload.get(name, [])
    if not isinstance(values, list):
        raise BadPayload(f"coingecko {raw.endpoint}: '{name}' is not a list", endpoint=raw.endpoint)
    out: dict[int, float | None] = {}
    for pair in values:
        if (
            not isinstance(pair, list | tuple)
            or len(pair) != 2
            or not _number(pair[0])
            or not MIN_MS <= pair[0] <= MAX_MS
        ):
            raise BadPayload(
                f"coingecko {raw.endpoint}: '{name}' holds "
                f"{' '.join(_short(pair).split())}, not [ms, value]",
                endpoint=raw.endpoint,
            )
        value = pair[1]
        # The live parser's rule (ingest/models.py: market caps >= 0): a negative value is no
        # value, like a non-finite one, so a day's sector sum never takes it.
        out[int(pair[0])] = (
            float(value) if _number(value) and 0 <= value < CHART.max_value else None
        )
    return out


def _number(value: object) -> bool:
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and (isinstance(value, int) or math.isfinite(value))
    )


def _short(value: object) -> str:
    try:
        return repr(value)[:40]
    except RecursionError:
        return "a deeply nested value"


def parse_market_chart(raw: RawResponse, coin_id: str) -> list[HistoryPoint]:
    """Daily points of one coin, oldest first (see the module docstring for the day rule)."""
    try:
        payload = loads(raw.body)
    except (ValueError, RecursionError) as exc:
        raise BadPayload(
            f"coingecko {raw.endpoint}: expected JSON, got "
            f"{json_problem(raw.body, exc)} — retry later",
            endpoint=raw.endpoint,
        ) from None
    if not isinstance(payload, dict) or "market_caps" not in payload:
        raise BadPayload(
            f"coingecko {raw.endpoint}: expected an object with 'market_caps' — the "
            f"API changed shape; capcover needs an update",
            endpoint=raw.endpoint,
        )
    series = {name: _series(raw, payload, name) for name in SERIES}
    stamps = sorted(series["market_caps"])
    if stamps and stamps[-1] % DAY_MS != 0 and len(stamps) > 1:
        stamps = stamps[:-1]  # the trailing "now" point: an intraday value, not a day's
    by_day: dict[date, HistoryPoint] = {}
    for ms in stamps:
        at = datetime.fromtimestamp(ms / 1000, UTC)
        if at.date() in by_day:
            continue  # the day's first point stands for the day
        by_day[at.date()] = HistoryPoint(
            coin_id=coin_id,
            day=at.date(),
            point_at=at,
            market_cap_usd=series["market_caps"].get(ms),
            price_usd=series["prices"].get(ms),
            volume_24h_usd=series["total_volumes"].get(ms),
        )
    return list(by_day.values())
