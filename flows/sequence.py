"""The daily run, written once:

    fetch CoinGecko and the GPU quote feeds (concurrently, one worker per host)
    -> load + model + report + alerts (ONE transaction)
    -> publish the Parquet snapshot -> deliver alerts (after commit)

`daily_sequence` takes its settings as an argument and a `run` callable that runs each step:
`run_plain` calls the function; flows/daily.py passes one that runs it as a Prefect task. The
Prefect flow, `capcover run --dry-run`, the demo and the benchmarks all call this function;
`capcover rebuild` replays the archive through the same load-and-model step
(`load_and_model`). No Prefect import here.
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import asdict, dataclass, replace
from datetime import UTC, date, datetime
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from capcover.config.settings import Settings
from capcover.errors import one_line
from capcover.ingest.archive import depth_of
from capcover.ingest.models import Quarantined, RawResponse, SectorSnapshot, utc_day
from capcover.ingest.network import Cancelled
from capcover.ingest.quotes import QuoteBatch, collect, failed_feeds
from capcover.model.plausibility import (
    ImplausibleData,
    category_problem,
    check_moves,
    check_sector_cap,
    coin_problem,
    row_problem,
)
from capcover.model.prices import MaxAge
from capcover.model.report import ReportRow, build_reports, report_decisions
from capcover.model.run import DeliveryReport, RunResult
from capcover.model.scenarios import Scenario
from capcover.notify.channels import PREFECT_CHANNEL
from capcover.notify.deliver import deliver_after_run
from capcover.notify.redact import channel_id
from capcover.warehouse import load, raw
from capcover.warehouse import publish as snapshot
from capcover.warehouse.alerts import fire_alerts, previous_reports
from capcover.warehouse.db import Warehouse, open_warehouse
from capcover.warehouse.explain import explain_all

if TYPE_CHECKING:  # the clients (requests, the HTTP layer) load when a run fetches: `capcover
    # rebuild` reuses this module's load-and-model step and never imports the network stack
    from capcover.flows.clients import Clients
    from capcover.ingest.coingecko import CoinGeckoClient
    from capcover.ingest.http import HttpStats
    from capcover.model.depth import Depth

log = logging.getLogger("capcover")

StepRunner = Callable[..., Any]  # run(step_name, fn, *args, **kwargs) -> fn(*args, **kwargs)


def run_plain(name: str, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
    """Run a step as a plain call (no orchestrator)."""
    return fn(*args, **kwargs)


def new_run_id(now: datetime | None = None) -> str:
    now = now or datetime.now(UTC)
    return f"{now:%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:8]}"


@dataclass(frozen=True)
class MarketPull:
    """CoinGecko's side of a run: the snapshot, every raw response, the HTTP counters."""

    snapshot: SectorSnapshot
    raws: list[RawResponse]
    stats: HttpStats


# -- the steps -------------------------------------------------------------------------------


class Fetch:
    """Every source of a run, fetched concurrently from the moment it is made: one worker
    thread per host, each host's sources one after another on it (so a host is never sent two
    sources' requests at once, and its pacer and breaker see them in order). Each source is
    paced by its own limit, so the run waits about as long as its slowest source, not the sum.

    `market()` is CoinGecko's pull (raising its error; the run then cancels the other
    sources' waits); `quotes()` the quote feeds' batches (a failed feed is a batch with an
    error, never an exception)."""

    def __init__(self, clients: Clients) -> None:
        self.clients = clients
        self.started = time.monotonic()
        self.durations: dict[str, float] = {}  # source -> seconds from the start to its end
        client = clients.coingecko()
        providers = clients.quote_providers()
        self._market: Future[MarketPull] = Future()
        self._quotes: list[Future[QuoteBatch]] = [Future() for _ in providers]
        by_host: dict[str, list[tuple[str, Callable[[], object], Future]]] = {}
        by_host.setdefault(client.host, []).append(
            ("coingecko", partial(self._pull, client), self._market)
        )
        for provider, future in zip(providers, self._quotes, strict=True):
            # A source with no host of its own (the curated files) is a worker of its own.
            host = getattr(provider, "host", None) or f"local:{provider.source}"
            by_host.setdefault(host, []).append(
                (provider.source, partial(collect, provider), future)
            )
        # Daemon threads: a run that failed ends without waiting for a slow host.
        for host, jobs in by_host.items():
            worker = threading.Thread(
                target=self._work, args=(jobs,), name=f"capcover-fetch-{host}", daemon=True
            )
            worker.start()

    def _pull(self, client: CoinGeckoClient) -> MarketPull:
        snapshot, records = client.fetch_sector(self.clients.settings.categories)
        return MarketPull(snapshot, records, client.session.stats)

    def _work(self, jobs: list[tuple[str, Callable[[], object], Future]]) -> None:
        for source, job, future in jobs:
            if self.clients.network.cancelled.is_set():
                # The run already failed: the host's later sources are not asked at all.
                future.set_exception(Cancelled(f"{source}: not fetched, the run failed"))
                continue
            try:
                future.set_result(job())
            except BaseException as exc:  # noqa: BLE001 - handed to whoever waits for it
                future.set_exception(exc)
            self.durations[source] = time.monotonic() - self.started

    def market(self) -> MarketPull:
        try:
            return self._market.result()
        except BaseException:
            # The run fails: the other sources stop at their next attempt or wait.
            self.clients.network.cancel()
            raise

    def quotes(self) -> list[QuoteBatch]:
        batches = [f.result() for f in self._quotes]
        for b in batches:
            if b.error:
                log.warning("quote feed %s failed: %s", b.source, b.error)
        return batches


