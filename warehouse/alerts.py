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
# an unknown outcome once it is this old; a live run finishes its sends well within it.
STALE_CLAIM = timedelta(minutes=10)
PREFECT = "prefect-event"  # notify.channels.PREFECT_CHANNEL (warehouse/ imports no notify/)


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
            if state in ("pending", "failed", "no_channel"):  # no receiver has (or may have) it
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
            [(a.alert_id, ch, "pending", 0, None, None, None, None, 0) for ch in channel_ids],
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
    unknown_attempts: int  # sends before this one whose outcome was unknown
    report_date: date
    scenario: str
    rule: str
    level: str
    message: str
    inputs: dict[str, str]


# Delivery row states (migration 080): the ones a run sends, and the ones that mean a receiver
# has (or may have) the alert.
SENDABLE = ("pending", "failed", "unknown")
REACHED = ("delivered", "unknown", "held", "sending")


def readdress(wh: Warehouse, channel_ids: list[str]) -> int:
    """Alerts that no receiver has (or may have) go to the channels configured now: each gets
    a pending row for every current channel it lacks, and its rows of channels no longer
    configured become `superseded`. Alerts that reached a receiver, alerts fired with no
    channel (`no_channel`) and withdrawn ones are left alone; the Prefect event channel, which
    exists only inside a Prefect run, is never readdressed. Call inside a transaction; returns
    the number of rows added."""
    current = [c for c in channel_ids if c != PREFECT]
    if not current:
        return 0
    orphans = [
        r[0]
        for r in wh.query(
            "SELECT a.alert_id FROM alerts a JOIN alert_deliveries d USING (alert_id) "
            "WHERE a.delivery_state NOT IN ('no_channel', 'withdrawn') AND d.channel_id <> ? "
            "GROUP BY a.alert_id "
            "HAVING count(*) FILTER (list_contains(?, d.state)) = 0",
            [PREFECT, list(REACHED)],
        )
    ]
    added = 0
    for alert_id in orphans:
        have = {
            c
            for (c,) in wh.query(
                "SELECT channel_id FROM alert_deliveries WHERE alert_id = ?", [alert_id]
            )
        }
        wh.query(
            "UPDATE alert_deliveries SET state = 'superseded' WHERE alert_id = ?"
            " AND channel_id <> ? AND NOT list_contains(?, channel_id)"
            " AND state IN ('pending', 'failed')",
            [alert_id, PREFECT, current],
        )
        missing = [c for c in current if c not in have]
        wh.append(
            "alert_deliveries",
            [(alert_id, c, "pending", 0, None, None, None, None, 0) for c in missing],
        )
        wh.query(
            "UPDATE alert_deliveries SET state = 'pending' WHERE alert_id = ?"
            " AND list_contains(?, channel_id) AND state = 'superseded'",
            [alert_id, current],
        )
        added += len(missing)
    refresh_states(wh, orphans)
    return added


def claim_pending(wh: Warehouse, channel_ids: list[str], run_id: str) -> list[PendingDelivery]:
    """Mark every sendable delivery on an available channel as being sent by `run_id` and
    return them. A claim whose run never recorded its outcome (the process died mid-send) is
    an unknown outcome: sent once more if it was the first, held otherwise. Call inside a
    transaction; record the outcome with `record_outcomes`."""
    now = datetime.now(UTC)
    stale = wh.query(
        "SELECT alert_id, channel_id, unknown_attempts FROM alert_deliveries"
        " WHERE state = 'sending' AND last_attempt_at < ?",
        [now - STALE_CLAIM],
    )
    for alert_id, channel, unknowns in stale:
        wh.query(
            "UPDATE alert_deliveries SET state = ?, unknown_attempts = ?, last_error = ?"
            " WHERE alert_id = ? AND channel_id = ?",
            [
                "held" if (unknowns or 0) >= 1 else "unknown",
                (unknowns or 0) + 1,
                "a run claimed it and never recorded the outcome (it stopped mid-send)",
                alert_id,
                channel,
            ],
        )
    rows = wh.query(
        "SELECT d.alert_id, d.channel_id, d.attempts + 1, coalesce(d.unknown_attempts, 0),"
        " a.report_date, a.scenario, a.rule, a.level, a.message, a.inputs"
        " FROM alert_deliveries d JOIN alerts a USING (alert_id) "
        "WHERE list_contains(?, d.channel_id) AND list_contains(?, d.state) "
        "ORDER BY a.report_date, a.scenario, a.rule, a.level, d.channel_id",
        [channel_ids, list(SENDABLE)],
    )
    out = []
    for alert_id, channel_id, attempts, unknowns, day, scenario, rule, level, msg, inputs in rows:
        wh.query(
            "UPDATE alert_deliveries SET state = 'sending', attempts = ?, last_attempt_at = ?,"
            " claimed_by = ? WHERE alert_id = ? AND channel_id = ?",
            [attempts, now, run_id, alert_id, channel_id],
        )
        details = {str(k): str(v) for k, v in json.loads(inputs or "{}").items()}
        out.append(
            PendingDelivery(
                alert_id, channel_id, attempts, unknowns, day, scenario, rule, level, msg, details
            )
        )
    refresh_states(wh, sorted({a for a, _c, _u in stale}))
    return out


