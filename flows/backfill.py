"""`capcover backfill --days N`: the sector's coverage history, rebuilt bottom-up.

One `/coins/{id}/market_chart` call per constituent, paced by the HTTP layer's token bucket at
the plan's rate. A background thread writes whole coins, as many per transaction as have arrived
(raw responses archived once, then parsed by DuckDB in SQL from the archive into coin_history,
plus the progress flags), so the network never waits on DuckDB. A killed
backfill resumes where it stopped: finished coins are never fetched again. Then one transaction
writes a `report_daily` row per day and scenario with basis 'history', leaving alone every day
a daily run already reported (basis 'category').

Plain Python, not a Prefect flow: a backfill is a one-off, long, resumable job whose state lives
in the warehouse; it needs no orchestrator (and skips Prefect's start-up cost).
"""

from __future__ import annotations

import json
import queue
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from capcover.config.settings import Settings
from capcover.flows.sequence import held_row_json, new_run_id, publish_after_run
from capcover.ingest.errors import BadPayload, NotFound, PlanLimited
from capcover.ingest.history import parse_market_chart
from capcover.ingest.models import Quarantined, RawResponse
from capcover.ingest.quotes import CuratedQuotes, collect, failed_feeds
from capcover.model.plausibility import check_moves, check_sector_cap, coin_problem, row_problem
from capcover.model.report import ReportRow, build_reports, report_decisions
from capcover.model.scenarios import Scenario
from capcover.warehouse import history as hist
from capcover.warehouse import load
from capcover.warehouse import raw as raw_archive
from capcover.warehouse.alerts import previous_reports
from capcover.warehouse.db import Warehouse, open_warehouse

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress

MAX_DAYS_LIMITED = 365  # public and demo plans reach back 365 days (CoinGecko error 10012)
LIMITED_PLANS = ("public", "demo")


class BackfillUsageError(Exception):
    """The request cannot be served as asked (e.g. more days than the plan allows): exit 2."""


def days_error(days: int) -> str:
    return (
        f"--days {days}: CoinGecko's public and demo plans reach back {MAX_DAYS_LIMITED} "
        f"days at most (error 10012) — use --days {MAX_DAYS_LIMITED} or less, or a paid "
        f"plan with full history (CAPCOVER_COINGECKO_PLAN=pro)"
    )


MAX_DAYS = 36_500  # any plan: a century is beyond every chart CoinGecko has


def check_days(days: int, plan: str) -> None:
    if days < 1:
        raise BackfillUsageError(f"--days {days}: must be at least 1")
    if days > MAX_DAYS:
        raise BackfillUsageError(f"--days {days}: must be at most {MAX_DAYS:,}")
    if plan in LIMITED_PLANS and days > MAX_DAYS_LIMITED:
        raise BackfillUsageError(days_error(days))


@dataclass
class BackfillResult:
    job_id: str
    run_id: str
    days: int
    resumed: bool
    coins_total: int
    coins_fetched: int  # by this invocation
    coins_done: int
    coins_missing: int
    http_requests: int = 0
    rate_limited: int = 0  # 429 answers seen (each honoured, then retried)
    throttle_wait_s: float = 0.0
    retry_wait_s: float = 0.0
    fetch_elapsed_s: float = 0.0
    first_day: date | None = None
    last_day: date | None = None
    report_rows: int = 0
    days_reported: int = 0
    days_kept_category: list[date] = field(default_factory=list)
    constituents_as_of: date | None = None
    held_back: int = 0  # days or rows held back by the plausibility rules (quarantined)
    writer_commits: int = 0  # transactions the writer committed the fetched coins in
    published_to: Path | None = None  # the Parquet snapshot published after it, if any

    def summary_text(self) -> str:
        span = f"{self.first_day} .. {self.last_day}" if self.first_day else "no days"
        lines = [
            f"capcover backfill {self.job_id}{' (resumed)' if self.resumed else ''}: "
            f"{self.days} days of history for {self.coins_total} constituent(s)"
            + (f" of {self.constituents_as_of}" if self.constituents_as_of else ""),
            f"  coins: {self.coins_done} with history, {self.coins_missing} unknown to the "
            f"source; {self.coins_fetched} fetched now in {self.fetch_elapsed_s:.1f} s",
            f"  HTTP: {self.http_requests} request(s), {self.rate_limited} rate-limited (429) "
            f"answer(s) honoured; waited {self.throttle_wait_s:.1f} s in the rate limiter, "
            f"{self.retry_wait_s:.1f} s on server request",
            f"  reports: {self.report_rows} row(s) over {self.days_reported} day(s), {span}, "
            f"basis 'history'",
        ]
        if self.held_back:
            lines.append(
                f"  held back {self.held_back} implausible day(s) or row(s) (quarantine table, "
                f"run {self.run_id})"
            )
        if self.days_kept_category:
            lines.append(
                f"  kept {len(self.days_kept_category)} day(s) already reported by "
                f"daily runs (basis 'category'): "
                f"{', '.join(str(d) for d in self.days_kept_category[:5])}"
                + (" …" if len(self.days_kept_category) > 5 else "")
            )
        return "\n".join(lines)