def fetch_market(fetch: Fetch) -> MarketPull:
    """CoinGecko's side of the run (started with the others when `fetch` was made)."""
    return fetch.market()


def fetch_quotes(fetch: Fetch) -> list[QuoteBatch]:
    """The GPU quote feeds' side of the run (started with CoinGecko's)."""
    return fetch.quotes()


def load_and_model(
    wh: Warehouse,
    snap: SectorSnapshot,
    quotes: list[QuoteBatch],
    *,
    categories: list[str],
    scenarios: list[Scenario],
    run_id: str,
    max_age: MaxAge | None = None,
    pin: load.ReportPin | None = None,
) -> tuple[list[ReportRow], list[tuple[str, str]]]:
    """Typed rows of one pull, then the model stage for its day: read the inputs back from the
    warehouse, compute, replace that day's report rows and their price decisions (inside the
    caller's transaction). `pin`: the methods a published day was made with (`capcover
    rebuild` re-derives it with them); None: the current ones."""
    load.load_sector(wh, snap, run_id)
    quotes = one_snapshot_day(quotes)
    load.load_quotes(wh, [q for b in quotes for q in b.quotes], run_id)
    load.load_quarantine(wh, run_id, snap.quarantined + [q for b in quotes for q in b.quarantined])
    day = snap.as_of_date
    sector = load.sector_inputs(wh, day, categories, pin.sector_cap_method if pin else None)
    if sector is None:
        raise RuntimeError(f"no category snapshot for {day} — nothing to report")
    # Depth: the GPUs this run's feeds show as rentable now (pure parsers on its answers),
    # put on the report's rows only when "now" is the report's day: a run fetching after
    # midnight on CoinGecko figures of the day before counts GPUs of another day (that day's
    # rows, and any depth an earlier run gave them, are left without one).
    fetched = _quotes_day(quotes)
    depth: Depth | None = depth_of(quotes) if fetched in (None, day) else None
    load.replace_depth(wh, day, depth, run_id)
    book = load.price_book(wh, day, max_age=max_age, method=pin.price_method if pin else None)
    rows, skipped = build_reports(
        sector,
        scenarios,
        book,
        run_id,
        depth if pin is None or pin.depth else None,
        quotes_fetched=fetched,
    )
    load.replace_reports(wh, day, rows, report_decisions(rows, scenarios, book))
    load.record_scenarios(wh, run_id, scenarios)  # what `rebuild` and `verify` re-derive with
    return rows, skipped


def _first_answer(batches: list[QuoteBatch]) -> datetime | None:
    """When the run's first quote feed that gave quotes was asked, by the run's clock (a
    replay's in the demo). None when no feed gave any (the curated file's quotes carry their
    published dates; a feed that failed dates nothing)."""
    return min(
        (r.fetched_at for b in batches if b.source != "curated" and b.quotes for r in b.raws),
        default=None,
    )


def _quotes_day(batches: list[QuoteBatch]) -> date | None:
    """The UTC day the run's own feed quotes are dated (`one_snapshot_day`)."""
    first = _first_answer(batches)
    return utc_day(first) if first is not None else None


