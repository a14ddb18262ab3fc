"""Alert storage: the reads the rules need, idempotent alert loads, delivery bookkeeping.

Tables from migration 005: `alerts` (one row per alert key) and `alert_deliveries` (one row per
alert and channel). Channel ids never contain a URL (see notify/redact.py).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import UTC, date, datetime, timedelta

from capcover.model.alerts import (
    EXPLAINED_RULES,
    Alert,
    AlertRules,
    FeedFailure,
    evaluate,
    with_explanation,
)
from capcover.model.report import ReportRow
from capcover.warehouse.db import Warehouse

_REPORT_COLUMNS = ", ".join(f.name for f in fields(ReportRow))

# A delivery claimed by a run that never recorded its outcome (the process died mid-send) is
# retried once it is this old; a live run finishes its sends well within it.
STALE_CLAIM = timedelta(minutes=10)


def previous_reports(wh: Warehouse, day: date, scenarios: list[str]) -> dict[str, ReportRow]:
    """Per scenario, its report on the latest report date before `day`."""
    rows = wh.query(
        f"SELECT {_REPORT_COLUMNS} FROM report_daily "  # noqa: S608 - dataclass field names
        "WHERE report_date < ? AND list_contains(?, scenario) "
        "QUALIFY report_date = max(report_date) OVER (PARTITION BY scenario)",
        [day, scenarios],
    )
    return {r[1]: ReportRow(*r) for r in rows}


def feed_failures(
    wh: Warehouse, day: date, failed_today: Mapping[str, str | None]
) -> tuple[FeedFailure, ...]:
    """Quote feeds failing today, with how many consecutive run days (today included) they
    have failed, from `runs.sources_failed` of the latest successful run of each earlier day."""
    if not failed_today:
        return ()
    history = wh.query(
        "SELECT as_of_date, coalesce(sources_failed, '') FROM runs "
        "WHERE status = 'ok' AND as_of_date < ? AND kind IN ('daily', 'demo') "
        "QUALIFY row_number() OVER (PARTITION BY as_of_date ORDER BY run_seq DESC) = 1 "
        "ORDER BY as_of_date DESC LIMIT 400",
        [day],
    )
    out = []
    for source, error in sorted(failed_today.items()):
        days, since = 1, day
        for as_of, failed in history:
            if source not in failed.split(","):
                break
            days, since = days + 1, as_of
        out.append(FeedFailure(source, days, since, error))
    return tuple(out)


@dataclass(frozen=True)
class StoredAlert:
    alert: Alert
    new: bool  # first fired by this run (False: the key was already stored)
    delivery_state: str


def store_alerts(
    wh: Warehouse, alerts: list[Alert], channel_ids: list[str], run_id: str
) -> list[StoredAlert]:
    """Insert alerts not stored yet, with a pending delivery row per channel. An alert already
    stored keeps its delivery rows (never re-sent once delivered); while nothing has been
    delivered yet, its message follows the latest rerun's numbers."""
    now = datetime.now(UTC)
    out = []
    for a in alerts:
        existing = wh.query(
            "SELECT delivery_state FROM alerts WHERE report_date = ? AND scenario = ? "
            "AND rule = ? AND level = ?",
            list(a.key),
        )
        inputs = json.dumps(dict(a.inputs))
        if existing:
            state = existing[0][0]
            if state not in ("delivered", "partial"):
                wh.query(
                    "UPDATE alerts SET previous_date = ?, previous_ratio = ?, current_ratio = ?,"
                    " message = ?, inputs = ? WHERE alert_id = ?",
                    [
                        a.previous_date,
                        a.previous_ratio,
                        a.current_ratio,
                        a.message,
                        inputs,
                        a.alert_id,
                    ],
                )
            out.append(StoredAlert(a, False, state))
            continue
        state = "pending" if channel_ids else "no_channel"
        wh.query(
            "INSERT INTO alerts (report_date, scenario, rule, level, alert_id, previous_date,"
            " previous_ratio, current_ratio, message, inputs, delivery_state, channels,"
            " created_at, run_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                *a.key,
                a.alert_id,
                a.previous_date,
                a.previous_ratio,
                a.current_ratio,
                a.message,
                inputs,
                state,
                len(channel_ids),
                now,
                run_id,
            ],
        )
        wh.append(
            "alert_deliveries",
            [(a.alert_id, ch, "pending", 0, None, None, None, None) for ch in channel_ids],
        )
        out.append(StoredAlert(a, True, state))
    return out


def withdraw_unfired(wh: Warehouse, day: date, fired: list[Alert]) -> int:
    """A rerun of `day` that no longer fires an alert nobody has received yet (say the data
    was corrected) withdraws it: it is kept, marked `withdrawn`, and never sent."""
    keys = [a.alert_id for a in fired]
    rows = wh.query(
        "SELECT alert_id FROM alerts WHERE report_date = ? AND delivery_state IN "
        "('pending', 'failed') AND NOT list_contains(?::VARCHAR[], alert_id)",
        [day, keys],
    )
    for (alert_id,) in rows:
        wh.query(
            "UPDATE alert_deliveries SET state = 'withdrawn' WHERE alert_id = ?"
            " AND state <> 'delivered'",
            [alert_id],
        )
        wh.query("UPDATE alerts SET delivery_state = 'withdrawn' WHERE alert_id = ?", [alert_id])
    return len(rows)


