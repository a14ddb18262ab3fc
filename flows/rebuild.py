"""`capcover rebuild`: re-derive the typed tables and the reports from the raw archive.

No network: every successful run's archived responses (`raw_http`) are parsed again with the
very functions a live run uses (pure parsers, ingest/archive.py `quote_parsers`: no client, no
session, no network import), in the order the runs happened, keeping each run's id and fetch
times, so the rows come out identical. The daily archive is read in ONE pass, one run at a
time (memory holds a run, not the history); the backfills' market charts are parsed in SQL
where they lie. One transaction: either the whole warehouse is rebuilt or nothing changes.
Plain Python, no Prefect import.

Re-derived: category_snapshots, coin_snapshots, gpu_quotes, quarantine, gpu_depth (the feeds'
depth parsers, ingest/archive.py), coin_history (from the archived market charts, with the
backfill's own bulk loader), report_daily and price_decisions (each run's with the scenario
definitions it recorded in run_scenarios; a run from before that record with the current ones,
then recorded). Left alone: raw_http (the source of truth), backfill_jobs and
backfill_progress, runs (a `rebuild` run is added), alerts (notifications already sent are
history, not derived data).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

from capcover.config.settings import Settings
from capcover.errors import one_line
from capcover.flows.backfill import BackfillResult, write_history_reports
from capcover.flows.sequence import hold_implausible, hold_implausible_coins, load_and_model
from capcover.ingest.archive import (
    Parser,
    categories_of,
    quote_parsers,
    replay_batch,
    split_batches,
)
from capcover.ingest.coingecko import build_snapshot
from capcover.ingest.history import parse_market_chart
from capcover.ingest.models import RawResponse
from capcover.ingest.quotes import QuoteBatch
from capcover.model.prices import MaxAge
from capcover.model.scenarios import Scenario
from capcover.warehouse import history as hist
from capcover.warehouse import load, raw
from capcover.warehouse import rebuild as store
from capcover.warehouse.db import Warehouse, open_warehouse

# Tables a replay owns: emptied of replayed runs' rows, then re-derived run by run.
DERIVED_TABLES = (
    "category_snapshots",
    "coin_snapshots",
    "gpu_quotes",
    "quarantine",
    "price_decisions",
    "gpu_depth",
)
SKIPPED_KINDS = frozenset({"rebuild", "dry-run"})  # wrote no typed rows


class RebuildError(Exception):
    """The archive cannot be replayed as it stands; nothing was changed."""


@dataclass
class RebuildResult:
    runs: list[str] = field(default_factory=list)
    report_rows: int = 0
    rows: dict[str, int] = field(default_factory=dict)
    run_id: str = ""

    def summary_text(self, db: str | Path) -> str:
        counts = ", ".join(f"{t} {n:,}" for t, n in self.rows.items())
        return (
            f"capcover rebuild {self.run_id}: replayed {len(self.runs)} run(s) from the raw "
            f"archive, no network\n  rows now: {counts}, report_daily {self.report_rows:,}\n"
            f"  warehouse: {db}"
        )


@dataclass
class Replay:
    """What every run's replay shares: the parsers, the scenarios and price ages (read once),
    the runs' recorded failed feeds (one query), the methods each published date was made
    with (`pins`: load.report_pins, read before the rebuild), the scenario definitions each
    run recorded (`recorded`: load.recorded_scenarios), and the daily archive's single pass."""

    settings: Settings
    parsers: dict[str, Parser]
    scenarios: list[Scenario]
    max_age: MaxAge
    failed: dict[str, set[str]]
    archive: Generator[tuple[str, list[RawResponse]], None, None]
    pins: dict[date, load.ReportPin] = field(default_factory=dict)
    recorded: dict[str, list[Scenario]] = field(default_factory=dict)
    ahead: dict[str, list[RawResponse]] = field(default_factory=dict)

    def scenarios_of(self, run_id: str) -> list[Scenario]:
        """The definitions the run priced with, as it recorded them (migration 053); a run
        from before the record, the current ones."""
        return self.recorded.get(run_id, self.scenarios)

    def responses(self, run_id: str) -> list[RawResponse]:
        """The run's archived responses, from the pass (runs written out of replay order wait
        in `ahead`; normally none do)."""
        while run_id not in self.ahead:
            found = next(self.archive, None)
            if found is None:
                return []
            self.ahead[found[0]] = found[1]
        return self.ahead.pop(run_id)