def one_snapshot_day(batches: list[QuoteBatch]) -> list[QuoteBatch]:
    """The run's feed quotes as one snapshot of one day: a run whose feeds answered on both
    sides of midnight dates the quotes read after it at its first answer, so a report is never
    priced from the feeds that happened to answer before midnight alone (red team N6). Pure:
    the live run and `capcover rebuild` (from the archived fetch times) date them alike."""
    first = _first_answer(batches)
    if first is None:
        return batches
    day = utc_day(first)
    out = []
    for b in batches:
        if b.source == "curated" or all(q.observed_date == day for q in b.quotes):
            out.append(b)
            continue
        quotes = [
            q.model_copy(update={"observed_at": first}) if q.observed_date > day else q
            for q in b.quotes
        ]
        out.append(replace(b, quotes=quotes))
    return out


class DryRunRollback(Exception):
    """Raised inside the run's transaction by a dry run so that nothing is committed."""

    def __init__(self, result: RunResult) -> None:
        super().__init__("dry run: rolled back")
        self.result = result


def hold_implausible_coins(snap: SectorSnapshot, settings: Settings) -> SectorSnapshot:
    """The snapshot without the constituents no real coin could be (model/plausibility.py
    `coin_problem`: above the sector band's top, or bigger than twice its category), each
    quarantined with its reason: one coin at 1e30 must not reach the constituents' sum or the
    paragraphs that explain a move. A category's own reported figures no market could have
    (`category_problem`) fail the run when it is the only category (its figures are the
    headline: ImplausibleData, one line, nothing written); one of several has them quarantined
    and left empty (the headline is the union of the coins)."""
    high = settings.sector_cap_max_usd
    categories = []
    held: list[Quarantined] = []
    for c in snap.categories:
        why = category_problem(
            c.id, market_cap_usd=c.market_cap_usd, volume_24h_usd=c.volume_24h_usd, high_usd=high
        )
        if why is None:
            categories.append(c)
            continue
        if len(snap.categories) == 1:
            if c.market_cap_usd is not None and c.market_cap_usd > high:
                # Its cap is the headline: said as the sector band says it.
                why = check_sector_cap(
                    c.market_cap_usd, low_usd=settings.sector_cap_min_usd, high_usd=high
                )
            raise ImplausibleData(f"{snap.as_of_date}: {why}")
        held.append(
            Quarantined(
                source="coingecko",
                endpoint="/coins/categories",
                record_key=c.id,
                reason=why,
                record_json=c.model_dump_json(),
            )
        )
        bad = {
            name: None
            for name, value in (
                ("market_cap_usd", c.market_cap_usd),
                ("volume_24h_usd", c.volume_24h_usd),
            )
            if value is not None and value > high
        }
        categories.append(c.model_copy(update=bad))
    category_caps = {c.id: c.market_cap_usd for c in categories}
    kept: dict[str, list] = {}
    for cid, coins in snap.constituents.items():
        kept[cid] = []
        for coin in coins:
            why = coin_problem(
                coin.id,
                market_cap_usd=coin.market_cap_usd,
                fdv_usd=coin.fully_diluted_valuation_usd,
                volume_24h_usd=coin.total_volume_usd,
                category_cap_usd=category_caps.get(cid),
                high_usd=settings.sector_cap_max_usd,
            )
            if why is None:
                kept[cid].append(coin)
                continue
            held.append(
                Quarantined(
                    source="coingecko",
                    endpoint="/coins/markets",
                    record_key=coin.id,
                    reason=why,
                    record_json=coin.model_dump_json(),
                )
            )
    if not held:
        return snap
    return replace(
        snap, categories=categories, constituents=kept, quarantined=[*snap.quarantined, *held]
    )


def held_row_json(row: ReportRow) -> str:
    """A held-back report row as JSON text; a number that is not finite is written as text
    ("inf"), since JSON has no infinity."""
    values = {
        k: (repr(v) if isinstance(v, float) and not math.isfinite(v) else v)
        for k, v in asdict(row).items()
    }
    return json.dumps(values, default=str)


