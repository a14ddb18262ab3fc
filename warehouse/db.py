"""Connections: one `query(sql, params)` with bound parameters, short transactions, lock waits,
the schema version read once per open (the sandbox behind `capcover sql` is
warehouse/sandbox.py)."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb

from capcover.config import secrets
from capcover.config.defaults import DEFAULTS
from capcover.errors import one_line


class WarehouseError(Exception):
    """A warehouse problem a person can act on (missing file, lock held, bad SQL)."""


class WarehouseLocked(WarehouseError):
    """Another process held the file lock for the whole lock budget."""


class OpenRefused(WarehouseError):
    """This capcover refuses the file as it is (a newer schema, an applied migration it does
    not ship as applied): opening it again refuses again."""


class MigrationMismatch(OpenRefused):
    """An applied migration file (or a view file it read) is not the one recorded in the
    warehouse: its checksum differs, or this capcover does not ship it."""


class WarehouseDamaged(WarehouseError):
    """The file is not a readable capcover warehouse (truncated, garbage, a bad WAL)."""


# DuckDB: 'Conflicting lock is held in /usr/bin/python3.11 (PID 8624)'.
_HOLDER = re.compile(r"held in (?P<program>.+?) \(PID (?P<pid>\d+)\)|PID (?P<bare>\d+)")
# DuckDB's texts for a file it cannot read back (checked against DuckDB 2.0.1's messages).
_DAMAGE = re.compile(
    r"not a valid DuckDB database|Could not read enough bytes|[Cc]orrupt|"
    r"checksum|replaying WAL|Failed to load metadata|Serialization Error|"
    r"INTERNAL Error|FATAL Error|database has been invalidated"
)
# DuckDB on a SQLite (or other) file: 'Extension ".../sqlite_scanner.duckdb_extension" not found'.
_FOREIGN = re.compile(r'Extension "[^"]*?/?(\w+?)(?:_scanner)?\.duckdb_extension" not found')
# The three 4 KiB headers at the start of every DuckDB file, before the first block.
_HEADER_BYTES = 3 * 4096


_last_opened: list[Path] = []


def last_opened() -> Path | None:
    """The file the last `open_warehouse` in this process opened (for error messages)."""
    return _last_opened[-1] if _last_opened else None


def damaged_message(path: str | Path, detail: str) -> str:
    """One line for a damaged warehouse file: what, where, what to do."""
    return (
        f"warehouse {path} is damaged or not a DuckDB warehouse ({detail[:160]}) — restore "
        f"it from a backup, or point CAPCOVER_DB at a new file and run `capcover backfill`"
    )


def is_damage(exc: BaseException) -> bool:
    """Whether a DuckDB error means the file itself is unreadable (not a bad query)."""
    return isinstance(exc, duckdb.Error) and bool(_DAMAGE.search(str(exc)))


class Warehouse:
    """One DuckDB connection to the warehouse file. Use `open_warehouse` to get one.

    `applied` holds the migration versions recorded in the file, read once when it was opened;
    `schema_version` is the highest of them (0 for a file with no `schema_migrations`).
    """

    def __init__(self, con: duckdb.DuckDBPyConnection, path: Path, read_only: bool) -> None:
        self.con = con
        self.path = path
        self.read_only = read_only
        self.applied: frozenset[int] = frozenset()

    @property
    def schema_version(self) -> int:
        return max(self.applied, default=0)

    def has(self, migration: int) -> bool:
        """Whether migration `migration` (its number, e.g. 5 for 005_alerts) is in this file."""
        return migration in self.applied

    def require(self, migration: int, feature: str) -> None:
        """Raise one actionable line unless migration `migration` (which adds `feature`) is in
        this file."""
        if not self.has(migration):
            raise WarehouseError(
                f"warehouse {self.path} predates migration {migration:03d} ({feature}) — run "
                f"`capcover run` once to migrate it"
            )

    def _run(self, sql: str, params: Sequence[Any] | dict | None) -> duckdb.DuckDBPyConnection:
        if params and secrets.active():
            # No registered secret is ever stored, in any encoding (config/secrets.py).
            params = secrets.scrub_value(params)  # type: ignore[assignment]
        try:
            return self.con.execute(sql, params or [])
        except duckdb.Error as exc:
            if is_damage(exc):
                raise WarehouseDamaged(damaged_message(self.path, one_line(exc))) from None
            if (
                isinstance(exc, duckdb.BinderException | duckdb.CatalogException)
                and self.applied
                and self.schema_version < _latest_version()
            ):
                # A column, view or macro a later migration adds, read from a file this
                # capcover has not migrated yet (a reader never migrates).
                raise WarehouseError(
                    f"warehouse {self.path} is at schema version {self.schema_version}, older "
                    f"than this capcover's {_latest_version()} ({one_line(exc, 120)}) — run "
                    f"`capcover run` once to migrate it"
                ) from None
            raise

    def query(self, sql: str, params: Sequence[Any] | dict | None = None) -> list[tuple]:
        return self._run(sql, params).fetchall()

    def query_table(
        self, sql: str, params: Sequence[Any] | dict | None = None
    ) -> tuple[list[str], list[tuple]]:
        """Rows plus column names, for printing."""
        cur = self._run(sql, params)
        columns = [d[0] for d in cur.description] if cur.description else []
        return columns, cur.fetchall()

    def scalar(self, sql: str, params: Sequence[Any] | dict | None = None) -> Any:
        rows = self.query(sql, params)
        return rows[0][0] if rows else None

    def append(self, table: str, rows: list[tuple], columns: Sequence[str] | None = None) -> int:
        """Bulk-insert through DuckDB's appender (no per-row statements); with `columns`, the
        rows' values go to those columns by name (the others take their defaults), else to the
        table's columns in order."""
        if rows and secrets.active():
            rows = [secrets.scrub_value(row) for row in rows]  # type: ignore[misc]
        if rows:
            appender = self.con.appender(table, columns=list(columns) if columns else None)
            appender.append_rows(rows)
            appender.flush()
        return len(rows)

    @contextmanager
    def transaction(self) -> Iterator[Warehouse]:
        """All or nothing: commit on success, roll back on any exception (then re-raise)."""
        self.con.execute("BEGIN TRANSACTION")
        try:
            yield self
        except BaseException:
            self.con.execute("ROLLBACK")
            raise
        self.con.execute("COMMIT")

    def close(self) -> None:
        self.con.close()

    def __enter__(self) -> Warehouse:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _connect(path: Path, read_only: bool) -> duckdb.DuckDBPyConnection:
    # Never download or load extensions behind the user's back: capcover must not reach the
    # internet on its own.
    config: dict[str, str | bool | int | float | list[str]] = {
        "autoinstall_known_extensions": False,
        "autoload_known_extensions": False,
    }
    if not read_only and not path.exists():
        # Keep new files readable by DuckDB 1.5 tools (the duckdb-cli wheel lags behind).
        config["storage_compatibility_version"] = "v1.5.0"
    con = duckdb.connect(str(path), read_only=read_only, config=config)
    # Every time capcover stores is UTC; DuckDB hands TIMESTAMPTZ values back in the session's
    # zone, which defaults to the machine's: a rebuild under TZ=America/Los_Angeles would date
    # a 00:20 UTC fetch on the day before (red team, third pass D1). ICU is built in.
    con.execute("SET TimeZone = 'UTC'")
    return con


