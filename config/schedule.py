"""The daily schedule: cron expression and timezone from the settings, checked without Prefect.

`capcover serve` hands the same two values to Prefect (`prefect.schedules.Cron`); `capcover
status` uses `next_run` when no Prefect server answers.
"""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cronsim import CronSim, CronSimError


def check_cron(expr: str) -> str:
    expr = " ".join(expr.split())
    if len(expr.split()) != 5:
        raise ValueError("must be a 5-field cron expression, e.g. '20 0 * * *'")
    try:
        CronSim(expr, datetime.now(UTC))
    except CronSimError as exc:
        raise ValueError(f"not a valid cron expression ({exc})") from None
    return expr


def check_timezone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError("not an IANA timezone name, e.g. 'UTC' or 'Europe/Berlin'") from None
    return name


def next_run(cron: str, timezone: str, after: datetime | None = None) -> datetime:
    """The next time the schedule fires after `after` (default now), as an aware datetime."""
    start = (after or datetime.now(UTC)).astimezone(ZoneInfo(timezone))
    return next(CronSim(cron, start))
