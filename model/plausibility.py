"""Plausibility checks on a day's answer before it is stored or alerted on: pure functions.

Two checks, both configured in config/settings.py:

- the sector market cap (USD) must be finite and inside [CAPCOVER_SECTOR_CAP_MIN_USD,
  CAPCOVER_SECTOR_CAP_MAX_USD]; outside it the whole run fails (`ImplausibleData`): a cap of
  1e30 is a broken payload, not a market, and every ratio built on it would be wrong;
- a scenario's coverage ratio may move at most x CAPCOVER_MAX_DAILY_MOVE (or / it) against
  that scenario's previous report; a bigger move is held back (quarantined) instead of
  becoming the latest answer and firing alerts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date

from capcover.model.report import ReportRow


class ImplausibleData(ValueError):
    """The day's numbers cannot be a real market; the run fails with this one line."""


def check_sector_cap(cap_usd: float, *, low_usd: float, high_usd: float) -> str | None:
    """None when `cap_usd` (USD) is finite and within [low_usd, high_usd]; else why not."""
    if isinstance(cap_usd, bool) or not math.isfinite(cap_usd):
        return f"sector market cap {cap_usd!r} is not a finite number"
    if low_usd <= cap_usd <= high_usd:
        return None
    return (
        f"sector market cap ${cap_usd:.4g} is outside the plausible band "
        f"${low_usd:.4g}..${high_usd:.4g} (CAPCOVER_SECTOR_CAP_MIN_USD/_MAX_USD)"
    )


@dataclass(frozen=True)
class MoveVerdict:
    """One scenario's ratio against its previous report. `factor` is the move as a multiple
    (>= 1, whichever direction); None on a scenario's first day or when a ratio is not > 0."""

    scenario: str
    ratio: float
    previous_date: date | None
    previous_ratio: float | None
    factor: float | None
    quarantined: bool
    reason: str | None = None


def move_factor(ratio: float, previous: float) -> float | None:
    """How many times bigger or smaller `ratio` is than `previous` (>= 1); None when either is
    not a finite positive number (a multiple of 0 means nothing)."""
    if not (math.isfinite(ratio) and math.isfinite(previous)) or ratio <= 0 or previous <= 0:
        return None
    return max(ratio / previous, previous / ratio)


def check_moves(
    rows: list[ReportRow], previous: dict[str, ReportRow], *, max_move: float
) -> list[MoveVerdict]:
    """A verdict per row: quarantined when its ratio moved more than `max_move` times (up or
    down) against `previous[row.scenario]`, the scenario's report on its latest earlier date."""
    out = []
    for row in rows:
        prev = previous.get(row.scenario)
        if prev is None:
            out.append(MoveVerdict(row.scenario, row.coverage_ratio, None, None, None, False))
            continue
        factor = move_factor(row.coverage_ratio, prev.coverage_ratio)
        held = factor is not None and factor > max_move
        reason = (
            (
                f"coverage ratio {row.coverage_ratio:.4g} moved x{factor:.3g} against "
                f"{prev.report_date} ({prev.coverage_ratio:.4g}), more than "
                f"CAPCOVER_MAX_DAILY_MOVE={max_move:g}: held back, not reported or alerted on"
            )
            if held
            else None
        )
        out.append(
            MoveVerdict(
                row.scenario,
                row.coverage_ratio,
                prev.report_date,
                prev.coverage_ratio,
                factor,
                held,
                reason,
            )
        )
    return out