def _holder(text: str) -> str:
    m = _HOLDER.search(text)
    if not m:
        return "another process"
    if m.group("bare"):
        return f"PID {m.group('bare')}"
    return f"PID {m.group('pid')} ({Path(m.group('program')).name})"


def _lock_hint(text: str, read_only: bool) -> str:
    """What to do, fitted to who holds the lock and how we asked for it."""
    if read_only:  # readers never block readers: the holder is writing
        return (
            "it is being written (a `capcover run`, `backfill` or a read-write session); "
            "retry when it finishes, or raise CAPCOVER_LOCK_BUDGET_S"
        )
    if "read-only mode" in text:  # DuckDB: "you would be able to open this database in read-only"
        return (
            "a read-only session keeps writers out too: close it (long-lived readers can use "
            "the published Parquet snapshot) or retry when it finishes"
        )
    return "another writer has it open: retry when it finishes, or raise CAPCOVER_LOCK_BUDGET_S"


def _connect_within(
    path: Path,
    read_only: bool,
    budget_s: float,
    *,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], object] = time.sleep,
) -> duckdb.DuckDBPyConnection:
    """Connect, retrying with backoff while the lock is held; never sleeps past the budget
    (seconds). Each attempt itself returns at once (DuckDB does not wait for a lock)."""
    deadline = clock() + budget_s
    delay = 0.05
    while True:
        try:
            return _connect(path, read_only)
        except duckdb.IOException as exc:
            text = str(exc)
            foreign = _FOREIGN.search(text)
            if foreign:  # DuckDB recognised another format and wants its extension
                raise WarehouseDamaged(
                    damaged_message(path, f"the file looks like a {foreign.group(1)} database")
                ) from None
            if "lock" not in text.lower():
                if is_damage(exc):
                    raise WarehouseDamaged(damaged_message(path, one_line(exc))) from None
                raise WarehouseError(f"cannot open warehouse {path}: {one_line(exc)}") from None
            left = deadline - clock()
            if left <= 0:
                raise WarehouseLocked(
                    f"warehouse {path} is locked by {_holder(text)} (waited {budget_s:g} s,"
                    f" CAPCOVER_LOCK_BUDGET_S) — {_lock_hint(text, read_only)}"
                ) from None
            # The last sleep is cut to what is left, so the wait ends at the budget.
            sleep(min(delay, left))
            delay = min(delay * 2, 1.0)
        except duckdb.Error as exc:  # e.g. a WAL that does not replay
            raise WarehouseDamaged(damaged_message(path, one_line(exc))) from None


