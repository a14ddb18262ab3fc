"""Alert delivery after a run has committed: one message per channel per run.

    the run's transaction ──> warehouse.alerts.fire_alerts: rules + `alerts` rows
    commit
    deliver_pending ──> readdress + claim (short transaction) ──> one digest per channel
                    ──> record the outcomes (short transaction)

Each channel gets ONE message per run: a digest of every alert it has not received yet (this
run's and earlier runs' undelivered ones), the "why it moved" once per scenario
(notify/digest.py). The Prefect event channel, inside a Prefect flow run against a configured
Prefect API, emits one event per alert instead (counted as events, not deliveries).

The rules (docs/cli.md, "Alert delivery"):
- an outcome is delivered, failed or unknown (notify/channels.py); failed is sent again with
  the next run; unknown (sent, no valid answer in time) is sent once more, and a second
  unknown holds it for a person (`capcover alerts --undelivered`; `release` / `confirm`);
- no redirect is followed: a 3xx is a failure naming where it pointed;
- an alert that no receiver has (or may have) goes to the channels configured now;
- a channel that fails never fails the run; every failure is reported once, in the returned
  `DeliveryReport` (the caller prints it), never logged a second time.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from capcover.errors import one_line
from capcover.model.run import DeliveryReport
from capcover.model.text import fmt_time
from capcover.notify.channels import (
    DELIVERED,
    FAILED,
    PREFECT_CHANNEL,
    UNKNOWN,
    Channel,
    Message,
    Outcome,
    channels_for,
)
from capcover.notify.digest import DigestAlert, channel_test_message, digest
from capcover.notify.redact import REDACTOR
from capcover.warehouse import alerts as store
from capcover.warehouse.db import open_warehouse

if TYPE_CHECKING:
    from capcover.config.settings import Settings

UNDELIVERED_HINT = "`capcover alerts --undelivered` lists what has not arrived"


def _digest_alerts(claimed: list[store.PendingDelivery]) -> list[DigestAlert]:
    return [
        DigestAlert(d.alert_id, d.report_date, d.scenario, d.rule, d.level, d.message, d.inputs)
        for d in claimed
    ]


def deliver_pending(
    db: Path, *, channels: list[Channel], run_id: str, lock_budget_s: float = 30.0
) -> DeliveryReport:
    """Send every undelivered alert on the given channels: one digest per channel.

    Readdresses alerts no receiver has to the channels given and claims the deliveries in one
    short transaction, sends with no database lock held, then records the outcomes in a
    second short transaction. Never raises for a channel's failure: it is recorded on the
    delivery rows and returned in the report.
    """
    if not channels:
        return DeliveryReport()
    by_id = {c.id: c for c in channels}
    with open_warehouse(db, lock_budget_s=lock_budget_s) as wh:
        with wh.transaction():
            store.readdress(wh, list(by_id))
            claimed = store.claim_pending(wh, list(by_id), run_id)
    if not claimed:
        return DeliveryReport(channels=len(by_id))
    per_channel: dict[str, list[store.PendingDelivery]] = {}
    for d in claimed:
        per_channel.setdefault(d.channel_id, []).append(d)
    outcomes: list[tuple[store.PendingDelivery, str, str | None]] = []
    delivered = events = 0
    failed: list[str] = []
    unknown: list[str] = []
    for channel_id, items in per_channel.items():
        message = digest(_digest_alerts(items), run_id=run_id, undelivered_hint=UNDELIVERED_HINT)
        outcome = _send(by_id[channel_id], message)
        detail = None if outcome.state == DELIVERED else REDACTOR.redact(outcome.detail)[:500]
        outcomes += [(d, outcome.state, detail) for d in items]
        n = f"{len(items)} alert{'s' if len(items) != 1 else ''}"
        if outcome.state == DELIVERED:
            if channel_id == PREFECT_CHANNEL:
                events += len(items)
            else:
                delivered += len(items)
        elif outcome.state == UNKNOWN:
            again = all(d.unknown_attempts == 0 for d in items)
            unknown.append(
                f"{channel_id}: {detail} ({n}; "
                + (
                    "sent once more with the next run)"
                    if again
                    else "now held for a person: `capcover alerts --undelivered`)"
                )
            )
        else:
            failed.append(f"{channel_id}: {detail} ({n}; sent again with the next run)")
    report = DeliveryReport(
        delivered=delivered,
        failed=tuple(failed),
        events=events,
        channels=len(by_id),
        unknown=tuple(unknown),
        messages=sum(1 for c in per_channel if c != PREFECT_CHANNEL),
    )
    with open_warehouse(db, lock_budget_s=lock_budget_s) as wh:
        with wh.transaction():
            store.record_outcomes(wh, outcomes, run_id)
            store.set_alerts_sent(wh, run_id, report.delivered)
    return report


def _send(channel: Channel, message: Message) -> Outcome:
    try:
        return channel.send(message)
    except Exception as exc:  # noqa: BLE001 - a channel must not take the others down
        return Outcome(FAILED, f"{type(exc).__name__}: {one_line(exc)}")


def deliver_after_run(
    settings: Settings, run_id: str, *, emit: Callable[..., object] | None = None
) -> DeliveryReport:
    """The post-commit step of a run: deliver what is pending and say how it went. A failure
    here (even the warehouse being locked) never fails the run: it is reported instead."""
    channels = channels_for(settings, emit)
    try:
        return deliver_pending(
            settings.db, channels=channels, run_id=run_id, lock_budget_s=settings.lock_budget_s
        )
    except Exception as exc:  # noqa: BLE001 - the data load is committed; report, don't raise
        return DeliveryReport(
            failed=(
                f"delivery step failed: {REDACTOR.redact(str(exc))}"
                f" (alerts stay undelivered; the next run retries)",
            ),
            channels=len(channels),
        )


def send_test(settings: Settings) -> list[tuple[str, Outcome]]:
    """`capcover alerts test`: a labelled test message to every configured channel, each
    channel's outcome. Touches no warehouse."""
    at = fmt_time(datetime.now(UTC))
    return [(c.id, _send(c, channel_test_message(c.id, at))) for c in channels_for(settings)]
