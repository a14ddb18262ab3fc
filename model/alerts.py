"""Alert rules: pure functions of two reports (the previous report date's and today's).

Every rule takes the previous `ReportRow` of a scenario (or None on its first day) and the
current one, and returns the alerts it fires. No I/O: the warehouse reads and the delivery live
in warehouse/alerts.py and notify/deliver.py.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from datetime import date, datetime

from capcover.model.report import ReportRow
from capcover.model.text import fmt_ratio, fmt_time, fmt_usd

RULES = ("threshold_crossed", "relative_change", "stale_data")


@dataclass(frozen=True)
class AlertRules:
    """What fires. Percentages are percent (10.0 = 10 %), ages in hours."""

    scenarios: tuple[str, ...] = ("h100-purchase", "coindesk-2024")
    enabled: tuple[str, ...] = RULES
    levels: tuple[float, ...] = (1.0,)
    relative_change_pct: float = 10.0
    stale_after_h: float = 36.0
    feed_failure_days: int = 2


@dataclass(frozen=True)
class FeedFailure:
    """A quote feed that failed on `days` consecutive run days, the latest being today."""

    source: str
    days: int
    since: date
    error: str | None = None


@dataclass(frozen=True)
class Alert:
    """One fired alert. (report_date, scenario, rule, level) is its identity: a rerun of the
    same day fires the same key, and the warehouse stores it once."""

    report_date: date
    scenario: str
    rule: str
    level: str  # what the rule compared with: "1.0" (a level), "10%" (a change), a source name
    previous_date: date | None
    previous_ratio: float | None
    current_ratio: float
    message: str  # one line a person understands, with the report date
    inputs: tuple[tuple[str, str], ...] = field(default=())  # (label, value) behind the message

    @property
    def key(self) -> tuple[date, str, str, str]:
        return (self.report_date, self.scenario, self.rule, self.level)

    @property
    def alert_id(self) -> str:
        text = "|".join(str(part) for part in self.key)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    @property
    def title(self) -> str:
        return f"capcover {self.rule.replace('_', ' ')}: {self.scenario}"

    def body(self) -> str:
        lines = [self.message, ""]
        lines += [f"{label}: {value}" for label, value in self.inputs]
        return "\n".join(lines).rstrip()


# Rules about the ratio's movement carry the "why it moved" paragraph (model/explain.py).
EXPLAINED_RULES = ("threshold_crossed", "relative_change")


def with_explanation(alert: Alert, why: str | None) -> Alert:
    """`alert` with `why` appended to its message (still one line), for the rules about the
    ratio's movement; other alerts, and a missing explanation, leave it as it was."""
    if not why or alert.rule not in EXPLAINED_RULES:
        return alert
    return replace(alert, message=f"{alert.message}. Why: {why}")


# -- formatting ------------------------------------------------------------------------------


def _usd(value: float | None) -> str:
    return "n/a" if value is None else fmt_usd(value)


def _ts(value: datetime) -> str:
    return fmt_time(value)


def _level(value: float) -> str:
    return f"{value:g}" if value != int(value) else f"{value:.1f}"


def _inputs(current: ReportRow, previous: ReportRow | None) -> tuple[tuple[str, str], ...]:
    rows = [
        ("report date", current.report_date.isoformat()),
        ("scenario", current.scenario),
        ("coverage ratio", fmt_ratio(current.coverage_ratio)),
        (
            "sector market cap",
            f"{_usd(current.sector_market_cap_usd)} ({current.categories}, "
            f"CoinGecko as of {_ts(current.market_as_of)})",
        ),
        (
            "buildout cost",
            f"{current.gpu_count:,} {current.gpu_sku} x "
            f"{_usd(current.unit_price_usd)} = {_usd(current.buildout_cost_usd)}",
        ),
        (
            "unit price basis",
            current.price_basis
            + (
                f" ({current.price_quote_count} quote(s): {current.price_sources}, newest "
                f"{current.price_as_of})"
                if current.price_quote_count
                else ""
            ),
        ),
    ]
    if previous is not None:
        rows += [
            (
                "previous report",
                f"{previous.report_date}: ratio {fmt_ratio(previous.coverage_ratio)}, "
                f"cap {_usd(previous.sector_market_cap_usd)}, unit price "
                f"{_usd(previous.unit_price_usd)}",
            ),
        ]
    rows.append(("run", current.run_id))
    return tuple(rows)


def band_text(row: ReportRow) -> str:
    """ " (band low-high)": the ratio at the quote quartiles; empty for an exact price."""
    low, high = row.coverage_ratio_low, row.coverage_ratio_high
    if low is None or high is None or low == high:
        return ""
    return f" (band {fmt_ratio(low)}\u2013{fmt_ratio(high)})"


def _what(row: ReportRow) -> str:
    return f"{row.gpu_count:,} {row.gpu_sku} at {_usd(row.unit_price_usd)}"


# -- rules -----------------------------------------------------------------------------------


