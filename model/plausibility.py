"""Plausibility checks on a day's answer before it is stored or alerted on: pure functions.

Four checks, at every stage that writes reports (daily runs, the backfill, rebuild), configured
in config/settings.py:

- the sector market cap (USD) must be finite and inside [CAPCOVER_SECTOR_CAP_MIN_USD,
  CAPCOVER_SECTOR_CAP_MAX_USD]; outside it the whole run fails (`ImplausibleData`): a cap of
  1e30 is a broken payload, not a market, and every ratio built on it would be wrong (the
  backfill holds back that day instead);
- each constituent coin: its market cap, FDV and 24h volume not negative and at most the
  band's top (the backfill judges each history point by the same function), and its
  market cap at most COIN_OVER_CATEGORY times its category's reported cap (`coin_problem`);
  a coin outside is quarantined, so it never reaches the constituents' sum or the paragraphs
  explaining a move;
- each report row: every number finite, the ratio above 0, the unit price within
  UNIT_PRICE_RANGE_USD (`row_problem`): a scenario priced at 1e-300 would store an infinite
  ratio that no page or chart can show;
- a scenario's coverage ratio may move at most x CAPCOVER_MAX_DAILY_MOVE (or / it) against
  that scenario's previous report; a bigger move is held back (quarantined) instead of
  becoming the latest answer and firing alerts.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from datetime import date

from capcover.model.report import ReportRow

# The unit price (USD per GPU, all multipliers applied) a report may be built on; the same
# range bounds a scenario's fixed price (config/defaults.py SCENARIO_BOUNDS, checked equal in
# tests/test_numbers.py).
UNIT_PRICE_RANGE_USD = (0.01, 1e9)
# A constituent coin may be at most this many times its category's reported market cap (the
# category is the sum of its coins: a coin bigger than it is a broken record).
COIN_OVER_CATEGORY = 2.0


class ImplausibleData(ValueError):
    """The day's numbers cannot be a real market; the run fails with this one line."""


def check_sector_cap(cap_usd: float, *, low_usd: float, high_usd: float) -> str | None:
    """None when `cap_usd` (USD) is finite and within [low_usd, high_usd]; else why not."""
    if isinstance(cap_usd, bool) or not math.isfinite(cap_usd):
        return f"sector market cap {cap_usd!r} is not a finite number"
    if low_usd <= cap_usd <= high_usd:
        return None
    digits = distinct_digits(cap_usd, low_usd, high_usd)
    return (
        f"sector market cap ${cap_usd:.{digits}g} is outside the plausible band "
        f"${low_usd:.{digits}g}..${high_usd:.{digits}g} (CAPCOVER_SECTOR_CAP_MIN_USD/_MAX_USD)"
    )


def distinct_digits(value: float, *others: float) -> int:
    """The fewest significant digits (4 at least) that write `value` unlike each of `others`
    it differs from: 1.0000001e14 against a band top of 1e14 is not `1e+14` twice."""
    for digits in (4, 6, 8, 10, 12, 14, 17):
        shown = f"{value:.{digits}g}"
        if all(shown != f"{o:.{digits}g}" for o in others if o != value):
            return digits
    return 17


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


def category_problem(
    category_id: str,
    *,
    market_cap_usd: float | None,
    volume_24h_usd: float | None,
    high_usd: float,
) -> str | None:
    """Why a category's reported figures (USD) cannot be a real market (above the sector
    band's top, which also keeps every sum the warehouse makes of them within its exact
    DECIMAL(38, 6) arithmetic), or None."""
    for name, value in (("market cap", market_cap_usd), ("24h volume", volume_24h_usd)):
        if value is not None and (not math.isfinite(value) or value > high_usd):
            return (
                f"category {category_id}: reported {name} ${value:.4g} is above the sector "
                f"band's top ${high_usd:.4g} (CAPCOVER_SECTOR_CAP_MAX_USD): CoinGecko sent an "
                f"impossible figure; retry later"
            )
    return None


def coin_problem(
    coin_id: str,
    *,
    market_cap_usd: float | None,
    fdv_usd: float | None,
    volume_24h_usd: float | None,
    category_cap_usd: float | None,
    high_usd: float,
) -> str | None:
    """Why a constituent's numbers (USD) cannot be a real coin, or None."""
    for name, value in (
        ("market cap", market_cap_usd),
        ("fully diluted valuation", fdv_usd),
        ("24h volume", volume_24h_usd),
    ):
        if value is not None and value < 0:
            return f"coin {coin_id}: {name} ${value:.4g} is negative: held back"
        if value is not None and (not math.isfinite(value) or value > high_usd):
            return (
                f"coin {coin_id}: {name} ${value:.4g} is above the sector band's top "
                f"${high_usd:.4g} (CAPCOVER_SECTOR_CAP_MAX_USD): held back"
            )
    over = COIN_OVER_CATEGORY * (category_cap_usd or 0.0)
    if market_cap_usd and category_cap_usd and market_cap_usd > over:
        return (
            f"coin {coin_id}: market cap ${market_cap_usd:.4g} is more than "
            f"{COIN_OVER_CATEGORY:g}x its category's reported ${category_cap_usd:.4g}: held back"
        )
    return None


def row_problem(row: ReportRow) -> str | None:
    """Why a report row cannot be stored (a number not finite, a ratio not above 0, a unit
    price outside UNIT_PRICE_RANGE_USD), or None."""
    for name, value in asdict(row).items():
        if isinstance(value, float) and not math.isfinite(value):
            return (
                f"{row.scenario}: {name} is {value!r}, not a finite number (unit price "
                f"${row.unit_price_usd:.4g} x {row.gpu_count:,} GPUs): held back, not reported"
            )
    low, high = UNIT_PRICE_RANGE_USD
    if not low <= row.unit_price_usd <= high:
        return (
            f"{row.scenario}: unit price ${row.unit_price_usd:.4g} is outside "
            f"${low:g}..${high:g} per GPU: held back, not reported"
        )
    if not row.coverage_ratio > 0:
        return f"{row.scenario}: coverage ratio {row.coverage_ratio!r} is not above 0: held back"
    return None