def hold_implausible(
    wh: Warehouse,
    settings: Settings,
    rows: list[ReportRow],
    *,
    day: date,
    run_id: str,
    first_seq: int,
) -> tuple[list[ReportRow], list[tuple[str, str]]]:
    """The plausibility hook (model/plausibility.py), inside the run's transaction.

    A sector cap outside the settings' band raises ImplausibleData: the run fails, nothing is
    written. A row with a number that is not finite or a unit price outside the plausible range
    (`row_problem`), and a scenario whose ratio moved more than `max_daily_move` times against
    its previous report, lose today's report row (the day's rows are rewritten without them),
    get a `quarantine` row (source 'model', the reason, the held-back row as JSON) and are
    returned with their reason, so they fire no alert and the run summary lists them."""
    if rows and (
        why := check_sector_cap(
            rows[0].sector_market_cap_usd,
            low_usd=settings.sector_cap_min_usd,
            high_usd=settings.sector_cap_max_usd,
        )
    ):
        raise ImplausibleData(f"{day}: {why}")
    held = {r.scenario: why for r in rows if (why := row_problem(r))}
    previous = previous_reports(wh, day, [r.scenario for r in rows])
    held |= {
        v.scenario: v.reason or "implausible move"
        for v in check_moves(
            [r for r in rows if r.scenario not in held], previous, max_move=settings.max_daily_move
        )
        if v.quarantined
    }
    if not held:
        return rows, []
    kept = [r for r in rows if r.scenario not in held]
    load.replace_reports(wh, day, kept)
    load.load_quarantine(
        wh,
        run_id,
        [
            Quarantined(
                source="model",
                endpoint="report_daily",
                record_key=f"{day}/{r.scenario}",
                reason=held[r.scenario],
                record_json=held_row_json(r),
            )
            for r in rows
            if r.scenario in held
        ],
        first_seq=first_seq,
    )
    return kept, [(name, f"quarantined: {reason}") for name, reason in held.items()]


@dataclass(frozen=True)
class RunInputs:
    """What the load step of one run gets: the run's identity and what it fetched."""

    run_id: str
    kind: str
    started_at: datetime  # UTC
    market: MarketPull
    quotes: list[QuoteBatch]
    channel_ids: list[str]  # the delivery channels its alerts are queued for
    # (requests sent, retries, 429 answers) of every source of the run: Network.totals
    traffic: tuple[int, int, int]
    flow_run_id: str | None = None  # the Prefect flow run, when it is one
    dry_run: bool = False


def load_and_report(wh: Warehouse, settings: Settings, run: RunInputs) -> RunResult:
    """Archive, load, model, report and fire alerts in ONE transaction: all of it lands, or
    none of it. A dry run rolls the transaction back (DryRunRollback). The run's step
    durations are recorded once, after publishing (`publish_after_run`)."""
    run_id, market, quotes = run.run_id, run.market, run.quotes
    snap = hold_implausible_coins(market.snapshot, settings)
    quarantined = snap.quarantined + [q for b in quotes for q in b.quarantined]
    feed_errors = failed_feeds(quotes)  # whole feeds, and the parts of one (gpuhunt/aws)
    failed = list(feed_errors)
    requests_sent, retries, rate_limited = run.traffic
    with wh.transaction():
        raw.archive_raws(
            wh, run_id, enumerate(market.raws + [r for b in quotes for r in b.raws], start=1)
        )
        shortfalls = load.sector_shortfalls(wh, snap)
        rows, skipped = load_and_model(
            wh,
            snap,
            quotes,
            categories=settings.categories,
            scenarios=settings.scenarios(),
            run_id=run_id,
            max_age=settings.price_max_age(),
        )
        rows, held = hold_implausible(
            wh, settings, rows, day=snap.as_of_date, run_id=run_id, first_seq=len(quarantined) + 1
        )
        skipped = skipped + held
        why = explain_all(wh, rows)  # once: for the alerts, the summary and the artifacts
        alerts = fire_alerts(
            wh,
            settings.alert_rule_config(),
            rows,
            day=snap.as_of_date,
            run_id=run_id,
            failed_feeds=feed_errors,
            channel_ids=run.channel_ids,
            why=why,
        )
        result = RunResult(
            run_id=run_id,
            kind=run.kind,
            as_of_date=snap.as_of_date,
            reports=rows,
            skipped=skipped,
            quarantined=len(quarantined) + len(held),
            duplicates_dropped=snap.duplicates_dropped,
            http_requests=requests_sent,
            http_retries=retries,
            rate_limited=rate_limited,
            sources_failed=failed,
            feed_errors=feed_errors,
            sector_market_cap_usd=rows[0].sector_market_cap_usd if rows else None,
            alerts=alerts,
            dry_run=run.dry_run,
            explanations=why,
            sector_notes=shortfalls,
        )
        load.record_run(
            wh,
            run_id=run_id,
            kind=run.kind,
            started_at=run.started_at,
            finished_at=datetime.now(UTC),
            status="ok",
            as_of_date=snap.as_of_date,
            http_requests=result.http_requests,
            http_retries=result.http_retries,
            rate_limited=result.rate_limited,
            quarantined=result.quarantined,
            duplicates_dropped=result.duplicates_dropped,
            reports_written=len(rows),
            sources_failed=failed,
            summary=result.summary(),
            coins_loaded=sum(len(c) for c in snap.constituents.values()),
            quotes_loaded=sum(len(b.quotes) for b in quotes),
            flow_run_id=run.flow_run_id,
        )
        if run.dry_run:
            raise DryRunRollback(result)  # roll back everything this run wrote
    return result


