"""`capcover rebuild`: re-derive the typed tables and the reports from the raw archive.

No network: every successful run's archived responses (`raw_http`) are parsed again with the
very functions a live run uses, in the order the runs happened, keeping each run's id and fetch
times, so the rows come out identical. One transaction: either the whole warehouse is rebuilt or
nothing changes. Plain Python, no Prefect import.

Re-derived: category_snapshots, coin_snapshots, gpu_quotes, quarantine, report_daily (with the
current scenario definitions). Left alone: raw_http (the source of truth), runs (a `rebuild` run
is added), alerts (notifications already sent are history, not derived data).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from flows.settings import Settings
from ingest.coingecko import build_snapshot
from ingest.http import RawResponse
from ingest.models import Quarantined, Quote
from ingest.quotes import QuoteBatch
from warehouse import load
from warehouse import rebuild as store
from warehouse.db import Warehouse, open_warehouse

Parser = Callable[[list[RawResponse]], tuple[list[Quote], list[Quarantined]]]
# Tables a replay owns: emptied of replayed runs' rows, then re-derived run by run.
DERIVED_TABLES = ("category_snapshots", "coin_snapshots", "gpu_quotes", "quarantine")
SKIPPED_KINDS = frozenset({"rebuild", "dry-run"})  # wrote no typed rows


class RebuildError(Exception):
    """The archive cannot be replayed as it stands; nothing was changed."""


@dataclass
class RebuildResult:
    runs: list[str] = field(default_factory=list)
    report_rows: int = 0
    rows: dict[str, int] = field(default_factory=dict)
    run_id: str = ""

    def summary_text(self, db) -> str:
        counts = ", ".join(f"{t} {n:,}" for t, n in self.rows.items())
        return (f"capcover rebuild {self.run_id}: replayed {len(self.runs)} run(s) from the raw "
                f"archive, no network\n  rows now: {counts}, report_daily {self.report_rows:,}\n"
                f"  warehouse: {db}")


def quote_parsers(settings: Settings) -> dict[str, Parser]:
    """`source -> parse(raws)` for every quote provider a live run uses (one registry)."""
    from flows.pipeline import quote_providers

    return {p.source: p.parse for p in quote_providers(settings)}


def split_batches(raws: list[RawResponse], sources: set[str]) -> tuple[list[RawResponse],
                                                                      list[tuple[str, list]]]:
    """Split one run's archive (in `seq` order) into the market part and per-provider batches.

    A live run archives CoinGecko's responses first, then each provider's `batch.raws` in
    turn; a provider's batch starts with a response of its own source and may carry helper
    responses of another (the curated file's /exchange_rates, from CoinGecko).
    """
    market: list[RawResponse] = []
    batches: list[tuple[str, list[RawResponse]]] = []
    for raw in raws:
        if raw.source in sources and (not batches or batches[-1][0] != raw.source):
            batches.append((raw.source, [raw]))
        elif batches:
            batches[-1][1].append(raw)
        else:
            market.append(raw)
    return market, batches


def replay_batch(source: str, parse: Parser, raws: list[RawResponse],
                 failed_live: bool = False) -> QuoteBatch:
    """What `ingest.quotes.collect` made of these raws: the same quotes, the same failures.

    `failed_live`: the run recorded this feed as failed. If its archived responses parse fine
    now, the live failure was in fetching (e.g. a page timed out after others had arrived), and
    the live run loaded none of them — so neither does the replay.
    """
    if failed_live:
        replayed = replay_batch(source, parse, raws)
        return replayed if replayed.error else QuoteBatch(source, raws, error="failed live")
    try:
        quotes, bad = parse(raws)
    except Exception as exc:  # noqa: BLE001 - mirrors collect(): a failed feed is recorded
        return QuoteBatch(source, raws, error=str(exc))
    if not quotes:
        return QuoteBatch(source, raws, [], bad, error="parsed zero quotes")
    return QuoteBatch(source, raws, quotes, bad)


def categories_of(raws: list[RawResponse]) -> list[str]:
    """The categories a run was configured with, in order: the ones it paged."""
    seen: list[str] = []
    for r in raws:
        cid = r.params.get("category") if r.endpoint == "/coins/markets" else None
        if cid and cid not in seen:
            seen.append(cid)
    return seen


def replay_daily(wh: Warehouse, settings: Settings, run_id: str, parsers: dict[str, Parser],
                 scenarios: list) -> int:
    """One daily (or demo) run again, from its archive: returns its report rows."""
    from flows.pipeline import compute_reports

    raws = load.raw_responses(wh, run_id)
    failed = load.run_sources_failed(wh, run_id)
    market_raws, batches = split_batches(raws, set(parsers))
    categories = categories_of(market_raws)
    if not categories:
        raise RebuildError(f"run {run_id}: no /coins/markets responses in the archive")
    snap = build_snapshot(market_raws, categories)
    quotes: list[QuoteBatch] = []
    for source, batch_raws in batches:
        if source not in parsers:
            raise RebuildError(f"run {run_id}: no parser for source '{source}'")
        quotes.append(replay_batch(source, parsers[source], batch_raws, source in failed))
    load.load_sector(wh, snap, run_id)
    load.load_quotes(wh, [q for b in quotes for q in b.quotes], run_id)
    load.load_quarantine(wh, run_id, snap.quarantined + [q for b in quotes for q in b.quarantined])
    rows, _ = compute_reports(wh, snap.as_of_date, categories, scenarios, run_id)
    return len(rows)


Replayer = Callable[[Warehouse, Settings, str, dict[str, Parser], list], int]
# Run kind -> how to replay it. A kind without a replayer stops the rebuild (its rows would be
# lost otherwise); register one here when adding a new kind of run that writes typed rows.
REPLAYERS: dict[str, Replayer] = {"daily": replay_daily, "demo": replay_daily}


def _replay_backfill(wh: Warehouse, settings: Settings, run_id: str,
                     parsers: dict[str, Parser], scenarios: list) -> int:
    from flows.backfill import replay_backfill

    return replay_backfill(wh, settings, run_id, parsers, scenarios)


REPLAYERS["backfill"] = _replay_backfill


def rebuild(settings: Settings) -> RebuildResult:
    """Replay every successful run, oldest first, in one transaction."""
    parsers = quote_parsers(settings)
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
                f"nothing changed")
        ids = [r for r, _ in runs]
        with wh.transaction():
            for table in (*DERIVED_TABLES, "report_daily"):
                store.delete_run_rows(wh, table, ids)
            for run_id, kind in runs:
                try:
                    REPLAYERS[kind](wh, settings, run_id, parsers, scenarios)
                except RebuildError:
                    raise
                except Exception as exc:
                    first = (str(exc).splitlines() or [type(exc).__name__])[0]
                    raise RebuildError(f"run {run_id} does not replay: {first} — nothing "
                                       f"changed") from None
                result.runs.append(run_id)
            for table in DERIVED_TABLES:
                result.rows[table] = store.row_count(wh, table)
            result.report_rows = store.row_count(wh, "report_daily")
            load.record_run(
                wh, run_id=result.run_id, kind="rebuild", started_at=started,
                finished_at=datetime.now(UTC), status="ok",
                reports_written=result.report_rows,
                summary={"replayed": result.runs, "rows": result.rows},
            )
    return result