_STOP = object()


class _CoinWriter(threading.Thread):
    """Writes fetched coins to the warehouse, whole coins per transaction, in batches.

    A batch is what arrived within `batch_s` seconds of its first coin (at most `batch_max`
    coins): a paced fetch hands over a coin every few tens of milliseconds, and a commit
    per coin cost more than the coin's parse (48 commits of ~39 ms for 100 coins at 20 per
    second). A kill loses at most the coins of the open batch (half a second's worth), which
    a resume fetches again.

    The connection stays open while coins keep coming and is closed after `idle_s` without
    one, so on slow plans (one coin every few seconds) other processes (a daily run, a reader)
    get the file lock between batches, while fast backfills do not pay for reopening.
    """

    def __init__(
        self,
        settings: Settings,
        job_id: str,
        run_id: str,
        idle_s: float = 1.0,
        batch_s: float = 0.5,
        batch_max: int = 64,
    ) -> None:
        super().__init__(name="capcover-backfill-writer", daemon=True)
        self.settings, self.job_id, self.run_id = settings, job_id, run_id
        self.idle_s = idle_s
        self.batch_s, self.batch_max = batch_s, batch_max
        self.inbox: queue.Queue = queue.Queue()
        self.error: BaseException | None = None
        self.written = 0
        self.commits = 0

    def _batch(self, first: object) -> list:
        """`first` and whatever arrives within batch_s of it (up to batch_max, or _STOP)."""
        batch = [first]
        until = time.monotonic() + self.batch_s
        while first is not _STOP and len(batch) < self.batch_max:
            left = until - time.monotonic()
            try:
                item = self.inbox.get(timeout=left) if left > 0 else self.inbox.get_nowait()
            except queue.Empty:
                break
            batch.append(item)
            if item is _STOP:
                break
        return batch

    def run(self) -> None:
        wh = None
        try:
            stopping = False
            while not stopping:
                try:
                    first = self.inbox.get(timeout=self.idle_s if wh is not None else None)
                except queue.Empty:
                    assert wh is not None  # without an open warehouse the wait is unbounded
                    wh.close()
                    wh = None
                    continue
                batch = self._batch(first)
                stopping = any(item is _STOP for item in batch)
                coins = [item for item in batch if item is not _STOP]
                if not coins or self.error is not None:
                    continue  # after an error: drain; the fetching thread stops at put()
                try:
                    if wh is None:
                        wh = open_warehouse(
                            self.settings.db, lock_budget_s=self.settings.lock_budget_s
                        )
                    # Whole coins only, several per transaction. A kill loses only
                    # uncommitted, unfinished coins.
                    try:
                        with wh.transaction():
                            hist.store_charts(
                                wh, self.job_id, self.run_id, coins, parse=parse_market_chart
                            )
                        self.written += len(coins)
                        self.commits += 1
                    except BadPayload:
                        # Keep the coins fetched before the malformed one, then stop on it.
                        for coin in coins:
                            with wh.transaction():
                                hist.store_charts(
                                    wh, self.job_id, self.run_id, [coin], parse=parse_market_chart
                                )
                            self.written += 1
                            self.commits += 1
                except BaseException as exc:  # noqa: BLE001 - handed to the fetching thread
                    self.error = exc
        finally:
            if wh is not None:
                wh.close()

    def put(
        self,
        coin_id: str,
        chart_seq: int | None,
        fetched_at: datetime,
        raws: list[tuple[int, RawResponse]],
    ) -> None:
        if self.error is not None:
            raise self.error
        self.inbox.put(hist.ChartLoad(coin_id, chart_seq, fetched_at, raws))

    def close(self) -> None:
        """Write whatever was fetched, then stop (also on Ctrl-C: fetched coins are kept)."""
        self.inbox.put(_STOP)
        self.join()


