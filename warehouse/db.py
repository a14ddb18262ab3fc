"""Connections: one `query(sql, params)` with bound parameters, short transactions, lock waits."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb


class WarehouseError(Exception):
    """A warehouse problem a person can act on (missing file, lock held, bad SQL)."""


# DuckDB: 'Conflicting lock is held in /usr/bin/python3.11 (PID 8624)'.
_HOLDER = re.compile(r"held in (?P<program>.+?) \(PID (?P<pid>\d+)\)|PID (?P<bare>\d+)")


class Warehouse:
    """One DuckDB connection to the warehouse file. Use `open_warehouse` to get one."""

    def __init__(self, con: duckdb.DuckDBPyConnection, path: Path, read_only: bool) -> None:
        self.con = con
        self.path = path
        self.read_only = read_only

    def query(self, sql: str, params: Sequence[Any] | dict | None = None) -> list[tuple]:
        return self.con.execute(sql, params or []).fetchall()

    def query_table(
        self, sql: str, params: Sequence[Any] | dict | None = None
    ) -> tuple[list[str], list[tuple]]:
        """Rows plus column names, for printing."""
        cur = self.con.execute(sql, params or [])
        columns = [d[0] for d in cur.description] if cur.description else []
        return columns, cur.fetchall()

    def scalar(self, sql: str, params: Sequence[Any] | dict | None = None) -> Any:
        rows = self.query(sql, params)
        return rows[0][0] if rows else None

    def append(self, table: str, rows: list[tuple]) -> int:
        """Bulk-insert through DuckDB's appender (no per-row statements)."""
        if rows:
            appender = self.con.appender(table)
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
    # Never download extensions at run time: capcover must not reach the internet on its own.
    config: dict[str, object] = {
        "autoinstall_known_extensions": False,
    }
    if not read_only and not path.exists():
        # Keep new files readable by DuckDB 1.5 tools (the duckdb-cli wheel lags behind).
        config["storage_compatibility_version"] = "v1.5.0"
    return duckdb.connect(str(path), read_only=read_only, config=config)


def _holder(text: str) -> str:
    m = _HOLDER.search(text)
    if not m:
        return "another process"
    if m.group("bare"):
        return f"PID {m.group('bare')}"
    return f"PID {m.group('pid')} ({Path(m.group('program')).name})"


def open_warehouse(
    path: str | Path,
    *,
    read_only: bool = False,
    lock_budget_s: float = 30.0,
    migrate: bool = True,
) -> Warehouse:
    """Open the warehouse, waiting (bounded) while another process holds the file lock.

    Read-write opens create the file and apply pending migrations. Read-only opens require the
    file to exist.
    """
    path = Path(path)
    if read_only and not path.exists():
        raise WarehouseError(
            f"no warehouse at {path} — run `capcover run` (or `capcover demo`, which writes "
            f"data/demo.duckdb) first, or set CAPCOVER_DB"
        )
    if not read_only:
        path.parent.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + lock_budget_s
    delay = 0.05
    while True:
        try:
            con = _connect(path, read_only)
            break
        except duckdb.IOException as exc:
            text = str(exc)
            if "lock" not in text.lower():
                first = text.splitlines()[0]
                raise WarehouseError(f"cannot open warehouse {path}: {first}") from None
            if time.monotonic() + delay > deadline:
                raise WarehouseError(
                    f"warehouse {path} is locked by {_holder(text)} (waited {lock_budget_s:g} s,"
                    f" CAPCOVER_LOCK_BUDGET_S) — close that DuckDB session (readers: open it"
                    f" read_only=True) or retry when it finishes"
                ) from None
            time.sleep(delay)
            delay = min(delay * 2, 1.0)
    wh = Warehouse(con, path, read_only)
    if migrate and not read_only:
        from warehouse.migrate import apply_migrations

        apply_migrations(wh)
    return wh


def table_exists(wh: Warehouse, name: str) -> bool:
    """Whether the warehouse has a table called `name` (older files predate some tables)."""
    return bool(wh.scalar("SELECT count(*) FROM duckdb_tables() WHERE table_name = ?", [name]))

