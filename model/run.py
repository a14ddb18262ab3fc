"""What one daily run produced, as immutable records (built once, never mutated).

`RunResult` is returned by the one daily sequence (flows/sequence.py); `DeliveryReport` says
what alert delivery did after the run committed. Both are frozen: a later step that adds to a
result builds a new one (`dataclasses.replace`). The text summaries live in report/, the
delivery itself in notify/.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from capcover.model.report import ReportRow


@dataclass(frozen=True)
class DeliveryReport:
    """Alert delivery after a run: how many (alert, channel) pairs a receiver accepted
    (`delivered`: Apprise channels only), in how many messages (`messages`: one per channel
    that had something to send), how many Prefect events were emitted (`events`), how many
    channels the run had (`channels`, the Prefect event included; 0: none configured), one
    line per channel whose message failed (sent again next run) and one per channel whose
    outcome is unknown (sent once more, then held)."""

    delivered: int = 0
    failed: tuple[str, ...] = ()
    events: int = 0
    channels: int = 0
    unknown: tuple[str, ...] = ()
    messages: int = 0

    @property
    def ok(self) -> bool:
        return not self.failed and not self.unknown


@dataclass(frozen=True)
class RunResult:
    run_id: str
    kind: str
    as_of_date: date
    reports: list[ReportRow]
    skipped: list[tuple[str, str]] = field(default_factory=list)
    quarantined: int = 0
    duplicates_dropped: int = 0
    http_requests: int = 0
    http_retries: int = 0
    rate_limited: int = 0
    sources_failed: list[str] = field(default_factory=list)
    feed_errors: dict[str, str] = field(default_factory=dict)  # failed quote feed -> why
    sector_market_cap_usd: float | None = None  # USD
    # Alerts fired in the run's transaction (warehouse.alerts.StoredAlert), delivered after it.
    alerts: list[Any] = field(default_factory=list)
    delivery: DeliveryReport | None = None  # None until delivery ran (and in a dry run)
    dry_run: bool = False
    explanations: dict[str, str] = field(default_factory=dict)  # scenario -> "why it moved"
    # A category that came back short (paging not ended on an empty page, fewer constituents
    # than its known count): one line each, named in the run summary.
    sector_notes: list[str] = field(default_factory=list)

    @property
    def alerts_delivered(self) -> int:
        return self.delivery.delivered if self.delivery else 0

    @property
    def alert_events(self) -> int:
        return self.delivery.events if self.delivery else 0

    @property
    def alert_failures(self) -> list[str]:
        return list(self.delivery.failed) if self.delivery else []

    @property
    def alert_unknown(self) -> list[str]:
        return list(self.delivery.unknown) if self.delivery else []

    def summary(self) -> dict:
        return {
            "run_id": self.run_id,
            "as_of_date": self.as_of_date,
            "sector_market_cap_usd": self.sector_market_cap_usd,
            "ratios": {r.scenario: r.coverage_ratio for r in self.reports},
            "skipped": dict(self.skipped),
            "quarantined": self.quarantined,
            "duplicates_dropped": self.duplicates_dropped,
            "http_requests": self.http_requests,
            "http_retries": self.http_retries,
            "rate_limited": self.rate_limited,
            "sources_failed": self.sources_failed,
            "feed_errors": self.feed_errors,
            "alerts": [a.alert.message for a in self.alerts],
            "sector_notes": self.sector_notes,
        }