def threshold_crossed(
    previous: ReportRow | None, current: ReportRow, *, levels: tuple[float, ...] = (1.0,)
) -> list[Alert]:
    """The ratio crossed a level since the previous report date, in either direction.

    At or above a level counts as above it (a ratio of exactly 1.0 covers the buildout).
    """
    if previous is None:
        return []
    was, now = previous.coverage_ratio, current.coverage_ratio
    out = []
    for level in sorted(set(levels)):
        up = was < level <= now
        down = now < level <= was
        if not (up or down):
            continue
        if level == 1.0:
            verb = "now covers" if up else "no longer covers"
        else:
            verb = (
                f"now covers {level:g}x the cost of" if up else f"fell below {level:g}x the cost of"
            )
        message = (
            f"AI-token market cap {verb} {_what(current)} ({current.scenario}): ratio "
            f"{fmt_ratio(now)}{band_text(current)}, was {fmt_ratio(was)} on {previous.report_date} "
            f"(report {current.report_date})"
        )
        out.append(
            Alert(
                current.report_date,
                current.scenario,
                "threshold_crossed",
                _level(level),
                previous.report_date,
                was,
                now,
                message,
                _inputs(current, previous),
            )
        )
    return out


def relative_change(
    previous: ReportRow | None, current: ReportRow, *, pct: float = 10.0
) -> list[Alert]:
    """The ratio moved more than `pct` percent since the previous report date."""
    if previous is None or previous.coverage_ratio == 0:
        return []
    was, now = previous.coverage_ratio, current.coverage_ratio
    change = (now / was - 1) * 100
    if abs(change) <= pct:
        return []
    cap_change = (current.sector_market_cap_usd / previous.sector_market_cap_usd - 1) * 100
    price_change = (current.unit_price_usd / previous.unit_price_usd - 1) * 100
    verb = "rose" if change > 0 else "fell"
    message = (
        f"{current.scenario} coverage ratio {verb} {abs(change):.1f}% "
        f"(more than {pct:g}%): {fmt_ratio(now)}{band_text(current)}, was {fmt_ratio(was)} on "
        f"{previous.report_date}; "
        f"sector cap {cap_change:+.1f}%, {current.gpu_sku} unit price {price_change:+.1f}% "
        f"(report {current.report_date})"
    )
    return [
        Alert(
            current.report_date,
            current.scenario,
            "relative_change",
            f"{pct:g}%",
            previous.report_date,
            was,
            now,
            message,
            _inputs(current, previous),
        )
    ]


def stale_data(
    previous: ReportRow | None,
    current: ReportRow,
    *,
    stale_after_h: float = 36.0,
    feed_failures: tuple[FeedFailure, ...] = (),
    feed_failure_days: int = 2,
) -> list[Alert]:
    """The report rests on stale inputs: CoinGecko's as-of is more than `stale_after_h` hours
    older than the run's fetch time, or a quote feed this scenario's price depends on has failed
    for `feed_failure_days` consecutive run days (or more).

    The age is measured against the fetch time, not the wall clock, so a replayed or rebuilt
    day is judged as it was when fetched.
    """
    out = []
    prev_date = previous.report_date if previous else None
    prev_ratio = previous.coverage_ratio if previous else None
    age_h = (current.fetched_at - current.market_as_of).total_seconds() / 3600
    if age_h > stale_after_h:
        age = f"{age_h:.0f} h" if age_h < 72 else f"{age_h / 24:.0f} days"
        message = (
            f"CoinGecko data behind {current.scenario} is {age} old (as of "
            f"{_ts(current.market_as_of)}, fetched {_ts(current.fetched_at)}; limit "
            f"{stale_after_h:g} h): ratio {fmt_ratio(current.coverage_ratio)} rests on stale "
            f"market data (report {current.report_date})"
        )
        out.append(
            Alert(
                current.report_date,
                current.scenario,
                "stale_data",
                "coingecko",
                prev_date,
                prev_ratio,
                current.coverage_ratio,
                message,
                _inputs(current, previous),
            )
        )
    if current.price_quote_count:  # fixed-price scenarios do not depend on any quote feed
        for f in feed_failures:
            if f.days < feed_failure_days:
                continue
            message = (
                f"GPU quote feed '{f.source}' has failed on {f.days} consecutive run days "
                f"(since {f.since}): {current.scenario} prices {current.gpu_sku} from "
                f"quotes no newer than {current.price_as_of}, ratio "
                f"{fmt_ratio(current.coverage_ratio)} (report {current.report_date})"
            )
            inputs = _inputs(current, previous)
            if f.error:
                inputs += (("last feed error", f.error),)
            out.append(
                Alert(
                    current.report_date,
                    current.scenario,
                    "stale_data",
                    f"quotes:{f.source}",
                    prev_date,
                    prev_ratio,
                    current.coverage_ratio,
                    message,
                    inputs,
                )
            )
    return out


def evaluate(
    previous: dict[str, ReportRow],
    current: list[ReportRow],
    rules: AlertRules,
    feed_failures: tuple[FeedFailure, ...] = (),
) -> list[Alert]:
    """Every enabled rule over every alerting scenario of one report date."""
    out: list[Alert] = []
    for row in current:
        if row.scenario not in rules.scenarios:
            continue
        prev = previous.get(row.scenario)
        if "threshold_crossed" in rules.enabled:
            out += threshold_crossed(prev, row, levels=rules.levels)
        if "relative_change" in rules.enabled:
            out += relative_change(prev, row, pct=rules.relative_change_pct)
        if "stale_data" in rules.enabled:
            out += stale_data(
                prev,
                row,
                stale_after_h=rules.stale_after_h,
                feed_failures=feed_failures,
                feed_failure_days=rules.feed_failure_days,
            )
    return out