def store_and_publish(
    settings: Settings, run: RunInputs, step_durations: dict[str, float]
) -> RunResult:
    """`load_and_report`, then the Parquet snapshot from the committed data on the same
    connection; the write lock is held only for this step. `step_durations` (seconds per
    earlier step) are recorded with this step's and the publishing's own."""
    with open_warehouse(settings.db, lock_budget_s=settings.lock_budget_s) as wh:
        t0 = time.monotonic()
        try:
            result = load_and_report(wh, settings, run)
        except DryRunRollback as rollback:
            return rollback.result
        publish_after_run(
            wh,
            settings,
            run_id=result.run_id,
            kind=result.kind,
            as_of_date=result.as_of_date,
            steps={**step_durations, "load_model_report": time.monotonic() - t0},
        )
    return result


def publish_after_run(
    wh: Warehouse,
    settings: Settings,
    *,
    run_id: str,
    kind: str,
    as_of_date: date,
    steps: dict[str, float],
) -> Path | None:
    """Right after the run committed, on the writer's connection; then the run's step
    durations (`steps`, seconds by step name, with "publish" added) are written to `runs`,
    their one write.

    A publishing failure does not undo the run (its data is committed and correct): it is
    logged and noted in `runs.message`, and `runs.published_to` stays empty.
    """
    target = publish_target(settings, kind)
    t0 = time.monotonic()
    try:
        folder = snapshot.publish_snapshot(
            wh, target, run_id=run_id, as_of_date=as_of_date, keep=settings.publish_keep
        )
    except Exception as exc:  # noqa: BLE001 - the run itself succeeded
        text = one_line(exc)
        log.warning(
            "run %s: publishing the Parquet snapshot to %s failed: %s", run_id, target, text
        )
        timed = _rounded({**steps, "publish": time.monotonic() - t0})
        snapshot.record_publish_failure(
            wh, run_id, f"publish to {target} failed: {text}"[:500], timed
        )
        return None
    timed = _rounded({**steps, "publish": time.monotonic() - t0})
    snapshot.record_published(wh, run_id, folder, timed)
    return folder


def _rounded(steps: dict[str, float]) -> dict[str, float]:
    return {name: round(seconds, 3) for name, seconds in steps.items()}


def publish_target(settings: Settings, kind: str) -> Path:
    """The live publish folder, or for the demo its own folder beside data/demo.duckdb (demo
    data never lands where live snapshots are read)."""
    if kind == "demo":
        return settings.db.with_name(f"{settings.db.stem}-published")
    return settings.publish_path()


def record_failure(
    settings: Settings,
    *,
    run_id: str,
    kind: str,
    started_at: datetime,
    error: BaseException,
    flow_run_id: str | None = None,
) -> str | None:
    """Note a failed run in `runs` (its own small transaction; typed tables stay untouched),
    with the Prefect flow run behind it when there is one. Returns None when it was noted, or
    why it could not be (then nothing at all changed; the caller's one line says so, rule
    O1: a refused run prints one line, not a second one about its record)."""
    from capcover.warehouse.db import OpenRefused, WarehouseLocked

    if isinstance(error, OpenRefused):
        # the file itself was refused (e.g. an edited migration): it would be again
        return "the warehouse file was refused"

    # A run that already waited out the lock budget tries once more, without a second wait:
    # the whole command stays within CAPCOVER_LOCK_BUDGET_S (not twice it).
    budget = 0 if isinstance(error, WarehouseLocked) else settings.lock_budget_s
    try:
        with open_warehouse(settings.db, lock_budget_s=budget) as wh:
            with wh.transaction():
                load.record_run(
                    wh,
                    run_id=run_id,
                    kind=kind,
                    started_at=started_at,
                    finished_at=datetime.now(UTC),
                    status="failed",
                    message=one_line(error),
                    flow_run_id=flow_run_id,
                )
    except Exception as exc:  # noqa: BLE001 - the original error matters more
        log.debug("could not record the failed run: %s", one_line(exc))
        if type(exc) is type(error):
            return "its record could not be written either, for the same reason"
        return f"its record could not be written either: {one_line(exc, 120)}"
    return None


