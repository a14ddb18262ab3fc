"""Alert wiring: evaluate the rules inside the run's transaction, deliver after commit.

    load_and_report (one transaction) ──> evaluate_and_store: rules + `alerts` rows
    commit
    deliver_pending ──> claim (short transaction) ──> send ──> record (short transaction)

Delivery goes through Apprise (one `Apprise` object per URL, so each channel has its own state)
and, inside the Prefect flow, a Prefect event `capcover.coverage.<rule>`. A channel that fails
never fails the run: the delivery stays undelivered and the next run retries it. Webhook URLs are
secrets: channels are known by `<scheme>:<sha256 prefix>`, and error texts are redacted.
"""

from __future__ import annotations

import hashlib
import logging
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Protocol
from urllib.parse import quote, unquote

from model.alerts import evaluate
from model.report import ReportRow
from warehouse import alerts as store
from warehouse.db import Warehouse, open_warehouse, table_exists

log = logging.getLogger("capcover")

PREFECT_CHANNEL = "prefect-event"


class DeliveryError(Exception):
    """A channel did not accept an alert; the message is one line with secrets redacted."""


# -- secrets -----------------------------------------------------------------------------------

def channel_id(url: str) -> str:
    """A stable, non-secret name for an Apprise URL: its scheme and a SHA-256 prefix."""
    scheme = url.split("://", 1)[0].lower() if "://" in url else "?"
    return f"{scheme}:{hashlib.sha256(url.encode()).hexdigest()[:16]}"


def _secret_parts(url: str) -> list[str]:
    """The URL and every piece of it long enough to be (part of) a token."""
    rest = url.split("://", 1)[-1]
    pieces = [p for p in re.split(r"[/:@?&=#,]+", rest) if len(p) >= 4]
    # ... also as they appear in request lines, percent-encoded
    variants = {quote(p, safe="") for p in pieces} | {unquote(p) for p in pieces}
    return sorted({url, rest, *pieces, *variants}, key=len, reverse=True)


class Redactor(logging.Filter):
    """Rewrites log records (and texts) so that no configured alert URL, nor any piece of one,
    survives. Installed on Apprise's logger, which otherwise may print hosts and URLs."""

    def __init__(self) -> None:
        super().__init__()
        self.secrets: list[str] = []

    def add(self, url: str) -> None:
        self.secrets = sorted({*self.secrets, *_secret_parts(url)}, key=len, reverse=True)

    def redact(self, text: str) -> str:
        for s in self.secrets:
            text = text.replace(s, "***")
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            text = record.getMessage()
        except Exception:  # noqa: BLE001 - a malformed record: drop its arguments, keep going
            text = str(record.msg)
        record.msg, record.args = self.redact(text), ()
        return True


REDACTOR = Redactor()


# Loggers that see a webhook URL while Apprise sends: Apprise itself (URLs at DEBUG, hosts at
# WARNING) and urllib3 (request lines at DEBUG, whatever the application's level).
_URL_LOGGERS = ("apprise", "urllib3.connectionpool", "requests")


def _apprise_logger() -> logging.Logger:
    for name in _URL_LOGGERS:
        other = logging.getLogger(name)
        if REDACTOR not in other.filters:
            other.addFilter(REDACTOR)
    logger = logging.getLogger("apprise")
    logger.setLevel(logging.WARNING)  # its DEBUG lines are whole URLs and payloads
    return logger


class _Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


# -- channels ----------------------------------------------------------------------------------

class Channel(Protocol):
    id: str

    def send(self, title: str, body: str, *, rule: str, scenario: str, alert_id: str) -> None:
        """Deliver or raise DeliveryError."""