def _progress(console: Console) -> Progress:
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    return Progress(
        TextColumn("backfill"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("coins"),
        TextColumn(
            "· {task.fields[requests]} req · rate-limit waits "
            "{task.fields[waited]:.0f} s · 429s {task.fields[r429]}"
        ),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=console,
        disable=not console.is_terminal,
        transient=False,
    )


def run_backfill(
    settings: Settings, days: int, *, console: Console | None = None
) -> BackfillResult:
    """Fetch (or resume) the history of every constituent, then write history-basis reports."""
    from rich.console import Console

    from capcover.flows.clients import coingecko_client, user_quotes_path

    check_days(days, settings.coingecko_plan)
    console = console or Console()
    run_id, started = new_run_id(), datetime.now(UTC)
    categories = ",".join(settings.categories)
    # Evenly spaced calls (not bursts inside the plan's minute): a long stream of charts must
    # never draw a 429, however the server counts its window.
    client = coingecko_client(settings, spread=True)
    seq = 0

    def numbered(raws: list[RawResponse]) -> list[tuple[int, RawResponse]]:
        nonlocal seq
        out = []
        for r in raws:
            seq += 1
            out.append((seq, r))
        return out

    with open_warehouse(settings.db, lock_budget_s=settings.lock_budget_s) as wh:
        job = hist.open_job(wh, categories, days)
        members = None if job else hist.latest_constituents(wh, settings.categories)
    resumed = job is not None
    if job is None:
        if members is None:
            # No daily run yet: today's membership straight from the source (network first,
            # no warehouse lock held while waiting on it).
            snap, received = client.fetch_sector(settings.categories)
            ranked: dict[str, float] = {}
            for coins in snap.constituents.values():
                for c in coins:
                    ranked[c.id] = max(ranked.get(c.id, -1.0), c.market_cap_usd or -1.0)
            members = (snap.as_of_date, sorted(ranked, key=lambda cid: (-ranked[cid], cid)))
        else:
            received = []
        sector_raws = numbered(received)
        with open_warehouse(settings.db, lock_budget_s=settings.lock_budget_s) as wh:
            with wh.transaction():
                raw_archive.archive_raws(wh, run_id, sector_raws, backfill=True)
            job = hist.create_job(wh, run_id, categories, days, members[1], started, members[0])
    with open_warehouse(settings.db, lock_budget_s=settings.lock_budget_s) as wh:
        pending = hist.pending_coins(wh, job.job_id)

    stats = client.session.stats
    writer = _CoinWriter(settings, job.job_id, run_id)
    writer.start()
    fetched = 0
    t0 = time.monotonic()
    try:
        with _progress(console) as progress:
            task = progress.add_task(
                "coins",
                total=job.coins,
                completed=job.coins - len(pending),
                requests=stats.requests,
                waited=0.0,
                r429=0,
            )
            for coin_id in pending:
                chart: RawResponse | None
                try:
                    exchange = client.market_chart(coin_id, days)
                    chart, got = exchange.record, exchange.records
                except NotFound as exc:
                    chart, got = None, exc.raws  # delisted or renamed since: recorded as missing
                except PlanLimited as exc:
                    if exc.error_code == 10012:
                        raise BackfillUsageError(days_error(days)) from None
                    raise
                raws = numbered(list(got))
                # The chart is parsed by the writer, in SQL, from its archived copy.
                chart_seq = next((n for n, r in raws if r is chart), None)
                writer.put(coin_id, chart_seq, datetime.now(UTC), raws)
                fetched += 1
                progress.update(
                    task,
                    advance=1,
                    requests=stats.requests,
                    waited=stats.throttle_wait_s + stats.retry_wait_s,
                    r429=stats.rate_limited,
                )
    finally:
        fetch_elapsed = time.monotonic() - t0
        writer.close()  # fetched coins land even when interrupted
    if writer.error is not None:
        raise writer.error

    result = BackfillResult(
        job_id=job.job_id,
        run_id=run_id,
        days=days,
        resumed=resumed,
        coins_total=job.coins,
        coins_fetched=fetched,
        coins_done=0,
        coins_missing=0,
        http_requests=stats.requests,
        rate_limited=stats.rate_limited,
        throttle_wait_s=stats.throttle_wait_s,
        retry_wait_s=stats.retry_wait_s,
        fetch_elapsed_s=fetch_elapsed,
        constituents_as_of=job.constituents_as_of,
    )
    # Only the curated file: it holds dated, published prices for past days. Live rental feeds
    # know today's offers only, which say nothing about a day last year.
    quotes = [collect(CuratedQuotes(user_quotes_path(settings)))]
    with open_warehouse(settings.db, lock_budget_s=settings.lock_budget_s) as wh:
        with wh.transaction():
            raw_archive.archive_raws(
                wh, run_id, numbered([r for b in quotes for r in b.raws]), backfill=True
            )
            load.load_quotes(wh, [q for b in quotes for q in b.quotes], run_id)
            write_history_reports(wh, settings, job.job_id, run_id, result)
            hist.finish_job(wh, job.job_id, datetime.now(UTC))
            counts = hist.job_summary(wh, job.job_id)
            result.coins_done = counts.get("done", 0)
            result.coins_missing = counts.get("missing", 0)
            load.record_run(
                wh,
                run_id=run_id,
                kind="backfill",
                started_at=started,
                finished_at=datetime.now(UTC),
                status="ok",
                as_of_date=result.last_day,
                http_requests=stats.requests,
                http_retries=stats.retries,
                rate_limited=stats.rate_limited,
                reports_written=result.report_rows,
                sources_failed=list(failed_feeds(quotes)),
                summary={
                    "job_id": job.job_id,
                    "days": days,
                    "coins": job.coins,
                    "fetched": fetched,
                    "resumed": resumed,
                    "commits": writer.commits,
                },
            )
            # The next snapshot rewrites the months from the first day this job replaced.
            hist.record_changed_since(wh, run_id, job.job_id, result.first_day)
        # The rows it re-published are published now, as a daily run's are (a snapshot
        # without them would contradict the warehouse until the next daily run).
        result.published_to = publish_after_run(
            wh,
            settings,
            run_id=run_id,
            kind="backfill",
            as_of_date=result.last_day or job.constituents_as_of or started.date(),
            steps={"fetch": fetch_elapsed},
        )
    result.writer_commits = writer.commits
    return result


def write_history_reports(
    wh: Warehouse,
    settings: Settings,
    job_id: str,
    run_id: str,
    result: BackfillResult,
    pins: dict[date, load.ReportPin] | None = None,
    scenarios: list[Scenario] | None = None,
) -> None:
    """A report row per day and scenario from the job's history, with its price decisions
    (inside the caller's transaction). Days with category-basis rows from daily runs are kept
    as they are. `pins` (`capcover rebuild`): the price method each published day was made
    with; None: the current one. `scenarios`: the definitions to price with (`capcover
    rebuild`: those the run recorded); None: the settings' own. They are recorded with the
    run (run_scenarios).

    The daily run's plausibility rules hold here too (model/plausibility.py), with the day as
    the unit: a day whose sector cap (the constituents' sum) is outside the band is held back
    whole, a row with a number that is not finite or an implausible unit price is held back,
    and a ratio moving more than CAPCOVER_MAX_DAILY_MOVE times against the scenario's previous
    report (daily or backfilled) is held back; each goes to `quarantine` with its reason (and
    keeps no price decisions)."""
    keep = hist.category_report_days(wh)
    scenarios = scenarios if scenarios is not None else settings.scenarios()
    load.record_scenarios(wh, run_id, scenarios)
    names = [s.name for s in scenarios]
    # The quotes valid on a day only change on days a quote was published: recompute then.
    quote_days = load.quote_observed_dates(wh)
    stats, stats_as_of, stats_method = None, None, None
    rows: list = []
    decisions: list = []
    held: list[Quarantined] = []
    previous: dict[str, ReportRow] | None = None
    # The daily run's coin rule (N2, model/plausibility.py coin_problem) on every point: one
    # above the band's top is held back (quarantined with its reason) and never summed.
    held_points: list[tuple[str, date]] = []
    for coin, day, cap, vol in hist.points_above(wh, job_id, settings.sector_cap_max_usd):
        why = coin_problem(
            coin,
            market_cap_usd=cap,
            fdv_usd=None,
            volume_24h_usd=vol,
            category_cap_usd=None,
            high_usd=settings.sector_cap_max_usd,
        )
        if why:
            held_points.append((coin, day))
            held.append(
                Quarantined(
                    source="coingecko",
                    endpoint=f"/coins/{coin}/market_chart",
                    record_key=f"{coin}/{day}",
                    reason=f"{day}: {why} (history point)",
                    record_json=json.dumps(
                        {
                            "coin_id": coin,
                            "day": str(day),
                            "market_cap_usd": cap,
                            "volume_24h_usd": vol,
                        }  # fmt: skip
                    ),
                )
            )
    for sector in hist.history_sector_inputs(wh, job_id, held_points):
        day = sector.report_date
        if previous is None:  # each scenario's report before the job's first day
            previous = previous_reports(wh, day, names)
        if day in keep:
            result.days_kept_category.append(day)
            previous.update(previous_reports(wh, day + timedelta(days=1), names))
            continue
        valid_from = max((d for d in quote_days if d <= day), default=None)
        pin = (pins or {}).get(day)
        method = pin.price_method if pin else None
        if stats is None or valid_from != stats_as_of or method != stats_method:
            stats, stats_as_of, stats_method = (
                load.price_book(wh, day, max_age=settings.price_max_age(), method=method),
                valid_from,
                method,
            )
        day_rows, _skipped = build_reports(sector, scenarios, stats, run_id)
        why = check_sector_cap(
            sector.sector_market_cap_usd,
            low_usd=settings.sector_cap_min_usd,
            high_usd=settings.sector_cap_max_usd,
        )
        if why:
            held.append(_held(f"{day}", f"{day}: {why} (history basis): day held back", day_rows))
            continue
        kept: list[ReportRow] = []
        for row in day_rows:
            problem = row_problem(row)
            if problem is None:
                (verdict,) = check_moves([row], previous, max_move=settings.max_daily_move)
                problem = verdict.reason if verdict.quarantined else None
            if problem:
                held.append(_held(f"{day}/{row.scenario}", problem, [row]))
                continue
            kept.append(row)
            previous[row.scenario] = row
        rows.extend(kept)
        decisions.extend(report_decisions(kept, scenarios, stats))
        result.days_reported += 1
        result.first_day = result.first_day or day
        result.last_day = day
    result.report_rows = hist.replace_history_reports(wh, rows)
    load.replace_decisions(wh, decisions)
    load.load_quarantine(wh, run_id, held)
    result.held_back = len(held)


def _held(key: str, reason: str, rows: list[ReportRow]) -> Quarantined:
    return Quarantined(
        source="model",
        endpoint="report_daily",
        record_key=key,
        reason=reason,
        record_json="[" + ", ".join(held_row_json(r) for r in rows) + "]",
    )
