"""capcover's public Python API; the `capcover` command line is a thin layer over it.

    import capcover

    reader = capcover.Reader(db="data/demo.duckdb")  # read-only
    latest = reader.report()  # a Table: .columns, .rows, .records()
    why = reader.explain()  # an Explanation: .paragraphs by scenario, and the rows behind them
    result = capcover.run(db="data/capcover.duckdb")  # the daily run: a RunResult

Settings given as keyword arguments beat the environment (`CAPCOVER_*`), which beats the
CAPCOVER_CONFIG file, which beats the built-in defaults (config/defaults.py); a bad value is a
ConfigError naming the setting, before anything is read or fetched.

A Reader holds no connection: each call opens the warehouse read-only and closes it before it
returns, so an idle Reader never keeps the daily writer waiting (DuckDB lets one process write
a file, and a reader holds a writer out while it is open). Importing this module, like
importing `capcover`, loads nothing heavy: each call imports what it uses (no Prefect, no
pydantic, no requests for the reads).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    from capcover.config.reader import ReaderSettings
    from capcover.config.settings import Settings
    from capcover.flows.prefect_env import ApiSource
    from capcover.flows.serve import NextRun
    from capcover.model.run import RunResult
    from capcover.notify.channels import Outcome
    from capcover.warehouse.db import Warehouse

__all__ = [
    "Explanation",
    "NearestReports",
    "Reader",
    "Status",
    "Table",
    "confirm_alerts",
    "prefect_api",
    "release_alerts",
    "run",
    "send_test_alerts",
    "settings",
]


class Table(NamedTuple):
    """Rows as the warehouse returned them, with their column names."""

    columns: list[str]
    rows: list[tuple[Any, ...]]

    def records(self) -> list[dict[str, Any]]:
        """One dict per row, column name -> value."""
        return [dict(zip(self.columns, row, strict=True)) for row in self.rows]


@dataclass(frozen=True)
class Explanation:
    """Why the coverage ratio moved on `report_date`, against each scenario's previous report:
    one paragraph per scenario and the rows behind it (each a dict of column -> value)."""

    report_date: date
    paragraphs: dict[str, str]  # scenario -> "why it moved"
    moves: list[dict[str, Any]]  # v_ratio_moves: log_change = cap - price - count effects
    coins: list[dict[str, Any]]  # top coin contributions (USD), entered and left
    gap: list[dict[str, Any]]  # CoinGecko's category cap against its coins' sum (USD)
    prices: list[dict[str, Any]]  # the price set's old and new central values
    quotes: list[dict[str, Any]] = field(default_factory=list)  # quotes in or out of the set
    # v_report_parameters: what the day's compute-equivalent counts and total costs were made of
    parameters: list[dict[str, Any]] = field(default_factory=list)
    # gpu_depth against each rental row: GPUs rentable now by source, then the row's total
    depth: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class NearestReports(NamedTuple):
    """The report dates around a day without a report: the last before it, the first after
    it, and the latest of all (None where there is none)."""

    before: date | None
    after: date | None
    latest: date | None


@dataclass(frozen=True)
class Status:
    """The latest runs (RUN_COLUMNS) and the next scheduled run (`.at`, and `.source`: where
    that answer came from)."""

    runs: Table
    next_run: NextRun


# `Reader.runs()` columns (those an older warehouse's `runs` lacks are left out).
RUN_COLUMNS = (
    "run_id",
    "kind",
    "status",
    "started_at",
    "duration_s",
    "as_of_date",
    "reports_written",
    "coins_loaded",
    "quotes_loaded",
    "http_requests",
    "http_retries",
    "sources_failed",
    "alerts_sent",
    "flow_run_id",
    "published_to",
    "message",
)
# `Reader.quote_stats()` columns: the price method per group (model/prices.py).
STATS_COLUMNS = (
    "sku",
    "form_factor",
    "kind",
    "market",
    "condition",
    "quote_count",
    "kept_count",
    "q1_usd",
    "central_usd",
    "q3_usd",
    "min_usd",
    "max_usd",
    "sources",
    "newest_quote_date",
    "price_method",
)
ALERTS_MIGRATION = 5  # warehouse/migrations/005_alerts.sql
GPU_FEEDS_MIGRATION = 3  # 003_gpu_feeds.sql
WHY_MIGRATION = 20  # 020_why_it_moved.sql
DELIVERY_MIGRATION = 80  # 080_delivery_outcomes.sql


class Reader:
    """Read-only access to one warehouse: reports, the explanation, alerts, runs, quotes and
    SQL. `db` and the other keyword settings (`lock_budget_s`, `publish_dir`,
    `schedule_cron`, `schedule_timezone`, `price_max_age_rental_days`,
    `price_max_age_purchase_days`, `sql_timeout_s`, `sql_memory_limit_mb`, `sql_max_rows`)
    beat the environment and the config file; each is checked here (ConfigError), and the rest
    are read when a call needs them."""

    def __init__(
        self, *, db: str | Path | None = None, lock_budget_s: float | None = None, **settings: Any
    ) -> None:
        from capcover.config.reader import DEFAULTS

        given = {"db": db, "lock_budget_s": lock_budget_s, **settings}
        self._given = {k: v for k, v in given.items() if v is not None}
        readable = [k for k in DEFAULTS if k != "config"]  # CAPCOVER_CONFIG names the file
        unknown = sorted(set(self._given) - set(readable))
        if unknown:
            raise TypeError(
                f"Reader() takes no setting {', '.join(unknown)} (it reads {', '.join(readable)})"
            )
        self._settings()  # given values checked now, not at the first read

    def _settings(self, *keys: str) -> ReaderSettings:
        from capcover.config.reader import ALWAYS, load_reader_settings

        wanted = {*keys, *self._given} - set(ALWAYS)
        return load_reader_settings(wanted, **self._given)

    @property
    def db(self) -> Path:
        """The warehouse file this Reader reads."""
        return Path(self._settings().db)

    @contextmanager
    def _open(self, settings: ReaderSettings | None = None) -> Iterator[Warehouse]:
        from capcover.warehouse.db import open_warehouse

        s = settings or self._settings()
        with open_warehouse(s.db, read_only=True, lock_budget_s=s.lock_budget_s) as wh:
            yield wh

    def report(
        self, *, day: date | None = None, scenario: str | None = None, full: bool = True
    ) -> Table:
        """`report_daily` rows of `day` (default: the latest report date), one scenario or all;
        every column, or with `full=False` the summary columns `capcover report` shows."""
        from capcover.warehouse.queries import report

        with self._open() as wh:
            return Table(*report(wh, day=day, scenario=scenario, full=full))

    def report_parameters(self, *, day: date | None = None, scenario: str | None = None) -> Table:
        """What the compute-equivalent counts and total costs of `day`'s rows (default: the
        latest report date) were made of: one row per parameter (v_report_parameters: scenario,
        parameter, value, unit, note); none in a warehouse from before migration 060."""
        from capcover.warehouse.queries import report_parameters

        with self._open() as wh:
            return Table(*report_parameters(wh, day=day, scenario=scenario))

    def scenarios(self) -> list[str]:
        """Every scenario with at least one report, by name (empty: no report at all)."""
        from capcover.warehouse.queries import report_scenarios

        with self._open() as wh:
            return report_scenarios(wh)

    def nearest_reports(self, day: date, *, scenario: str | None = None) -> NearestReports:
        """The report dates closest to `day` (before and after it) and the latest, of
        `scenario` or of any."""
        from capcover.warehouse.queries import report_dates_near

        with self._open() as wh:
            return NearestReports(*report_dates_near(wh, day, scenario))

    def explain(
        self, *, day: date | None = None, scenario: str | None = None, top: int = 5
    ) -> Explanation | None:
        """Why the ratio moved on `day` (default: the latest report date) since each scenario's
        previous report; `top` coins each way. None when the warehouse has no report; an
        Explanation with no moves when the day's reports have none to compare with."""
        from capcover.warehouse import explain as ex
        from capcover.warehouse.queries import report_depth, report_parameters

        with self._open() as wh:
            wh.require(WHY_MIGRATION, "the why-it-moved views")
            day = day or ex.latest_day(wh)
            if day is None:
                return None
            why = ex.why_it_moved(wh, day, scenario, top=top)
            parameters = Table(*report_parameters(wh, day=day, scenario=scenario)).records()
            depth = Table(*report_depth(wh, day=day, scenario=scenario)).records()
        return Explanation(
            report_date=day,
            paragraphs=why["paragraphs"],
            moves=[{k: m[k] for k in ex.MOVE_COLUMNS} for m in why["moves"]],
            coins=why["coins"],
            gap=why["gap"],
            prices=[{k: p[k] for k in ex.PRICE_COLUMNS} for p, _ in why["price_changes"]],
            quotes=[q for _, changes in why["price_changes"] for q in changes],
            parameters=parameters,
            depth=depth,
        )

    def sql(self, query: str) -> Table:
        """One read-only statement (a SELECT, or an EXPLAIN of one without ANALYZE) on a
        sandboxed connection (warehouse/sandbox.py): it may read the warehouse and the published
        snapshot folder only, no other file, no network, no extension, within the settings
        `sql_timeout_s`, `sql_memory_limit_mb` (nothing spilled to disk) and `sql_max_rows`;
        values exact. Anything else is refused with a WarehouseError before it runs; a query
        past its time is interrupted (WarehouseError); Ctrl-C stops it at once
        (KeyboardInterrupt)."""
        from capcover.config.reader import SQL_LIMITS
        from capcover.warehouse.sandbox import open_sandboxed, run_user_sql

        s = self._settings("publish_dir", *SQL_LIMITS)
        with open_sandboxed(
            s.db,
            readable_dirs=[s.publish_path()],
            lock_budget_s=s.lock_budget_s,
            memory_limit_mb=s.sql_memory_limit_mb,
        ) as wh:
            return Table(
                *run_user_sql(
                    wh,
                    query,
                    timeout_s=s.sql_timeout_s,
                    max_rows=s.sql_max_rows,
                    max_bytes=s.sql_memory_limit_mb * 2**20,
                )
            )

    def alerts(self, *, since: date | None = None, undelivered: bool = False) -> Table:
        """Fired alerts from report date `since` on (all without it), newest first, with their
        delivery state per channel; `undelivered` keeps those some channel has not confirmed."""
        from capcover.warehouse.queries import list_alerts

        with self._open() as wh:
            wh.require(ALERTS_MIGRATION, "the alerts table")
            return Table(*list_alerts(wh, since=since, undelivered=undelivered))

    def runs(self, *, limit: int = 10) -> Table:
        """The `limit` latest runs (RUN_COLUMNS), latest first."""
        from capcover.warehouse.queries import recent_runs

        with self._open() as wh:
            return Table(*recent_runs(wh, RUN_COLUMNS, limit))

    def status(self, *, limit: int = 10) -> Status:
        """What `capcover status` shows: the `limit` latest runs and the next scheduled run
        (the schedule settings are checked first, before anything is read)."""
        from capcover.flows.serve import next_scheduled
        from capcover.warehouse.queries import recent_runs

        s = self._settings("schedule_cron", "schedule_timezone")
        with self._open(s) as wh:
            runs = Table(*recent_runs(wh, RUN_COLUMNS, limit))
        return Status(runs, next_scheduled(s))

    def next_run(self) -> NextRun:
        """The next scheduled run: from the Prefect API `run` uses when it answers, else
        computed from the schedule settings; `.source` says which."""
        from capcover.flows.serve import next_scheduled

        return next_scheduled(self._settings("schedule_cron", "schedule_timezone"))

    def quotes(
        self,
        *,
        sku: str | None = None,
        kind: str | None = None,
        source: str | None = None,
        day: date | None = None,
    ) -> Table:
        """Stored GPU quotes: those observed on `day`, or without it each source's latest."""
        from capcover.warehouse.quotes import list_quotes

        with self._open() as wh:
            wh.require(GPU_FEEDS_MIGRATION, "the GPU feeds schema")
            return Table(*list_quotes(wh, sku=sku, kind=kind, day=day, source=source))

    def quote_stats(
        self, *, sku: str | None = None, kind: str | None = None, day: date | None = None
    ) -> Table:
        """The price method on each group of quotes (SKU, form factor, kind, market, and for
        purchases the condition: used parts apart from new ones): count,
        quartiles, central value, sources (STATS_COLUMNS) — on `day`'s quotes, or on today's
        latest within the staleness window."""
        from capcover.model.prices import price_stats
        from capcover.warehouse.quotes import quote_points_on

        s = self._settings("price_max_age_rental_days", "price_max_age_purchase_days")
        with self._open(s) as wh:
            wh.require(GPU_FEEDS_MIGRATION, "the GPU feeds schema")
            points = quote_points_on(wh, sku=sku, kind=kind, day=day)
        book = price_stats(points, max_age=s.price_max_age())
        rows = [
            (
                g.sku,
                g.form_factor,
                g.kind,
                g.market,
                g.condition,
                g.estimate.quote_count,
                g.estimate.kept_count,
                g.estimate.q1_usd,
                g.estimate.central_usd,
                g.estimate.q3_usd,
                g.estimate.min_usd,
                g.estimate.max_usd,
                g.sources,
                g.newest_quote_date,
                g.method,
            )
            for g in book.groups(day or datetime.now(UTC).date())
        ]
        return Table(list(STATS_COLUMNS), rows)

    def write_report(
        self,
        *,
        html: str | Path | None = None,
        png: str | Path | None = None,
        day: date | None = None,
        scenario: str | None = None,
    ) -> list[Path]:
        """Write the self-contained HTML report and/or the coverage history chart (PNG), as of
        `day` (default: the latest report) and for `scenario` (default: every one); returns
        the files written."""
        from capcover.report.html import write_report_files

        s = self._settings()
        return write_report_files(
            s.db,
            html=None if html is None else str(html),
            png=None if png is None else str(png),
            lock_budget_s=s.lock_budget_s,
            day=day,
            scenario=scenario,
        )