def replay_daily(wh: Warehouse, replay: Replay, run_id: str) -> int:
    """One daily (or demo) run again, from its archive: returns its report rows. The fetch
    step is the archive; the load and model step is the daily sequence's own, with the
    methods the day was published with (`replay.pins`)."""
    raws = replay.responses(run_id)
    failed = replay.failed.get(run_id, set())
    parsers = replay.parsers
    market_raws, batches = split_batches(raws, set(parsers))
    categories = categories_of(market_raws)
    if not categories:
        raise RebuildError(f"run {run_id}: no /coins/markets responses in the archive")
    # The same plausibility rules as the live run: coins held back, then rows and moves.
    snap = hold_implausible_coins(build_snapshot(market_raws, categories), replay.settings)
    quotes: list[QuoteBatch] = []
    for source, batch_raws in batches:
        if source not in parsers:
            raise RebuildError(f"run {run_id}: no parser for source '{source}'")
        quotes.append(replay_batch(source, parsers[source], batch_raws, source in failed))
    rows, _ = load_and_model(
        wh,
        snap,
        quotes,
        categories=categories,
        scenarios=replay.scenarios_of(run_id),
        run_id=run_id,
        max_age=replay.max_age,
        pin=replay.pins.get(snap.as_of_date),
    )
    quarantined = len(snap.quarantined) + sum(len(b.quarantined) for b in quotes)
    rows, _held = hold_implausible(
        wh, replay.settings, rows, day=snap.as_of_date, run_id=run_id, first_seq=quarantined + 1
    )
    return len(rows)


Replayer = Callable[[Warehouse, Replay, str], int]
# Run kind -> how to replay it. A kind without a replayer stops the rebuild (its rows would be
# lost otherwise); register one here when adding a new kind of run that writes typed rows.
REPLAYERS: dict[str, Replayer] = {"daily": replay_daily, "demo": replay_daily}


def replay_backfill(wh: Warehouse, replay: Replay, run_id: str) -> int:
    """`capcover rebuild` for a backfill run: its archived quotes again, then its history-basis
    reports from `coin_history` (re-derived beforehand by `rederive_history`: the coins of a
    job that was killed and resumed come from several invocations' archives). Its market
    charts stay in the warehouse (parsed there in SQL), never read into Python."""
    summary = json.loads(load.run_summary(wh, run_id) or "{}")
    job_id = summary.get("job_id")
    if not job_id:
        raise RebuildError(f"backfill run {run_id}: no job id in its runs.summary")
    parsers = replay.parsers
    _market, batches = split_batches(
        raw.run_responses(wh, run_id, charts=False, backfill=True), set(parsers)
    )
    for source, raws in batches:
        if source not in parsers:
            raise RebuildError(f"backfill run {run_id}: no parser for source '{source}'")
        load.load_quotes(wh, replay_batch(source, parsers[source], raws).quotes, run_id)
    days = summary.get("days", 0)
    result = BackfillResult(
        job_id=job_id,
        run_id=run_id,
        days=days,
        resumed=False,
        coins_total=0,
        coins_fetched=0,
        coins_done=0,
        coins_missing=0,
    )
    write_history_reports(
        wh,
        replay.settings,
        job_id,
        run_id,
        result,
        pins=replay.pins,
        scenarios=replay.scenarios_of(run_id),
    )
    return result.report_rows


REPLAYERS["backfill"] = replay_backfill


