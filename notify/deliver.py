"""Alert delivery after a run has committed.

    the run's transaction ──> warehouse.alerts.fire_alerts: rules + `alerts` rows
    commit
    deliver_pending ──> claim (short transaction) ──> send ──> record (short transaction)

Delivery goes through Apprise (one `Apprise` object per URL, so each channel has its own state)
and, inside a Prefect flow run against a configured Prefect API, a Prefect event
`capcover.coverage.<rule>` (counted as an event, not a delivery). A channel that fails
never fails the run: the delivery stays undelivered and the next run retries it. Delivery
returns a `DeliveryReport` of what went where; it never edits the run's result.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from capcover.model.run import DeliveryReport
from capcover.notify.channels import PREFECT_CHANNEL, Channel, channels_for
from capcover.notify.redact import REDACTOR
from capcover.warehouse import alerts as store
from capcover.warehouse.db import open_warehouse

if TYPE_CHECKING:
    from capcover.config.settings import Settings

log = logging.getLogger("capcover")


def deliver_pending(
    db: Path, *, channels: list[Channel], run_id: str, lock_budget_s: float = 30.0
) -> DeliveryReport:
    """Send every undelivered alert on the given channels, exactly once each.

    Claims the deliveries in one short transaction, sends with no database lock held, then
    records the outcomes in a second short transaction. Never raises for a channel's failure:
    it is recorded on the delivery row and returned in the report.
    """
    if not channels:
        return DeliveryReport()
    by_id = {c.id: c for c in channels}
    with open_warehouse(db, lock_budget_s=lock_budget_s) as wh:
        with wh.transaction():
            claimed = store.claim_pending(wh, list(by_id), run_id)
    if not claimed:
        return DeliveryReport(channels=len(by_id))
    outcomes: list[tuple[store.PendingDelivery, str | None]] = []
    failed: list[str] = []
    for d in claimed:
        try:
            by_id[d.channel_id].send(
                d.title, d.body, rule=d.rule, scenario=d.scenario, alert_id=d.alert_id
            )
        except Exception as exc:  # noqa: BLE001 - recorded, retried next run
            error = REDACTOR.redact(str(exc))[:500]
            outcomes.append((d, error))
            failed.append(
                f"{d.report_date} {d.scenario} {d.rule} via {d.channel_id}: "
                f"{error} (attempt {d.attempts}; retried next run)"
            )
        else:
            outcomes.append((d, None))
    # A Prefect event is not a delivery to a receiver: it is counted (and reported) apart.
    accepted = [d.channel_id for d, e in outcomes if e is None]
    events = accepted.count(PREFECT_CHANNEL)
    report = DeliveryReport(
        delivered=len(accepted) - events, failed=tuple(failed), events=events, channels=len(by_id)
    )
    with open_warehouse(db, lock_budget_s=lock_budget_s) as wh:
        with wh.transaction():
            store.record_outcomes(wh, outcomes, run_id)
            store.set_alerts_sent(wh, run_id, report.delivered)
    for line in report.failed:
        log.warning("alert delivery failed: %s", line)
    return report


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