UNRECORDED = "capcover_unrecorded"  # attribute of a run's error: why its record is missing


def failure_footer(error: BaseException, db: Path | str) -> str:
    """What a failed run changed, for the end of its one line: only its `runs` row, or (when
    that could not be written) nothing at all."""
    unrecorded = getattr(error, UNRECORDED, None)
    if unrecorded:
        return f"nothing in the warehouse {db} changed; {unrecorded}"
    return f"nothing in the warehouse {db} changed but the run's record in `runs`"


def channel_ids_for(settings: Settings, emit: Callable[..., object] | None) -> list[str]:
    """The delivery channels a run's alerts are queued for: every Apprise URL, plus the Prefect
    event when the run has an event emitter (inside a Prefect flow)."""
    ids = [channel_id(u.get_secret_value()) for u in settings.alert_urls]
    ids += [PREFECT_CHANNEL] if emit is not None else []
    return list(dict.fromkeys(ids))


# -- the sequence ----------------------------------------------------------------------------


def daily_sequence(
    settings: Settings,
    *,
    kind: str = "daily",
    run: StepRunner = run_plain,
    dry_run: bool = False,
    emit: Callable[..., object] | None = None,
    flow_run_id: str | None = None,
    clients: Clients | None = None,
    on_as_of: Callable[[date], object] | None = None,
) -> RunResult:
    """The whole daily run. `run` runs each named step; `emit` (a Prefect event emitter) adds
    the Prefect event channel; `clients` (default: built from `settings`) are the sources;
    `on_as_of` is told the as-of date once CoinGecko has given it (the Prefect flow names its
    run after it). A dry run rolls back its transaction and delivers nothing. A failed run is
    recorded in `runs` (typed tables untouched, its flow run id kept) and its error
    re-raised."""
    if clients is None:
        from capcover.flows.clients import Clients

        clients = Clients(settings)
    run_id, started = new_run_id(), datetime.now(UTC)
    steps: dict[str, float] = {}
    try:
        t0 = time.monotonic()
        fetch = Fetch(clients)  # every source starts now, one worker per host
        market = run("ingest-coingecko", fetch_market, fetch)
        steps["fetch_market"] = time.monotonic() - t0
        if on_as_of is not None:
            on_as_of(market.snapshot.as_of_date)
        t0 = time.monotonic()
        quotes = run("ingest-gpu-quotes", fetch_quotes, fetch)
        steps["fetch_quotes"] = time.monotonic() - t0  # what the quotes took beyond CoinGecko
        inputs = RunInputs(
            run_id=run_id,
            kind=kind,
            started_at=started,
            market=market,
            quotes=quotes,
            channel_ids=channel_ids_for(settings, emit),
            flow_run_id=flow_run_id,
            dry_run=dry_run,
            traffic=clients.network.totals(),  # every source's requests, all fetched by now
        )
        result: RunResult = run("load-model-report", store_and_publish, settings, inputs, steps)
    except Exception as exc:
        if not dry_run:
            unrecorded = record_failure(
                settings,
                run_id=run_id,
                kind=kind,
                started_at=started,
                error=exc,
                flow_run_id=flow_run_id,
            )
            if unrecorded:
                try:
                    setattr(exc, UNRECORDED, unrecorded)
                except (AttributeError, TypeError):  # an exception type without a __dict__
                    pass
        raise
    if dry_run:
        return result
    # After commit, with the file released: a delivery failure never undoes the load.
    delivery: DeliveryReport = run("deliver-alerts", deliver_after_run, settings, run_id, emit=emit)
    return replace(result, delivery=delivery)


def run_daily(
    settings: Settings, *, kind: str = "daily", clients: Clients | None = None
) -> RunResult:
    """The daily sequence as plain calls, no orchestrator."""
    return daily_sequence(settings, kind=kind, clients=clients)