def rederive_history(wh: Warehouse) -> int:
    """coin_history again from the archived market chart of every finished coin, in the order
    the coins were loaded (a later job's chart replaces the days it covers), through the
    backfill's bulk loader, into a scratch table; then only the rows that differ are written.
    Returns the rows coin_history holds."""
    links = hist.chart_links(wh)
    unlinked = sorted({job for job, _coin, run_id, _seq, _at in links if run_id is None})
    if unlinked:
        raise RebuildError(
            f"backfill job(s) {', '.join(unlinked[:3])}: finished coins without an archived "
            f"market chart — coin_history cannot be re-derived; rerun `capcover backfill` for "
            f"them, nothing changed"
        )
    scratch = hist.new_history(wh)
    batch: list[tuple[str, str, int, datetime]] = []
    batch_job = ""
    for job_id, coin_id, run_id, seq, finished_at in links:
        # One statement per job: each statement reads the archive's bodies whole (DuckDB scans
        # them for the join), so smaller batches cost a pass each (32 coins a batch: 3x slower).
        if batch and (job_id != batch_job or any(c == coin_id for c, *_ in batch)):
            hist.load_charts(
                wh, batch_job, batch, parse=parse_market_chart, progress=False, target=scratch
            )
            batch = []
        batch_job = job_id
        batch.append((coin_id, run_id, seq, finished_at))
    if batch:
        hist.load_charts(
            wh, batch_job, batch, parse=parse_market_chart, progress=False, target=scratch
        )
    hist.replace_history(wh, scratch)
    return store.row_count(wh, "coin_history")


def rebuild(settings: Settings) -> RebuildResult:
    """Replay every successful run, oldest first, in one transaction."""
    # Archived catalogs are decoded within the body cap, as when they were fetched.
    parsers = quote_parsers(
        max_skew_s=settings.max_clock_skew_s,
        max_bytes=int(settings.http_max_body_mb * 1024 * 1024),
    )
    scenarios = settings.scenarios()
    started = datetime.now(UTC)
    result = RebuildResult(run_id=f"{started:%Y%m%dT%H%M%SZ}-rebuild-{uuid.uuid4().hex[:6]}")
    with open_warehouse(settings.db, lock_budget_s=settings.lock_budget_s) as wh:
        runs = [(r, k) for r, k in store.successful_runs(wh) if k not in SKIPPED_KINDS]
        unknown = sorted({k for _, k in runs if k not in REPLAYERS})
        if unknown:
            raise RebuildError(
                f"runs of kind {', '.join(unknown)} cannot be replayed yet (no replayer in "
                f"flows/rebuild.py) — refusing to rebuild rather than drop their rows; "
                f"nothing changed"
            )
        ids = [r for r, _ in runs]
        try:
            # Each published date is re-derived with the methods it was published with, each
            # run's rows with the scenario definitions it recorded.
            pins = load.report_pins(wh)
            recorded = load.recorded_scenarios(wh)
        except ValueError as exc:
            raise RebuildError(f"{exc} — nothing changed") from None
        with wh.transaction():
            for table in (*DERIVED_TABLES, "report_daily"):
                store.delete_run_rows(wh, table, ids)
            try:
                result.rows["coin_history"] = rederive_history(wh)
            except RebuildError:
                raise
            except Exception as exc:  # noqa: BLE001 - any failure: one line, nothing changed
                raise RebuildError(
                    f"coin_history does not re-derive: {one_line(exc)} — nothing changed"
                ) from None
            replay = Replay(
                settings,
                parsers,
                scenarios,
                settings.price_max_age(),
                store.sources_failed(wh, ids),
                raw.stream_runs(wh, [r for r, k in runs if REPLAYERS[k] is replay_daily]),
                pins,
                recorded,
            )
            for run_id, kind in runs:
                try:
                    REPLAYERS[kind](wh, replay, run_id)
                except RebuildError:
                    raise
                except Exception as exc:  # noqa: BLE001 - any failure: one line, no change
                    raise RebuildError(
                        f"run {run_id} does not replay: {one_line(exc)} — nothing changed"
                    ) from None
                result.runs.append(run_id)
            replay.archive.close()  # a generator: closing it ends its cursor
            for table in (*DERIVED_TABLES, "coin_history"):
                result.rows[table] = store.row_count(wh, table)
            result.report_rows = store.row_count(wh, "report_daily")
            load.record_run(
                wh,
                run_id=result.run_id,
                kind="rebuild",
                started_at=started,
                finished_at=datetime.now(UTC),
                status="ok",
                reports_written=result.report_rows,
                summary={"replayed": result.runs, "rows": result.rows},
            )
    return result