def _check_intact(wh: Warehouse) -> None:
    """A file too short to hold the blocks in use was truncated: DuckDB would open it and fail
    (or return partial rows) only when a query reaches the missing blocks. Used, not total,
    blocks: DuckDB may cut free blocks off the end of the file and still count them."""
    ((block_size, used_blocks),) = wh.query(
        "SELECT block_size, used_blocks FROM pragma_database_size() "
        "WHERE database_name = current_database()"
    )
    expected = _HEADER_BYTES + block_size * used_blocks
    size = os.path.getsize(wh.path)
    if size < expected:
        raise WarehouseDamaged(
            damaged_message(
                wh.path, f"the file is {size:,} bytes; the blocks in use need {expected:,}"
            )
        )


def _latest_version() -> int:
    from capcover.warehouse.migrate import latest_version

    return latest_version()


def _read_schema(wh: Warehouse) -> None:
    """Read the applied migrations once; refuse a file from a newer capcover, and one whose
    applied migrations (or the view files they read) are not the files this capcover ships."""
    if wh.scalar(
        "SELECT count(*) FROM duckdb_tables() WHERE table_name = 'schema_migrations'"
        " AND schema_name = 'main'"
    ):
        wh.applied = frozenset(v for (v,) in wh.query("SELECT version FROM schema_migrations"))
    known = _latest_version()
    if wh.schema_version > known:
        raise OpenRefused(
            f"warehouse {wh.path} has schema version {wh.schema_version}, newer than this "
            f"capcover knows ({known}) — upgrade capcover (pip install -U capcover) to read or "
            f"write it"
        )
    if wh.applied:
        from capcover.warehouse.migrate import MigrationChanged, verify_applied

        try:
            verify_applied(wh)
        except MigrationChanged as exc:
            raise MigrationMismatch(str(exc)) from None


def open_warehouse(
    path: str | Path,
    *,
    read_only: bool = False,
    lock_budget_s: float = DEFAULTS.lock_budget_s,
    migrate: bool = True,
) -> Warehouse:
    """Open the warehouse, waiting (bounded by `lock_budget_s`, in seconds) while another
    process holds the file lock.

    Read-write opens create the file and apply pending migrations. Read-only opens require the
    file to exist. Every open reads the schema version once (`Warehouse.applied`) and refuses a
    damaged file, one with a migration newer than this code knows, and one whose applied
    migrations are not the files this code ships (MigrationMismatch: their recorded sha256).
    """
    path = Path(path)
    _last_opened[:] = [path]
    if read_only and not path.exists():
        raise WarehouseError(
            f"no warehouse at {path} — run `capcover run` (or `capcover demo`, which writes "
            f"data/demo.duckdb) first, or set CAPCOVER_DB"
        )
    if not read_only:
        path.parent.mkdir(parents=True, exist_ok=True)
    con = _connect_within(path, read_only, lock_budget_s)
    wh = Warehouse(con, path, read_only)
    try:
        _check_intact(wh)
        _read_schema(wh)
        if migrate and not read_only:
            from capcover.warehouse.migrate import apply_migrations

            apply_migrations(wh)
            _read_schema(wh)
    except BaseException:
        wh.close()
        raise
    return wh


def table_exists(wh: Warehouse, name: str) -> bool:
    """Whether the warehouse has a table called `name` (older files predate some tables)."""
    return bool(wh.scalar("SELECT count(*) FROM duckdb_tables() WHERE table_name = ?", [name]))
