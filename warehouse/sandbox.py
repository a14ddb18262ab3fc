"""The sandbox behind `capcover sql`: one read, nothing written anywhere, bounded in time,
memory and rows, and interruptible at once.

Three layers, each using DuckDB's own parser rather than a regex:

1. the statement kind (`extract_statements`): exactly one statement, a SELECT (WITH, FROM-first,
   VALUES, DESCRIBE, SHOW, SUMMARIZE, PIVOT with an IN list) or an EXPLAIN whose inner
   statement is such a SELECT. EXPLAIN ANALYZE in any spelling (`EXPLAIN ANALYSE`,
   `EXPLAIN (ANALYZE)`, `EXPLAIN (ANALYZE false)`, comments between the words) runs its
   statement, so it is refused;
2. the statement's syntax tree (`json_serialize_sql`): every table function it calls, at any
   depth (CTEs, subqueries, joins, set operations), is a reader or a catalog function from
   READ_FUNCTIONS or a table macro of the warehouse; `query()`, `query_table()`,
   `json_execute_serialized_sql()` (which run a statement given as text), `copy_database()`,
   `checkpoint()` and the like are refused, as are the scalar functions in DENIED_SCALARS;
3. the connection: read-only, no file access except the warehouse and the publish folder
   (`enable_external_access = false` with `allowed_directories`), no extensions installed or
   loaded, no spilling to disk (`temp_directory = ''`), a memory limit, and
   `lock_configuration`, so a statement cannot change any of it back.

The query runs on a worker thread while the main thread waits: Ctrl-C interrupts DuckDB at
once (`interrupt()`; a query blocking the main thread would ignore the signal until it ends) and
a query still running after `timeout_s` is interrupted the same way. The result is held in
memory to be printed, so it is fetched a few megabytes at a time and refused past `max_rows`
rows or past `max_bytes` bytes (the memory limit again: the rows held in Python count against
the same number of MB as DuckDB's own work); a MemoryError on the way is the same one line.
DuckDB itself builds each chunk of up to 2,048 rows in memory outside its limit, so a query
whose single chunk is bigger than the machine's memory still ends in that one line, not in a
bounded result (docs/threat-model.md, Q3).
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import duckdb

from capcover.config.defaults import DEFAULTS
from capcover.errors import one_line
from capcover.warehouse.db import Warehouse, WarehouseDamaged, WarehouseError, open_warehouse

# Statement kinds that read (EXPLAIN only with a SELECT inside and without ANALYZE).
SQL_ALLOWED = ("SELECT", "EXPLAIN")

# Table functions a query may call: readers (files in the allowed folders only), generators and
# the catalog. Anything else is refused before the query runs; the warehouse's own table macros
# (e.g. latest_quotes) are allowed too.
READ_FUNCTIONS = frozenset(
    {
        # files (the connection allows the warehouse and the publish folder only)
        "read_csv",
        "read_csv_auto",
        "read_parquet",
        "parquet_scan",
        "read_json",
        "read_json_auto",
        "read_json_objects",
        "read_json_objects_auto",
        "read_ndjson",
        "read_ndjson_auto",
        "read_ndjson_objects",
        "read_text",
        "read_blob",
        "glob",
        "sniff_csv",
        "parquet_metadata",
        "parquet_schema",
        "parquet_file_metadata",
        "parquet_kv_metadata",
        "parquet_full_metadata",
        # values
        "range",
        "generate_series",
        "unnest",
        "repeat",
        "repeat_row",
        "json_each",
        "json_tree",
        # the catalog
        "duckdb_columns",
        "duckdb_constraints",
        "duckdb_databases",
        "duckdb_dependencies",
        "duckdb_functions",
        "duckdb_indexes",
        "duckdb_keywords",
        "duckdb_schemas",
        "duckdb_sequences",
        "duckdb_settings",
        "duckdb_tables",
        "duckdb_types",
        "duckdb_views",
        "duckdb_memory",
        "duckdb_optimizers",
        "pragma_table_info",
        "table_info",
        "pragma_database_size",
        "database_size",
        "pragma_storage_info",
        "storage_info",
        "pragma_version",
        "version",
        "pragma_platform",
        "platform",
        "pragma_show",
        "show",
        "show_tables",
        "show_tables_expanded",
        "show_databases",
        "summary",
        "pragma_collations",
        "collations",
        "icu_calendar_names",
        "pg_timezone_names",
    }
)
# Scalar functions with an effect: they write a log entry or move a sequence.
DENIED_SCALARS = frozenset({"write_log", "nextval", "setval"})
_ANALYZE = frozenset({"analyze", "analyse"})
# Words that start a query: after `EXPLAIN (` they make the parenthesis the query's, not an
# options list.
_QUERY_START = frozenset(
    {"select", "with", "from", "values", "table", "pivot", "unpivot", "describe", "show"}
    | {"summarize", "("}
)


class SqlRefused(WarehouseError):
    """The statement is not a plain read; nothing ran."""


def open_sandboxed(
    path: str | Path,
    *,
    readable_dirs: Sequence[str | Path] = (),
    lock_budget_s: float = DEFAULTS.lock_budget_s,
    memory_limit_mb: int = DEFAULTS.sql_memory_limit_mb,
) -> Warehouse:
    """A read-only connection for arbitrary user SQL: no file access except the warehouse and
    `readable_dirs` (read), no extensions, no network, no temporary files, at most
    `memory_limit_mb` MB of memory, and settings locked so a query cannot undo any of it."""
    wh = open_warehouse(path, read_only=True, lock_budget_s=lock_budget_s)
    try:
        dirs = [str(Path(d).resolve()) + os.sep for d in readable_dirs]
        con = wh.con
        con.execute(f"SET memory_limit = '{int(memory_limit_mb)}MB'")
        # No spilling: a query larger than memory fails instead of writing temporary files.
        con.execute("SET temp_directory = ''")
        # allowed_directories can only be set while external access is still on.
        con.execute("SET allowed_directories = ?", [dirs])
        con.execute("SET enable_external_access = false")
        con.execute("SET lock_configuration = true")
    except BaseException:
        wh.close()
        raise
    return wh


# -- what a statement is ----------------------------------------------------------------------


def _tokens(text: str) -> list[tuple[int, str, str]]:
    """(position, kind, lower-case text) of every token but comments, by DuckDB's tokenizer."""
    found = duckdb.tokenize(text)
    out = []
    for i, (pos, kind) in enumerate(found):
        end = found[i + 1][0] if i + 1 < len(found) else len(text)
        if kind.name == "comment":
            continue
        out.append((pos, kind.name, text[pos:end].strip().lower()))
    return out