def record_outcomes(
    wh: Warehouse, outcomes: list[tuple[PendingDelivery, str, str | None]], run_id: str
) -> None:
    """Store each claimed delivery's outcome (state delivered | failed | unknown, and the
    redacted detail of anything but a delivery) and recompute the alerts' delivery state. An
    unknown outcome after an earlier unknown one holds the delivery for a person. Call inside
    a transaction."""
    now = datetime.now(UTC)
    for d, state, detail in outcomes:
        if state == "delivered":
            wh.query(
                "UPDATE alert_deliveries SET state = 'delivered', delivered_at = ?,"
                " last_error = NULL WHERE alert_id = ? AND channel_id = ? AND claimed_by = ?",
                [now, d.alert_id, d.channel_id, run_id],
            )
            continue
        unknowns = d.unknown_attempts + (state == "unknown")
        final = "held" if state == "unknown" and unknowns >= 2 else state
        wh.query(
            "UPDATE alert_deliveries SET state = ?, last_error = ?, unknown_attempts = ? "
            "WHERE alert_id = ? AND channel_id = ? AND claimed_by = ?",
            [final, detail, unknowns, d.alert_id, d.channel_id, run_id],
        )
    refresh_states(wh, sorted({d.alert_id for d, _s, _e in outcomes}))


def refresh_states(wh: Warehouse, alert_ids: list[str]) -> None:
    """alerts.delivery_state from its delivery rows (superseded and withdrawn rows aside):
    delivered when every channel has it, partial when some has, else the most telling of held,
    unknown, failed and pending."""
    for alert_id in alert_ids:
        n, delivered, held, unknown, failed, last = wh.query(
            "SELECT count(*), count(*) FILTER (state = 'delivered'),"
            " count(*) FILTER (state = 'held'), count(*) FILTER (state = 'unknown'),"
            " count(*) FILTER (state = 'failed'), max(delivered_at) "
            "FROM alert_deliveries WHERE alert_id = ? AND state NOT IN ('superseded', 'withdrawn')",
            [alert_id],
        )[0]
        current = wh.scalar("SELECT delivery_state FROM alerts WHERE alert_id = ?", [alert_id])
        if current == "withdrawn":
            continue
        if n == 0:
            state = "no_channel"
        elif delivered == n:
            state = "delivered"
        elif delivered:
            state = "partial"
        elif held:
            state = "held"
        elif unknown:
            state = "unknown"
        elif failed:
            state = "failed"
        else:
            state = "pending"
        wh.query(
            "UPDATE alerts SET delivery_state = ?, delivered_at = ? WHERE alert_id = ?",
            [state, last if state == "delivered" else None, alert_id],
        )


def release_held(wh: Warehouse, alert_ids: list[str] | None) -> int:
    """`capcover alerts release`: held (and unknown) deliveries of `alert_ids` (None: all)
    go out again with the next run, their unknown count reset. Returns the rows released."""
    rows = wh.query(
        "SELECT alert_id, channel_id FROM alert_deliveries WHERE state IN ('held', 'unknown')"
        " AND (?::VARCHAR[] IS NULL OR list_contains(?::VARCHAR[], alert_id))",
        [alert_ids, alert_ids],
    )
    for alert_id, channel in rows:
        wh.query(
            "UPDATE alert_deliveries SET state = 'pending', unknown_attempts = 0"
            " WHERE alert_id = ? AND channel_id = ?",
            [alert_id, channel],
        )
    refresh_states(wh, sorted({a for a, _ in rows}))
    return len(rows)


def confirm_held(wh: Warehouse, alert_ids: list[str]) -> int:
    """`capcover alerts confirm`: a person checked that the receiver got them; held and
    unknown deliveries of `alert_ids` become delivered. Returns the rows confirmed."""
    now = datetime.now(UTC)
    rows = wh.query(
        "SELECT alert_id, channel_id FROM alert_deliveries WHERE state IN ('held', 'unknown')"
        " AND list_contains(?::VARCHAR[], alert_id)",
        [alert_ids],
    )
    for alert_id, channel in rows:
        wh.query(
            "UPDATE alert_deliveries SET state = 'delivered', delivered_at = ?,"
            " last_error = 'confirmed by a person (capcover alerts confirm)'"
            " WHERE alert_id = ? AND channel_id = ?",
            [now, alert_id, channel],
        )
    refresh_states(wh, sorted({a for a, _ in rows}))
    return len(rows)


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