def release_alerts(
    alert_ids: Sequence[str] | None = None,
    *,
    db: str | Path | None = None,
    lock_budget_s: float | None = None,
) -> int:
    """Held (or unknown) deliveries of `alert_ids` (None: every one) are sent again with the
    next run; returns how many deliveries were released. The warehouse must exist."""
    return _change_held(alert_ids, confirm=False, db=db, lock_budget_s=lock_budget_s)


def confirm_alerts(
    alert_ids: Sequence[str], *, db: str | Path | None = None, lock_budget_s: float | None = None
) -> int:
    """Held (or unknown) deliveries of `alert_ids` are recorded as delivered (a person checked
    the receiver): never sent again. Returns how many deliveries were confirmed."""
    return _change_held(list(alert_ids), confirm=True, db=db, lock_budget_s=lock_budget_s)


def _change_held(
    alert_ids: Sequence[str] | None,
    *,
    confirm: bool,
    db: str | Path | None,
    lock_budget_s: float | None,
) -> int:
    from capcover.config.reader import load_reader_settings
    from capcover.warehouse import alerts as store
    from capcover.warehouse.db import WarehouseError, open_warehouse

    given: dict[str, Any] = {"db": db, "lock_budget_s": lock_budget_s}
    s = load_reader_settings((), **{k: v for k, v in given.items() if v is not None})
    if not Path(s.db).is_file():  # a writer would create it: nothing is held in no warehouse
        raise WarehouseError(f"no warehouse at {s.db} — check --db or CAPCOVER_DB")
    with open_warehouse(s.db, lock_budget_s=s.lock_budget_s) as wh:
        wh.require(DELIVERY_MIGRATION, "the delivery outcomes")
        with wh.transaction():
            if confirm:
                return store.confirm_held(wh, list(alert_ids or []))
            return store.release_held(wh, None if alert_ids is None else list(alert_ids))