def _explained(statement: str) -> str:
    """The statement inside an EXPLAIN; SqlRefused for EXPLAIN ANALYZE in any spelling."""
    tokens = _tokens(statement)
    if not tokens or tokens[0][2] != "explain":
        raise SqlRefused("capcover sql could not read this EXPLAIN; nothing ran")
    i = 1
    if i < len(tokens) and tokens[i][2] in _ANALYZE:
        raise _analyze_refused()
    opens_options = (
        i + 1 < len(tokens)
        and tokens[i][2].startswith("(")
        and tokens[i + 1][2] not in _QUERY_START  # `EXPLAIN (SELECT 1)` is a query
    )
    if opens_options:  # EXPLAIN (option, ...)
        depth = 0
        while i < len(tokens):
            word = tokens[i][2]
            depth += word.count("(") - word.count(")")
            if word in _ANALYZE or any(w in _ANALYZE for w in word.replace(",", " ").split()):
                raise _analyze_refused()
            i += 1
            if depth <= 0:
                break
    if i >= len(tokens):
        raise SqlRefused("EXPLAIN of nothing: give the SELECT to explain")
    return statement[tokens[i][0] :]


def _analyze_refused() -> SqlRefused:
    return SqlRefused(
        "capcover sql is read-only: EXPLAIN ANALYZE runs its statement, so it was refused and "
        "nothing ran — use EXPLAIN without ANALYZE"
    )


def _one_statement(con: duckdb.DuckDBPyConnection, query: str) -> Any:
    try:
        statements = con.extract_statements(query)
    except (duckdb.Error, ValueError) as exc:  # ValueError: a kind the client cannot name
        raise WarehouseError(f"query failed: {one_line(exc)}") from None
    if not statements:
        raise WarehouseError('empty query — pass one SELECT, e.g. capcover sql "SELECT 1"')
    if len(statements) > 1:
        raise SqlRefused(
            f"capcover sql runs one statement; got {len(statements)} — run them one at a time"
        )
    return statements[0]