class AppriseChannel:
    """One Apprise URL (json://, slack://, mailto://, ...)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.id = channel_id(url)
        REDACTOR.add(url)
        _apprise_logger()

    def send(self, title: str, body: str, *, rule: str, scenario: str, alert_id: str) -> None:
        import apprise

        logger = _apprise_logger()
        capture = _Capture()
        logger.addHandler(capture)
        try:
            ap = apprise.Apprise()
            if not ap.add(self.url):
                raise DeliveryError(f"channel {self.id}: not a valid Apprise URL — check "
                                    f"CAPCOVER_ALERT_URLS")
            ok = ap.notify(body=body, title=title)
        except DeliveryError:
            raise
        except Exception as exc:  # noqa: BLE001 - a plugin may raise anything; we report it
            text = str(exc).splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise DeliveryError(f"channel {self.id}: {REDACTOR.redact(text)}") from None
        finally:
            logger.removeHandler(capture)
        if not ok:
            reason = "; ".join(REDACTOR.redact(m) for m in capture.messages) or "not accepted"
            raise DeliveryError(f"channel {self.id}: {reason}"[:500])


class PrefectEventChannel:
    """A Prefect event `capcover.coverage.<rule>` for Prefect automations to react to."""

    id = PREFECT_CHANNEL

    def __init__(self, emit: Callable[..., object]) -> None:
        self.emit = emit

    def send(self, title: str, body: str, *, rule: str, scenario: str, alert_id: str) -> None:
        event = self.emit(
            event=f"capcover.coverage.{rule}",
            resource={"prefect.resource.id": f"capcover.scenario.{scenario}",
                      "prefect.resource.name": scenario},
            payload={"alert_id": alert_id, "title": title, "message": body.split("\n", 1)[0],
                     "body": body},
        )
        if event is None:
            raise DeliveryError(f"channel {self.id}: Prefect did not accept the event "
                                f"(events disabled or no API)")


def apprise_channels(urls: list) -> list[AppriseChannel]:
    return [AppriseChannel(u.get_secret_value() if hasattr(u, "get_secret_value") else u)
            for u in urls]


def in_prefect_run() -> bool:
    """True inside a Prefect flow or task run. Never imports Prefect itself: the plain path and
    the read-only commands stay free of it."""
    ctx = sys.modules.get("prefect.context")
    if ctx is None:
        return False
    return ctx.FlowRunContext.get() is not None or ctx.TaskRunContext.get() is not None


def prefect_emitter() -> Callable[..., object] | None:
    if not in_prefect_run():
        return None
    from prefect.events import emit_event

    return emit_event


def channels_for(settings, emit: Callable[..., object] | None = None) -> list[Channel]:
    """Apprise URLs from CAPCOVER_ALERT_URLS, plus the Prefect event inside a Prefect run."""
    channels: list[Channel] = list(apprise_channels(settings.alert_urls))
    emit = emit if emit is not None else prefect_emitter()
    if emit is not None:
        channels.append(PrefectEventChannel(emit))
    return channels


def channel_ids_for_run(settings) -> list[str]:
    ids = [channel_id(u.get_secret_value()) for u in settings.alert_urls]
    ids += [PREFECT_CHANNEL] if in_prefect_run() else []
    return list(dict.fromkeys(ids))


# -- evaluate (inside the run's transaction) ---------------------------------------------------

def evaluate_and_store(
    wh: Warehouse,
    settings,
    rows: list[ReportRow],
    *,
    day: date,
    run_id: str,
    failed_feeds: dict[str, str | None],
    channel_ids: list[str],
) -> list[store.StoredAlert]:
    """Fire the rules on `day`'s fresh report rows and store the alerts (no delivery here)."""
    rules = settings.alert_rule_config()
    previous = store.previous_reports(wh, day, list(rules.scenarios))
    failures = store.feed_failures(wh, day, failed_feeds)
    fired = evaluate(previous, rows, rules, failures)
    store.withdraw_unfired(wh, day, fired)
    return store.store_alerts(wh, fired, channel_ids, run_id)


# -- deliver (after commit) --------------------------------------------------------------------

@dataclass
class DeliveryReport:
    delivered: int = 0
    failed: list[str] = field(default_factory=list)  # one line each: alert, channel, error

    @property
    def ok(self) -> bool:
        return not self.failed


def deliver_pending(
    db: Path, *, channels: list[Channel], run_id: str, lock_budget_s: float = 30.0
) -> DeliveryReport:
    """Send every undelivered alert on the given channels, exactly once each.

    Claims the deliveries in one short transaction, sends with no database lock held, then
    records the outcomes in a second short transaction. Never raises for a channel's failure:
    it is recorded on the delivery row and returned in the report.
    """
    report = DeliveryReport()
    if not channels:
        return report
    by_id = {c.id: c for c in channels}
    with open_warehouse(db, lock_budget_s=lock_budget_s) as wh:
        with wh.transaction():
            claimed = store.claim_pending(wh, list(by_id), run_id)
    if not claimed:
        return report
    outcomes: list[tuple[store.PendingDelivery, str | None]] = []
    for d in claimed:
        try:
            by_id[d.channel_id].send(d.title, d.body, rule=d.rule, scenario=d.scenario,
                                     alert_id=d.alert_id)
        except Exception as exc:  # noqa: BLE001 - recorded, retried next run
            error = REDACTOR.redact(str(exc))[:500]
            outcomes.append((d, error))
            report.failed.append(f"{d.report_date} {d.scenario} {d.rule} via {d.channel_id}: "
                                 f"{error} (attempt {d.attempts}; retried next run)")
        else:
            outcomes.append((d, None))
            report.delivered += 1
    with open_warehouse(db, lock_budget_s=lock_budget_s) as wh:
        with wh.transaction():
            store.record_outcomes(wh, outcomes, run_id)
            store.set_alerts_sent(wh, run_id, report.delivered)
    for line in report.failed:
        log.warning("alert delivery failed: %s", line)
    return report


