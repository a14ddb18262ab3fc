"""The daily run as plain functions: fetch (network, no DB) -> load + model + report (one DB
transaction). The Prefect flow in flows/daily.py wraps these same functions as tasks; tests,
benchmarks and `capcover rebuild` call them directly.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from flows.settings import Settings
from ingest.coingecko import CoinGeckoClient, SectorSnapshot
from ingest.http import HttpStats, RawResponse, RetryPolicy
from ingest.quotes import CuratedQuotes, QuoteBatch, QuoteProvider, collect
from model.report import ReportRow, build_reports, price_stats
from model.scenarios import Scenario
from warehouse import load
from warehouse.db import Warehouse, open_warehouse

log = logging.getLogger("capcover")


def new_run_id(now: datetime | None = None) -> str:
    now = now or datetime.now(UTC)
    return f"{now:%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:8]}"


@dataclass
class MarketPull:
    """CoinGecko's side of a run: the snapshot, every raw response, the HTTP counters."""

    snapshot: SectorSnapshot
    raws: list[RawResponse]
    stats: HttpStats


@dataclass
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
    sector_market_cap_usd: float | None = None
    # Alerts (flows/alerts.py): fired in the run's transaction, delivered after commit.
    alerts: list = field(default_factory=list)
    alerts_delivered: int = 0
    alert_failures: list[str] = field(default_factory=list)
    dry_run: bool = False

    def summary(self) -> dict:
        return {
            "run_id": self.run_id, "as_of_date": self.as_of_date,
            "sector_market_cap_usd": self.sector_market_cap_usd,
            "ratios": {r.scenario: r.coverage_ratio for r in self.reports},
            "skipped": dict(self.skipped), "quarantined": self.quarantined,
            "duplicates_dropped": self.duplicates_dropped, "http_requests": self.http_requests,
            "http_retries": self.http_retries, "rate_limited": self.rate_limited,
            "sources_failed": self.sources_failed, "feed_errors": self.feed_errors,
            "alerts": [a.alert.message for a in self.alerts],
        }


# -- clients from settings -------------------------------------------------------------------

def coingecko_client(
    settings: Settings, *, sleep: Callable[[float], None] | None = None
) -> CoinGeckoClient:
    """The CoinGecko client the settings describe (`sleep` lets tests record retry waits)."""
    key = settings.coingecko_api_key.get_secret_value() if settings.coingecko_api_key else None
    return CoinGeckoClient(
        plan=settings.coingecko_plan, api_key=key, base_url=settings.coingecko_base_url,
        rate_per_minute=settings.coingecko_rate_per_minute,
        connect_timeout_s=settings.http_connect_timeout_s,
        read_timeout_s=settings.http_read_timeout_s,
        retry=RetryPolicy(budget_s=settings.http_retry_budget_s), sleep=sleep,
    )


def quote_providers(settings: Settings) -> list[QuoteProvider]:
    """Every GPU quote source, each from its settings: curated file, Vast.ai, RunPod."""
    from ingest.runpod import RunPodClient
    from ingest.vastai import VastAiClient

    timeouts = dict(connect_timeout_s=settings.http_connect_timeout_s,
                    read_timeout_s=settings.http_read_timeout_s,
                    retry=RetryPolicy(budget_s=settings.http_retry_budget_s))
    # CoinGecko's /exchange_rates only when a curated quote is not in USD (and has no rate).
    rates = lambda: coingecko_client(settings).exchange_rates()  # noqa: E731
    return [
        CuratedQuotes(settings.quotes_file, rates_fetcher=rates),
        VastAiClient(base_url=settings.vastai_base_url, gpu_names=settings.vastai_gpu_names,
                     rate_per_minute=settings.vastai_rate_per_minute, **timeouts),
        RunPodClient(base_url=settings.runpod_base_url,
                     rate_per_minute=settings.runpod_rate_per_minute, **timeouts),
    ]


# -- steps ----------------------------------------------------------------------------------

def fetch_market(settings: Settings) -> MarketPull:
    client = coingecko_client(settings)
    snapshot = client.fetch_sector(settings.categories)
    return MarketPull(snapshot, list(client.archive), client.session.stats)


def fetch_quotes(settings: Settings) -> list[QuoteBatch]:
    batches = [collect(p) for p in quote_providers(settings)]
    for b in batches:
        if b.error:
            log.warning("quote feed %s failed: %s", b.source, b.error)
    return batches


def compute_reports(
    wh: Warehouse, day: date, categories: list[str], scenarios: list[Scenario], run_id: str
) -> tuple[list[ReportRow], list[tuple[str, str]]]:
    """The model stage for one day: read inputs from the warehouse, compute, replace the rows."""
    sector = load.sector_inputs(wh, day, categories)
    if sector is None:
        raise RuntimeError(f"no category snapshot for {day} — nothing to report")
    stats = price_stats(load.quote_points(wh, day))
    rows, skipped = build_reports(sector, scenarios, stats, run_id)
    load.replace_reports(wh, day, rows)
    return rows, skipped