def send_test_alerts(
    given: Settings | None = None, /, **overrides: Any
) -> list[tuple[str, Outcome]]:
    """A labelled test message to every configured alert channel (CAPCOVER_ALERT_URLS), each
    channel's outcome (delivered, failed or unknown, and why); touches no warehouse."""
    from capcover.notify.deliver import send_test

    if given is not None and overrides:
        raise TypeError("send_test_alerts() takes settings or setting overrides, not both")
    return send_test(given if given is not None else settings(**overrides))


def settings(**overrides: Any) -> Settings:
    """The effective settings: `overrides` (setting name -> value) over `CAPCOVER_*` over the
    CAPCOVER_CONFIG file over the defaults; ConfigError names a bad or unknown one."""
    from capcover.config.settings import load_settings

    return load_settings(**overrides)


def prefect_api() -> ApiSource:
    """The Prefect API `run` reports to (`.url`; None: none, the run stays in this process)
    and where it was configured (`.where`): Prefect's own settings decide."""
    from capcover.flows.prefect_env import prefect_api as find

    return find()


def run(given: Settings | None = None, /, *, dry_run: bool = False, **overrides: Any) -> RunResult:
    """The daily run: CoinGecko and the GPU quote feeds, then load, model, report and alerts in
    one transaction, the Parquet snapshot and alert delivery; returns what it produced.

    Settings: `given` (from `settings()`), or `overrides` over the environment, the config
    file and the defaults. With a Prefect API configured (`prefect_api()`) the run is the
    Prefect flow `capcover-daily` on that server, with these settings (they stay in this
    process, never in Prefect's database); otherwise plain calls in this process. A dry run
    rolls back everything it wrote and delivers nothing, always in this process. A failed
    run raises, its warehouse unchanged (the failure is recorded in `runs`)."""
    if given is not None and overrides:
        raise TypeError("run() takes settings or setting overrides, not both")
    effective = given if given is not None else settings(**overrides)
    if dry_run:
        from capcover.flows.sequence import daily_sequence

        return daily_sequence(effective, kind="dry-run", dry_run=True)
    if prefect_api().url is None:
        from capcover.flows.sequence import run_daily

        return run_daily(effective)
    from capcover.flows.prefect_env import long_lived_imports

    with long_lived_imports():  # Prefect
        from capcover.flows.daily import run_flow
    return run_flow(given=effective)
