"""`capcover verify [--date D]`: re-derive every published report row and compare it bit for bit
with the warehouse and with the published Parquet snapshot.

Re-derived the way `capcover rebuild` re-derives: the raw archive (every HTTP answer and the
curated quotes files as read: the tables `raw_http_daily` and `raw_http_backfill` behind the
view `raw_http`, link rows with the rows they name) and the runs log are copied into a scratch
warehouse in a temporary folder, the rebuild replays every run there with the same code,
settings and scenario definitions, each date with the price and sector methods its rows name
(published rows are never revised: an older method's rows are re-derived by that method's
frozen code). The real warehouse is only read. Then, per row of the date (all dates by
default): every column of the stored row against the re-derived one, and the row in the latest
published snapshot against the stored one, after checking each snapshot file against the
content digest its manifest recorded. Not only report_daily: every table the rebuild
re-derives (`COMPARED`: the price decisions, the quotes, the category and coin snapshots, the
coin history, the feeds' quarantine, how many GPUs each source showed as rentable: gpu_depth,
migration 063) is compared row by row, every column, in SQL. One line per
difference; none means every row matched.
"""

from __future__ import annotations

import json
import math
import re
import struct
import tempfile
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from capcover.config.settings import Settings
from capcover.flows.rebuild import RebuildError, rebuild
from capcover.model.prices import METHOD_VERSION, METHOD_VERSION_V2, parse_method_id
from capcover.model.prices_v1 import METHOD_VERSION_V1
from capcover.warehouse.db import Warehouse, open_warehouse
from capcover.warehouse.load import SECTOR_CAP_METHODS
from capcover.warehouse.migrate import latest_version
from capcover.warehouse.publish import file_digest

# What the rebuild needs besides the code: the archive (its two tables, migration 090: the view
# raw_http takes no rows), the runs log, the backfill jobs (their coins link to their archived
# charts), the stored rows (the methods each date names) and the scenario definitions each run
# recorded (never the checker's own config).
COPIED = (
    "runs",
    "raw_http_daily",
    "raw_http_backfill",
    "backfill_jobs",
    "backfill_progress",
    "report_daily",
    "run_scenarios",
)
KNOWN_METHODS = (METHOD_VERSION, METHOD_VERSION_V2, METHOD_VERSION_V1)
# The tables the rebuild re-derives, each with the natural key of its rows: verify compares
# every column of every stored row of these with the re-derived row of the same key.
COMPARED: dict[str, tuple[str, ...]] = {
    "report_daily": ("report_date", "scenario"),
    "price_decisions": ("report_date", "scenario", "quote_id"),
    "gpu_quotes": ("quote_id",),
    "category_snapshots": ("as_of_date", "category_id"),
    "coin_snapshots": ("as_of_date", "category_id", "coin_id"),
    "coin_history": ("coin_id", "day"),
    "quarantine": ("run_id", "seq"),
    "gpu_depth": ("day", "sku", "form_factor", "source"),
}
SHOWN = 20  # difference lines per table; the rest are counted in one line


class VerifyError(Exception):
    """Verification could not be done (nothing to compare, a damaged snapshot manifest)."""


@dataclass
class VerifyResult:
    dates: list[date] = field(default_factory=list)
    rows: int = 0  # stored report rows checked
    other_rows: dict[str, int] = field(default_factory=dict)  # stored rows checked, by table
    snapshot: Path | None = None
    snapshot_files: int = 0  # files whose digest was checked
    differences: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.differences

    def summary_text(self, db: Path) -> str:
        days = f"{self.dates[0]}" if len(self.dates) == 1 else f"{len(self.dates)} report dates"
        where = f"snapshot {self.snapshot} ({self.snapshot_files} files' digests)"
        others = ", ".join(f"{t} {n:,}" for t, n in self.other_rows.items())
        also = f" (and the stored rows they rest on: {others})" if others else ""
        if self.ok:
            return (
                f"capcover verify: {self.rows} report row(s) of {days}{also} re-derived from "
                f"the raw archive match the warehouse {db} and the {where} bit for bit"
            )
        return (
            f"capcover verify: {len(self.differences)} difference(s) in {self.rows} report "
            f"row(s) of {days}{also} (warehouse {db}, {where})"
        )


def _bits(value: Any) -> Any:
    """A value compared bit for bit: a float by its IEEE 754 bytes (so -0.0 is not 0.0 and a
    NaN equals itself), anything else as is."""
    if isinstance(value, float):
        return struct.pack(">d", value)
    return value


def _show(value: Any) -> str:
    if isinstance(value, float) and math.isfinite(value):
        return repr(value)
    return "NULL" if value is None else str(value)


