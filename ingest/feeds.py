"""Small helpers shared by the GPU price feeds (ingest/vastai.py, ingest/runpod.py)."""

from __future__ import annotations

import json
import math
from datetime import datetime, timedelta
from typing import Any

from capcover.ingest.decode import JsonTooLarge, loads
from capcover.ingest.errors import BadPayload
from capcover.ingest.models import Quarantined, RawResponse

MAX_CLOCK_SKEW_S = 600.0  # default of CAPCOVER_MAX_CLOCK_SKEW_S


def json_problem(body: str, exc: BaseException) -> str:
    """What is wrong with a body `json.loads` (or ingest.decode.loads) refused, in a few
    words."""
    if isinstance(exc, JsonTooLarge):  # RepeatedKey too: its message says what
        return str(exc)
    if body.lstrip()[:1] == "<":
        return "an HTML page"
    if isinstance(exc, RecursionError):
        return "JSON nested too deeply to parse"
    if isinstance(exc, json.JSONDecodeError):
        return f"invalid JSON ({exc.msg} at char {exc.pos})"
    return f"invalid JSON ({' '.join(str(exc).split())[:80]})"  # e.g. a 5,000-digit number


def load_json(raw: RawResponse) -> Any:
    try:
        return loads(raw.body)
    except (ValueError, RecursionError) as exc:
        raise BadPayload(
            f"{raw.source} {raw.endpoint}: expected JSON, got "
            f"{json_problem(raw.body, exc)} — the feed or a proxy sent a non-API "
            f"answer; retry later",
            endpoint=raw.endpoint,
        ) from None


def record_json(record: Any) -> str:
    """`record` as JSON for the quarantine table, whatever it holds."""
    try:
        return json.dumps(record, sort_keys=True, default=str)
    except (RecursionError, ValueError, TypeError):
        return json.dumps("<not serialisable: nested too deeply or mixed key types>")


def future_problem(
    name: str, at: datetime | None, fetched_at: datetime, max_skew_s: float
) -> str | None:
    """Why `at` cannot be true (later than the answer's arrival plus the allowed clock
    skew, in seconds), or None when it is plausible."""
    if at is None or at <= fetched_at + timedelta(seconds=max_skew_s):
        return None
    ahead = (at - fetched_at).total_seconds()
    return (
        f"{name} {at.isoformat()} is {ahead:.0f} s after the answer arrived (allowed clock "
        f"skew {max_skew_s:g} s, CAPCOVER_MAX_CLOCK_SKEW_S)"
    )


def require_fields(raw: RawResponse, records: list, fields: tuple[str, ...]) -> None:
    """A renamed or missing field is the API changing shape: fail the feed, not each record."""
    if records and isinstance(records[0], dict):
        missing = [f for f in fields if f not in records[0]]
        if missing:
            raise BadPayload(
                f"{raw.source} {raw.endpoint}: records lack required field(s) "
                f"{', '.join(missing)} — the API changed shape; capcover needs an update",
                endpoint=raw.endpoint,
            )


def quarantine(raw: RawResponse, record: Any, key: Any, reason: str) -> Quarantined:
    return Quarantined(
        source=raw.source,
        endpoint=raw.endpoint,
        record_key=None if key is None else str(key),
        reason=reason,
        record_json=record_json(record),
    )


def positive_number(value: Any) -> float | None:
    """`value` as a positive finite float; None for 0/null ("not offered"); ValueError else."""
    if value is None or value == 0:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"not a number: {value!r}")
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"not a positive finite number: {value!r}")
    return float(value)