@dataclass(frozen=True)
class PendingDelivery:
    alert_id: str
    channel_id: str
    attempts: int  # including the one just claimed
    report_date: date
    scenario: str
    rule: str
    level: str
    title: str
    body: str


def claim_pending(wh: Warehouse, channel_ids: list[str], run_id: str) -> list[PendingDelivery]:
    """Mark every undelivered delivery on an available channel as being sent by `run_id` and
    return them. Call inside a transaction; record the outcome with `record_outcomes`."""
    now = datetime.now(UTC)
    rows = wh.query(
        "SELECT d.alert_id, d.channel_id, d.attempts + 1, a.report_date, a.scenario, a.rule,"
        " a.level, a.message, a.inputs FROM alert_deliveries d JOIN alerts a USING (alert_id) "
        "WHERE list_contains(?, d.channel_id) AND (d.state IN ('pending', 'failed') "
        "   OR (d.state = 'sending' AND d.last_attempt_at < ?)) "
        "ORDER BY a.report_date, a.scenario, a.rule, a.level, d.channel_id",
        [channel_ids, now - STALE_CLAIM],
    )
    out = []
    for alert_id, channel_id, attempts, day, scenario, rule, level, message, inputs in rows:
        wh.query(
            "UPDATE alert_deliveries SET state = 'sending', attempts = ?, last_attempt_at = ?,"
            " claimed_by = ? WHERE alert_id = ? AND channel_id = ?",
            [attempts, now, run_id, alert_id, channel_id],
        )
        details = json.loads(inputs or "{}")
        body = "\n".join([message, ""] + [f"{k}: {v}" for k, v in details.items()]).rstrip()
        title = f"capcover {rule.replace('_', ' ')}: {scenario}"
        out.append(
            PendingDelivery(alert_id, channel_id, attempts, day, scenario, rule, level, title, body)
        )
    return out


def record_outcomes(
    wh: Warehouse, outcomes: list[tuple[PendingDelivery, str | None]], run_id: str
) -> None:
    """Store each claimed delivery's outcome (None = delivered, else the redacted error) and
    recompute the alerts' delivery state. Call inside a transaction."""
    now = datetime.now(UTC)
    for d, error in outcomes:
        if error is None:
            wh.query(
                "UPDATE alert_deliveries SET state = 'delivered', delivered_at = ?,"
                " last_error = NULL WHERE alert_id = ? AND channel_id = ? AND claimed_by = ?",
                [now, d.alert_id, d.channel_id, run_id],
            )
        else:
            wh.query(
                "UPDATE alert_deliveries SET state = 'failed', last_error = ? "
                "WHERE alert_id = ? AND channel_id = ? AND claimed_by = ?",
                [error, d.alert_id, d.channel_id, run_id],
            )
    refresh_states(wh, sorted({d.alert_id for d, _ in outcomes}))


def refresh_states(wh: Warehouse, alert_ids: list[str]) -> None:
    """alerts.delivery_state from its delivery rows: delivered when every channel has it."""
    for alert_id in alert_ids:
        n, delivered, failed, last = wh.query(
            "SELECT count(*), count(*) FILTER (state = 'delivered'),"
            " count(*) FILTER (state = 'failed'), max(delivered_at) "
            "FROM alert_deliveries WHERE alert_id = ?",
            [alert_id],
        )[0]
        if n == 0:
            state = "no_channel"
        elif delivered == n:
            state = "delivered"
        elif delivered:
            state = "partial"
        elif failed:
            state = "failed"
        else:
            state = "pending"
        wh.query(
            "UPDATE alerts SET delivery_state = ?, delivered_at = ? WHERE alert_id = ?",
            [state, last if state == "delivered" else None, alert_id],
        )


def set_alerts_sent(wh: Warehouse, run_id: str, sent: int) -> None:
    """Fill `runs.alerts_sent` when the column exists (added by migration 006)."""
    has = wh.scalar(
        "SELECT count(*) FROM duckdb_columns() WHERE table_name = 'runs' "
        "AND column_name = 'alerts_sent'"
    )
    if has:
        wh.query("UPDATE runs SET alerts_sent = ? WHERE run_id = ?", [sent, run_id])


def fire_alerts(
    wh: Warehouse,
    rules: AlertRules,
    rows: list[ReportRow],
    *,
    day: date,
    run_id: str,
    failed_feeds: Mapping[str, str | None],
    channel_ids: list[str],
    why: Mapping[str, str],
) -> list[StoredAlert]:
    """Fire the rules on `day`'s fresh report rows and store the alerts, inside the run's
    transaction (delivery is notify/'s job, after commit). Alerts about the ratio's movement
    carry the "why it moved" paragraph of their scenario from `why` (scenario -> paragraph,
    computed once by the run for its report and artifacts too: warehouse.explain.explain_all)."""
    previous = previous_reports(wh, day, list(rules.scenarios))
    failures = feed_failures(wh, day, failed_feeds)
    fired = evaluate(previous, rows, rules, failures)
    if any(a.rule in EXPLAINED_RULES for a in fired):
        fired = [with_explanation(a, why.get(a.scenario)) for a in fired]
    withdraw_unfired(wh, day, fired)
    return store_alerts(wh, fired, channel_ids, run_id)