def _rows(
    wh: Warehouse, table_sql: str, day: date | None, params: list | None = None
) -> tuple[list[str], dict[tuple, dict]]:
    cols, data = wh.query_table(
        f"SELECT * FROM {table_sql} WHERE (?::DATE IS NULL OR report_date = ?::DATE)"  # noqa: S608
        " ORDER BY report_date, scenario",
        [*(params or []), day, day],
    )
    out = {}
    for r in data:
        row = dict(zip(cols, r, strict=True))
        out[(row["report_date"], row["scenario"])] = row
    return cols, out


def _compare(
    what: str, stored: dict[tuple, dict], other: dict[tuple, dict], columns: list[str]
) -> list[str]:
    lines = []
    for key in sorted(stored.keys() | other.keys()):
        day, scenario = key
        if key not in other:
            lines.append(f"{day} {scenario}: not in the {what}")
            continue
        if key not in stored:
            lines.append(f"{day} {scenario}: in the {what} but not in the warehouse")
            continue
        a, b = stored[key], other[key]
        differ = [c for c in columns if _bits(a.get(c)) != _bits(b.get(c))]
        if differ:
            shown = ", ".join(f"{c} {_show(a.get(c))} vs {_show(b.get(c))}" for c in differ[:4])
            more = f" (+{len(differ) - 4} more column(s))" if len(differ) > 4 else ""
            lines.append(f"{day} {scenario}: the {what} differs: {shown}{more}")
    return lines


def _copy_archive(src: Warehouse, scratch: Path, tmp: Path) -> tuple[list[str], list[str]]:
    """The archive and runs log of `src` into a new warehouse at `scratch`; returns the price
    methods and the sector definitions its rows name that no code path re-derives (those
    rows' dates re-derive with the current ones, and the rows are named, not compared)."""
    for table in COPIED:
        src.con.execute(
            f"COPY (SELECT * FROM {table}) TO '{tmp / table}.parquet' (FORMAT parquet)"  # noqa: S608
        )
    prices, sectors = [], []
    with open_warehouse(scratch) as wh:
        with wh.transaction():
            for table in COPIED:
                wh.query(
                    f"INSERT INTO {table} BY NAME SELECT * FROM read_parquet(?)",  # noqa: S608
                    [str(tmp / f"{table}.parquet")],
                )
            for (method,) in wh.query(
                "SELECT DISTINCT price_method FROM report_daily WHERE price_method <> 'fixed'"
            ):
                parsed = parse_method_id(method) if method else None
                if parsed is None or parsed[0] not in KNOWN_METHODS:
                    prices.append(method)
            sectors = [
                m
                for (m,) in wh.query("SELECT DISTINCT sector_cap_method FROM report_daily")
                if m is not None and m not in SECTOR_CAP_METHODS
            ]
            wh.query(
                "UPDATE report_daily SET price_method = CASE WHEN list_contains(?, price_method)"
                " THEN NULL ELSE price_method END, sector_cap_method = CASE WHEN"
                " list_contains(?, sector_cap_method) THEN NULL ELSE sector_cap_method END",
                [prices, sectors],
            )
    return prices, sectors


def latest_snapshot(wh: Warehouse) -> Path | None:
    """The snapshot `latest` points at, in the folder the warehouse's runs last published to."""
    published = wh.scalar(
        "SELECT published_to FROM runs WHERE published_to IS NOT NULL"
        " ORDER BY coalesce(finished_at, started_at) DESC, run_id DESC LIMIT 1"
    )
    if not published:
        return None
    target = Path(published).parent.parent
    try:
        return (target / "latest").resolve(strict=True)
    except OSError:
        return None