def deliver_after_run(settings, result, *, emit: Callable[..., object] | None = None) -> None:
    """The post-commit step of a run: deliver, and note the outcome on `result`. A failure
    here (even the warehouse being locked) never fails the run: it is reported instead."""
    try:
        report = deliver_pending(settings.db, channels=channels_for(settings, emit),
                                 run_id=result.run_id, lock_budget_s=settings.lock_budget_s)
    except Exception as exc:  # noqa: BLE001 - the data load is committed; report, don't raise
        report = DeliveryReport(failed=[f"delivery step failed: {REDACTOR.redact(str(exc))}"
                                        f" (alerts stay undelivered; the next run retries)"])
    result.alerts_delivered = report.delivered
    result.alert_failures = report.failed


def alert_lines(result) -> list[str]:
    """Lines for the run summary: the alerts this run fired and how delivery went."""
    lines = []
    for s in getattr(result, "alerts", []):
        tag = "new" if s.new else f"already stored, {s.delivery_state}"
        if getattr(result, "dry_run", False):
            tag = "would fire" if s.new else f"already stored, {s.delivery_state}, not re-sent"
        lines.append(f"  alert [{s.alert.rule}, {tag}]: {s.alert.message}")
    delivered = getattr(result, "alerts_delivered", 0)
    failures = getattr(result, "alert_failures", [])
    if delivered or failures:
        lines.append(f"  alerts delivered: {delivered}; failed: {len(failures)}")
    for f in failures:
        lines.append(f"  alert delivery FAILED: {f}")
    return lines


# -- commands ----------------------------------------------------------------------------------

def cmd_alerts(args) -> int:
    """`capcover alerts [--since DATE] [--undelivered] [--format F]`."""
    from flows.cli import EXIT_OK, _fail
    from flows.output import render
    from flows.settings import load_settings

    settings = load_settings()
    with open_warehouse(settings.db, read_only=True, lock_budget_s=settings.lock_budget_s) as wh:
        if not table_exists(wh, "alerts"):
            return _fail(f"no alerts table in {settings.db} — run `capcover run` once to "
                         f"migrate the warehouse")
        cols, rows = store.list_alerts(wh, since=args.since, undelivered=args.undelivered)
    if args.format == "table":
        keep = ["report_date", "scenario", "rule", "level", "previous_ratio", "current_ratio",
                "delivery_state", "delivered", "channels", "attempts", "last_error", "message"]
        idx = [cols.index(c) for c in keep]
        cols, rows = keep, [tuple(r[i] for i in idx) for r in rows]
    if not rows:
        what = "undelivered alerts" if args.undelivered else "alerts"
        print(f"no {what}" + (f" since {args.since}" if args.since else "")
              + f" in {settings.db}")
        return EXIT_OK
    print(render(cols, rows, args.format, title="capcover alerts"))
    return EXIT_OK


def dry_run_daily(settings):
    """The whole daily run (fetch, load, model, report, rules) in a transaction that is rolled
    back: returns the RunResult with the alerts that would fire; stores and delivers nothing."""
    from flows import pipeline

    run_id, started = pipeline.new_run_id(), datetime.now(UTC)
    market = pipeline.fetch_market(settings)
    quotes = pipeline.fetch_quotes(settings)
    with open_warehouse(settings.db, lock_budget_s=settings.lock_budget_s) as wh:
        try:
            pipeline.load_and_report(wh, settings, run_id=run_id, kind="dry-run",
                                     started_at=started, market=market, quotes=quotes,
                                     dry_run=True)
        except pipeline.DryRunRollback as rollback:
            return rollback.result
    raise RuntimeError("dry run: the pipeline committed instead of rolling back")


def cmd_dry_run() -> int:
    """`capcover run --dry-run`: the whole pipeline in a transaction that is rolled back."""
    from flows.cli import EXIT_FAILED, EXIT_OK, _fail, summary_text
    from flows.pipeline import one_line
    from flows.settings import load_settings

    settings = load_settings()
    try:
        result = dry_run_daily(settings)
    except Exception as exc:  # noqa: BLE001 - one line, exit 1
        return _fail(f"dry run failed: {one_line(exc)} (nothing was written)", EXIT_FAILED)
    text = summary_text(result, settings.db)
    print("DRY RUN — nothing stored, nothing delivered (the transaction was rolled back)")
    print(text)
    if not getattr(result, "alerts", []):
        print("  no alert would fire")
    return EXIT_OK
