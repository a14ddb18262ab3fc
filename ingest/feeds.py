"""Small helpers shared by the GPU price feeds (ingest/vastai.py, ingest/runpod.py)."""

from __future__ import annotations

import json
import math
from typing import Any

from ingest.errors import BadPayload
from ingest.http import RawResponse
from ingest.models import Quarantined


def load_json(raw: RawResponse) -> Any:
    try:
        return json.loads(raw.body)
    except ValueError as exc:
        what = ("an HTML page" if raw.body.lstrip()[:1] == "<"
                else f"invalid JSON ({exc.msg} at char {exc.pos})")
        raise BadPayload(f"{raw.source} {raw.endpoint}: expected JSON, got {what} — the feed "
                         f"or a proxy sent a non-API answer; retry later",
                         endpoint=raw.endpoint) from None


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
        source=raw.source, endpoint=raw.endpoint, record_key=None if key is None else str(key),
        reason=reason, record_json=json.dumps(record, sort_keys=True, default=str),
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