def check_snapshot(
    folder: Path, stored: dict[tuple, dict], day: date | None, columns: list[str]
) -> tuple[int, list[str]]:
    """(files checked, difference lines) of the snapshot at `folder`: every file against its
    manifest digest, and report_daily's rows against the stored ones."""
    try:
        manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
        parts = manifest["partitions"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise VerifyError(f"snapshot {folder}: no readable manifest ({exc})") from None
    lines, checked = [], 0
    for table, part in sorted(parts.items()):
        for month, entry in sorted(part.get("months", {}).items()):
            digests = entry.get("sha256") or {}
            for name in entry.get("files", []):
                checked += 1
                path = folder / table / name
                if name not in digests:
                    lines.append(f"snapshot {table}/{name}: no content digest in the manifest")
                    continue
                try:
                    actual = file_digest(path)
                except OSError as exc:
                    lines.append(f"snapshot {table}/{name}: unreadable ({exc.strerror})")
                    continue
                if actual != digests[name]:
                    lines.append(
                        f"snapshot {table}/{name}: content digest {actual[:16]}… is not the "
                        f"{digests[name][:16]}… its manifest recorded (month {month}): the file "
                        f"was altered after publishing"
                    )
    files = [
        str(folder / "report_daily" / n)
        for e in parts.get("report_daily", {}).get("months", {}).values()
        for n in e.get("files", [])
    ]
    if not files:
        lines.append("snapshot: no report_daily files")
        return checked, lines
    import duckdb

    con = duckdb.connect()
    try:
        cols, published = _rows(
            Warehouse(con, folder, True), "read_parquet(?, union_by_name = true)", day, [files]
        )
    except duckdb.Error as exc:
        lines.append(f"snapshot report_daily: unreadable Parquet ({str(exc).splitlines()[0]})")
        return checked, lines
    finally:
        con.close()
    lines += _compare("published snapshot", stored, published, columns)
    return checked, lines


def _scope(table: str, decisions: str) -> str:
    """The condition choosing the rows of `table` that `--date D` covers (`$day`; NULL: every
    row). The quotes of a date are those observed that day and those its decisions
    (`decisions`: the stored or the re-derived ones) considered; the quarantine of a date, the
    rows of the runs dated that day."""
    every = "$day::DATE IS NULL"
    if table in ("report_daily", "price_decisions"):
        return f"({every} OR report_date = $day::DATE)"
    if table in ("category_snapshots", "coin_snapshots"):
        return f"({every} OR as_of_date = $day::DATE)"
    if table in ("coin_history", "gpu_depth"):
        return f"({every} OR day = $day::DATE)"
    if table == "gpu_quotes":
        return (
            f"({every} OR observed_date = $day::DATE OR quote_id IN"  # noqa: S608 - constants
            f" (SELECT quote_id FROM {decisions} WHERE report_date = $day::DATE))"
        )
    # quarantine: the plausibility rule's held-back rows (source 'model') are the run's
    # judgement of a move against the day before, not a parse of the archive: the rebuild
    # does not make them.
    return (
        f"source <> 'model' AND ({every} OR run_id IN"  # noqa: S608 - constants
        " (SELECT run_id FROM runs WHERE as_of_date = $day::DATE))"
    )


def _cell(value: Any) -> str:
    text = _show(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _differs(name: str, kind: str) -> str:
    """SQL naming column `name` when the stored (s) and re-derived (d) values differ: a DOUBLE
    by its shortest round-trip text, which tells every two doubles apart (-0.0 included)."""
    a, b = f's."{name}"', f'd."{name}"'
    if kind in ("DOUBLE", "FLOAT", "JSON"):
        a, b = f"{a}::VARCHAR", f"{b}::VARCHAR"
    return f"CASE WHEN {a} IS DISTINCT FROM {b} THEN '{name}' END"


def diff_table(
    wh: Warehouse, table: str, files: dict[str, Path], day: date | None, left_out: list[str]
) -> tuple[int, list[str]]:
    """(stored rows compared, difference lines) of `table` (a COMPARED name): the stored rows
    (`files[table]`, a Parquet copy) against the re-derived rows in `wh`, matched by the
    table's key, every column. `left_out`: report rows ("date|scenario") not compared, with
    their decisions.

    A row only the re-derivation makes is a difference (a stored row was deleted), except a
    report row that was never published (a scenario the plausibility rule held back) and its
    decisions, and depth rows of a day the warehouse holds none of (written before 063)."""
    key = COMPARED[table]
    columns = wh.query(
        "SELECT column_name, data_type FROM information_schema.columns"
        " WHERE table_name = ? AND table_schema = 'main' ORDER BY ordinal_position",
        [table],
    )
    drop = "true"
    if "scenario" in key:
        drop = "NOT list_contains($left_out, report_date::VARCHAR || '|' || scenario)"
    unpublished = "false"
    if table == "report_daily":
        unpublished = "s.__in IS NULL"
    elif table == "gpu_depth":  # a day before migration 063 holds no depth rows: not compared
        unpublished = "s.__in IS NULL AND d.day NOT IN (SELECT day FROM read_parquet($stored))"
    elif table == "price_decisions":
        unpublished = (
            "s.__in IS NULL AND NOT EXISTS (SELECT 1 FROM read_parquet($reports) r"
            " WHERE r.report_date = d.report_date AND r.scenario = d.scenario)"
        )
    order = ", ".join(f'"{k}"' for k in key)
    sql = f"""
        WITH s AS (SELECT *, true AS __in FROM read_parquet($stored)
                   WHERE {_scope(table, "read_parquet($decisions)")} AND {drop}),
             d AS (SELECT *, true AS __in FROM {table}
                   WHERE {_scope(table, "price_decisions")} AND {drop}),
             j AS (
                SELECT {", ".join(f'coalesce(s."{k}", d."{k}") AS "{k}"' for k in key)},
                       s.__in IS NOT NULL AS in_s, d.__in IS NOT NULL AS in_d,
                       list_filter([{", ".join(_differs(n, k) for n, k in columns)}],
                                   lambda x: x IS NOT NULL) AS differ,
                       s AS s_row, d AS d_row
                FROM s FULL OUTER JOIN d ON {" AND ".join(f's."{k}" = d."{k}"' for k in key)}
                WHERE NOT ({unpublished})
             ),
             diff AS (SELECT * FROM j WHERE NOT in_s OR NOT in_d OR len(differ) > 0)
        SELECT (SELECT count(*) FROM s), (SELECT count(*) FROM diff),
               (SELECT list(diff ORDER BY {order})
                FROM (FROM diff ORDER BY {order} LIMIT {SHOWN}) diff)
    """  # noqa: S608 - table and column names from COMPARED and the catalog, no input
    params = {
        "stored": str(files[table]),
        "decisions": str(files["price_decisions"]),
        "reports": str(files["report_daily"]),
        "day": day,
        "left_out": left_out,
    }
    used = set(re.findall(r"\$([a-z_]+)", sql))  # DuckDB takes only the names a query uses
    compared, n_diff, shown = wh.query(sql, {k: v for k, v in params.items() if k in used})[0]
    lines = []
    for row in shown or []:
        where = f"{table} {' '.join(str(row[k]) for k in key)}"
        if not row["in_d"]:
            lines.append(f"{where}: not in the re-derivation from the raw archive")
        elif not row["in_s"]:
            lines.append(
                f"{where}: in the re-derivation from the raw archive, not in the warehouse"
            )
        else:
            a, b, differ = row["s_row"], row["d_row"], row["differ"]
            shown_cols = ", ".join(f"{c} {_cell(a[c])} vs {_cell(b[c])}" for c in differ[:4])
            more = f" (+{len(differ) - 4} more column(s))" if len(differ) > 4 else ""
            lines.append(
                f"{where}: the re-derivation from the raw archive differs: {shown_cols}{more}"
            )
    if n_diff > len(lines):
        lines.append(f"{table}: {n_diff - len(lines):,} more difference(s) not shown")
    return compared, lines


def verify(settings: Settings, day: date | None = None) -> VerifyResult:
    """Re-derive the rows of `day` (every date when None) and compare; see the module
    docstring. Raises VerifyError when there is nothing to verify."""
    result = VerifyResult()
    with tempfile.TemporaryDirectory(prefix="capcover-verify-") as tmp:
        scratch = Path(tmp) / "verify.duckdb"
        files = {table: Path(tmp) / f"stored_{table}.parquet" for table in COMPARED}
        with open_warehouse(
            settings.db, read_only=True, lock_budget_s=settings.lock_budget_s
        ) as src:
            if src.schema_version < latest_version():
                raise VerifyError(
                    f"warehouse {settings.db} is at schema version {src.schema_version}, older "
                    f"than this capcover's {latest_version()} — run `capcover run` once to "
                    f"migrate it (verify never writes the warehouse)"
                )
            columns, stored = _rows(src, "report_daily", day)
            if not stored:
                what = f"on {day}" if day else "at all"
                raise VerifyError(f"warehouse {settings.db} has no report rows {what} to verify")
            snapshot = latest_snapshot(src)
            for table, path in files.items():
                src.con.execute(
                    f"COPY (SELECT * FROM {table}) TO '{path}' (FORMAT parquet)"  # noqa: S608
                )
            prices, sectors = _copy_archive(src, scratch, Path(tmp))
        try:
            rebuild(settings.model_copy(update={"db": scratch}))
        except RebuildError as exc:
            raise VerifyError(f"the archive does not re-derive: {exc}") from None
        result.dates = sorted({d for d, _ in stored})
        result.rows = len(stored)
        left_out = []
        for (day_, scenario), row in stored.items():
            where = f"report_daily {day_} {scenario}"
            if row.get("price_method") in prices:
                result.differences.append(
                    f"{where}: price_method {row['price_method']} has no code path in this "
                    f"capcover: not re-derivable (median-v0: rows written before migration 007)"
                )
            elif row.get("sector_cap_method") in sectors:
                result.differences.append(
                    f"{where}: sector_cap_method {row['sector_cap_method']} is no sector "
                    f"definition this capcover knows: not re-derivable"
                )
            else:
                continue
            left_out.append(f"{day_.isoformat()}|{scenario}")
        with open_warehouse(scratch, read_only=True) as wh:
            for table in COMPARED:
                compared, lines = diff_table(wh, table, files, day, left_out)
                if table != "report_daily":
                    result.other_rows[table] = compared
                result.differences += lines
    if snapshot is None:
        result.differences.append(
            "no published Parquet snapshot found (runs.published_to is empty or `latest` is "
            "gone): the snapshot was not compared"
        )
    else:
        result.snapshot = snapshot
        checked, lines = check_snapshot(snapshot, stored, day, columns)
        result.snapshot_files = checked
        result.differences += lines
    return result