def _kind_refused(statement: Any) -> SqlRefused:
    # Named by its own first word: DuckDB files INSTALL under LOAD, RESET under SET.
    word = (statement.query.split() or ["?"])[0].upper()
    return SqlRefused(
        f"capcover sql is read-only and runs only SELECT or EXPLAIN; the {word} statement was "
        "refused and nothing changed"
    )


def _walk(node: Any) -> Iterator[dict]:
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk(value)


def _functions(con: duckdb.DuckDBPyConnection, select: str) -> tuple[set[str], set[str]]:
    """(table functions, other functions) the SELECT calls, from DuckDB's own syntax tree."""
    try:
        row = con.execute("SELECT json_serialize_sql(?::VARCHAR)", [select]).fetchone()
        tree = json.loads(row[0] if row else "")
    except (duckdb.Error, ValueError, TypeError) as exc:
        raise SqlRefused(f"capcover sql could not check this statement ({one_line(exc)})") from None
    if tree.get("error"):
        message = " ".join(str(tree.get("error_message", "")).split())[:200]
        raise WarehouseError(f"query failed: {message or 'not a statement DuckDB can read'}")
    tables: set[str] = set()
    scalars: set[str] = set()
    for node in _walk(tree.get("statements", [])):
        if node.get("type") == "TABLE_FUNCTION" and isinstance(node.get("function"), dict):
            tables.add(str(node["function"].get("function_name", "")).lower())
        elif "function_name" in node:
            scalars.add(str(node["function_name"]).lower())
    scalars -= tables
    return tables, scalars


def _macros(con: duckdb.DuckDBPyConnection) -> set[str]:
    rows = con.execute(
        "SELECT function_name FROM duckdb_functions()"
        " WHERE function_type = 'table_macro' AND NOT internal"
    ).fetchall()
    return {str(name).lower() for (name,) in rows}


def checked_statement(con: duckdb.DuckDBPyConnection, query: str) -> str:
    """The one statement of `query` if it only reads; WarehouseError (SqlRefused for a
    statement that is not a read) otherwise. Nothing runs here."""
    statement = _one_statement(con, query)
    kind = statement.type.name
    if kind not in SQL_ALLOWED:
        raise _kind_refused(statement)
    select = statement.query
    if kind == "EXPLAIN":
        inner = _one_statement(con, _explained(statement.query))
        if inner.type.name != "SELECT":
            raise _kind_refused(inner)
        select = inner.query
    tables, scalars = _functions(con, select)
    refused = sorted(tables - READ_FUNCTIONS - _macros(con))
    if refused:
        raise SqlRefused(
            f"capcover sql allows only table functions that read (read_parquet, read_csv, "
            f"glob, range, the duckdb_* catalog, the warehouse's macros); {refused[0]}() was "
            f"refused and nothing ran"
        )
    denied = sorted(scalars & DENIED_SCALARS)
    if denied:
        raise SqlRefused(
            f"capcover sql is read-only; {denied[0]}() changes state, so it was refused and "
            f"nothing ran"
        )
    return str(statement.query)


# -- running it -------------------------------------------------------------------------------


# Rows are fetched about this many bytes at a time (the first fetch takes FIRST_FETCH rows),
# so the byte bound is checked long before a fetch could overrun it by much.
FETCH_BYTES = 4 * 2**20
FIRST_FETCH = 16
MAX_FETCH = 65_536


class ResultTooLarge(WarehouseError):
    """The result is over the row or byte bound (or did not fit in memory); nothing printed."""


def value_bytes(value: Any) -> int:
    """The memory one fetched value holds in Python, in bytes (a LIST or STRUCT's items too)."""
    size = sys.getsizeof(value)
    if isinstance(value, list | tuple):
        size += sum(map(value_bytes, value))
    elif isinstance(value, dict):
        size += sum(value_bytes(k) + value_bytes(v) for k, v in value.items())
    return size