def load_and_report(
    wh: Warehouse,
    settings: Settings,
    *,
    run_id: str,
    kind: str,
    started_at: datetime,
    market: MarketPull,
    quotes: list[QuoteBatch],
    step_durations: dict[str, float] | None = None,
    flow_run_id: str | None = None,
    dry_run: bool = False,
) -> RunResult:
    """Archive, load, model and report in ONE transaction: all of it lands, or none of it.

    `step_durations` (seconds per earlier step, e.g. the fetches) is recorded in `runs` with
    this step's own duration added.
    """
    t0 = time.monotonic()
    snap = market.snapshot
    raws = market.raws + [r for b in quotes for r in b.raws]
    quarantined = snap.quarantined + [q for b in quotes for q in b.quarantined]
    failed = [b.source for b in quotes if b.error]
    with wh.transaction():
        load.archive_raw(wh, run_id, raws)
        load.load_sector(wh, snap, run_id)
        load.load_quotes(wh, [q for b in quotes for q in b.quotes], run_id)
        load.load_quarantine(wh, run_id, quarantined)
        rows, skipped = compute_reports(
            wh, snap.as_of_date, settings.categories, settings.scenarios(), run_id
        )
        result = RunResult(
            run_id=run_id, kind=kind, as_of_date=snap.as_of_date, reports=rows,
            skipped=skipped, quarantined=len(quarantined),
            duplicates_dropped=snap.duplicates_dropped, http_requests=market.stats.requests,
            http_retries=market.stats.retries, rate_limited=market.stats.rate_limited,
            sources_failed=failed, feed_errors={b.source: b.error for b in quotes if b.error},
            sector_market_cap_usd=rows[0].sector_market_cap_usd if rows else None,
        )
        result.alerts = alerts_in_transaction(wh, settings, result, quotes)
        result.dry_run = dry_run
        load.record_run(
            wh, run_id=run_id, kind=kind, started_at=started_at, finished_at=datetime.now(UTC),
            status="ok", as_of_date=snap.as_of_date, http_requests=result.http_requests,
            http_retries=result.http_retries, rate_limited=result.rate_limited,
            quarantined=result.quarantined, duplicates_dropped=result.duplicates_dropped,
            reports_written=len(rows), sources_failed=failed, summary=result.summary(),
            step_durations={**(step_durations or {}),
                            "load_model_report": time.monotonic() - t0},
            coins_loaded=sum(len(c) for c in snap.constituents.values()),
            quotes_loaded=sum(len(b.quotes) for b in quotes), flow_run_id=flow_run_id,
        )
        if dry_run:
            raise DryRunRollback(result)  # roll back everything this run wrote
    return result


class DryRunRollback(Exception):  # noqa: N818 - a control-flow signal, not an error
    """Raised inside the run's transaction by a dry run so that nothing is committed."""

    def __init__(self, result: RunResult) -> None:
        super().__init__("dry run: rolled back")
        self.result = result


def alerts_in_transaction(wh: Warehouse, settings: Settings, result: RunResult,
                          quotes: list[QuoteBatch]) -> list:
    """Fire the alert rules on the fresh report (stored with the run; delivered after commit)."""
    from flows.alerts import channel_ids_for_run, evaluate_and_store

    return evaluate_and_store(
        wh, settings, result.reports, day=result.as_of_date, run_id=result.run_id,
        failed_feeds={b.source: b.error for b in quotes if b.error},
        channel_ids=channel_ids_for_run(settings),
    )


def record_failure(
    settings: Settings, *, run_id: str, kind: str, started_at: datetime, error: BaseException
) -> None:
    """Note a failed run in `runs` (its own small transaction; typed tables stay untouched)."""
    try:
        with open_warehouse(settings.db, lock_budget_s=settings.lock_budget_s) as wh:
            with wh.transaction():
                load.record_run(wh, run_id=run_id, kind=kind, started_at=started_at,
                                finished_at=datetime.now(UTC), status="failed",
                                message=one_line(error))
    except Exception as exc:  # noqa: BLE001 - the original error matters more
        log.warning("could not record the failed run: %s", one_line(exc))


def one_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return (text[0] if text else type(error).__name__)[:500]


def run_daily(settings: Settings, *, kind: str = "daily") -> RunResult:
    """The whole daily run without Prefect (same steps as the flow)."""
    from flows.publish import publish_after_run

    run_id, started = new_run_id(), datetime.now(UTC)
    steps: dict[str, float] = {}
    try:
        t0 = time.monotonic()
        market = fetch_market(settings)
        steps["fetch_market"] = time.monotonic() - t0
        t0 = time.monotonic()
        quotes = fetch_quotes(settings)
        steps["fetch_quotes"] = time.monotonic() - t0
        with open_warehouse(settings.db, lock_budget_s=settings.lock_budget_s) as wh:
            result = load_and_report(wh, settings, run_id=run_id, kind=kind, started_at=started,
                                     market=market, quotes=quotes, step_durations=steps)
            publish_after_run(wh, settings, run_id=run_id, kind=kind,
                              as_of_date=result.as_of_date)
    except Exception as exc:
        record_failure(settings, run_id=run_id, kind=kind, started_at=started, error=exc)
        raise
    # After commit, with the file released: a delivery failure never undoes the load.
    from flows.alerts import deliver_after_run

    deliver_after_run(settings, result)
    return result