def _fetch_bounded(cur: duckdb.DuckDBPyConnection, max_rows: int, max_bytes: int) -> list[tuple]:
    """Every row of `cur`, fetched a few MB at a time; ResultTooLarge past `max_rows` rows or
    `max_bytes` bytes held."""
    rows: list[tuple] = []
    held = 0
    size = FIRST_FETCH
    while True:
        chunk = cur.fetchmany(min(size, max_rows + 1 - len(rows)))
        if not chunk:
            return rows
        chunk_bytes = sum(sys.getsizeof(r) + sum(map(value_bytes, r)) for r in chunk)
        held += chunk_bytes
        rows.extend(chunk)
        if len(rows) > max_rows:
            raise ResultTooLarge(
                f"the result has more than {max_rows:,} rows (CAPCOVER_SQL_MAX_ROWS) — add a "
                f"LIMIT or an aggregate, or read the published Parquet with DuckDB itself"
            )
        if held > max_bytes:
            raise ResultTooLarge(
                f"the result is over {max_bytes / 2**20:,.0f} MB after {len(rows):,} rows "
                f"(CAPCOVER_SQL_MEMORY_LIMIT_MB bounds the rows held too) — select fewer or "
                f"shorter columns, add a LIMIT, or raise the setting"
            )
        per_row = max(1, chunk_bytes // len(chunk))
        size = max(1, min(MAX_FETCH, FETCH_BYTES // per_row))


def run_user_sql(
    wh: Warehouse,
    query: str,
    *,
    timeout_s: float = DEFAULTS.sql_timeout_s,
    max_rows: int = DEFAULTS.sql_max_rows,
    max_bytes: int = DEFAULTS.sql_memory_limit_mb * 2**20,
) -> tuple[list[str], list[tuple]]:
    """Run ONE read-only statement from a user on a sandboxed connection (`open_sandboxed`):
    column names and the rows as DuckDB returned them, at most `max_rows` of them holding at
    most `max_bytes` bytes in Python (ResultTooLarge, one line, past either, or when memory
    runs out). Anything that is not a read raises WarehouseError before it runs; a query
    still running after `timeout_s` seconds is interrupted (WarehouseError); Ctrl-C interrupts
    it at once (KeyboardInterrupt)."""
    sql = checked_statement(wh.con, query)
    outcome: dict[str, Any] = {}
    done = threading.Event()

    def work() -> None:
        try:
            cur = wh.con.execute(sql)
            columns = [d[0] for d in cur.description] if cur.description else []
            outcome["result"] = (columns, _fetch_bounded(cur, max_rows, max_bytes))
        except MemoryError:
            outcome.clear()  # drop what was fetched before saying so
            outcome["error"] = ResultTooLarge(
                "the result does not fit in this machine's memory — select fewer or shorter "
                "columns, or add a LIMIT"
            )
        except BaseException as exc:  # noqa: BLE001 - handed to the waiting thread
            outcome["error"] = exc
        finally:
            done.set()

    worker = threading.Thread(target=work, name="capcover-sql", daemon=True)
    deadline = time.monotonic() + timeout_s
    worker.start()
    timed_out = False
    try:
        while not done.wait(0.05):
            if time.monotonic() >= deadline:
                timed_out = True
                wh.con.interrupt()
                done.wait()
    except KeyboardInterrupt:
        wh.con.interrupt()
        done.wait(5)  # DuckDB stops at its next check, well within this
        raise
    if timed_out:
        raise WarehouseError(
            f"query interrupted after {timeout_s:g} s (CAPCOVER_SQL_TIMEOUT_S) — narrow it, "
            f"or raise the setting"
        )
    if "error" in outcome:
        raise _query_error(outcome["error"], wh)
    columns, rows = outcome["result"]
    return columns, rows


def _query_error(exc: BaseException, wh: Warehouse) -> BaseException:
    if isinstance(exc, WarehouseDamaged) or not isinstance(exc, duckdb.Error):
        return exc
    first = one_line(exc)
    from capcover.warehouse.db import damaged_message, is_damage

    if is_damage(exc):
        return WarehouseDamaged(damaged_message(wh.path, first))
    if isinstance(exc, duckdb.PermissionException):
        return WarehouseError(
            f"capcover sql reads only the warehouse and the published snapshot folder, with no "
            f"network or extensions; refused: {first}"
        )
    if isinstance(exc, duckdb.OutOfMemoryException):
        return WarehouseError(
            f"the query needs more memory than CAPCOVER_SQL_MEMORY_LIMIT_MB allows (it spills "
            f"nothing to disk) — narrow it, or raise the setting ({first[:120]})"
        )
    if "read-only" in first:
        return WarehouseError(
            f"capcover sql is read-only; the statement was refused and nothing changed ({first})"
        )
    return WarehouseError(f"query failed: {first}")
