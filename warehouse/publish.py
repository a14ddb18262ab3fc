"""Published snapshot: after each successful run, the report and history tables as Parquet.

Analysts who want a file they can keep open read these instead of the warehouse (a DuckDB file
the daily writer must lock). Each table is a folder of monthly files,
`snapshots/<run_id>/<table>/<YYYY-MM>.parquet` (by its first DATE column; `all.parquet` without
one), read with the glob `latest/<table>/*.parquet`.

Incremental: only months changed since the previous snapshot are exported (`COPY ...
PARTITION_BY`); every other month is a hard link to the previous snapshot's file. "Changed" is
decided without re-reading the history: small base tables by a content hash per month; bigger
tables and views by the runs logged since (a dated run changes its date's month and, as every
view row depends only on rows dated at or before it, the later ones), by the quotes' monthly
content, by coin_names (the views that name coins), and by the row counts of the months reused;
anything else (backfill, rebuild, schema, columns, another warehouse's snapshot) rewrites the
table.

Atomic: the snapshot is assembled in a hidden temp folder renamed to `snapshots/<run_id>/`, then
the `latest` symlink and `latest.json` are swapped with `os.replace`; a reader sees one complete
run or the previous one. Snapshots beyond `publish_keep` are pruned; an open file, or one linked
into a newer snapshot, lives on (POSIX unlinks only the name).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

from capcover.warehouse.db import Warehouse
from capcover.warehouse.snapshot_files import (
    link_files,
    listing,
    prune,
    remove_stale_temp,
    replace_file,
    swap_symlink,
)

LAYOUT = 2  # manifest["layout"]: 2 = monthly files per table folder, hard-linked when unchanged
HASHED_ROWS = 100_000  # base tables below this are compared by content; above, by the runs log
ALWAYS = ("report_daily",)
OPTIONAL = ("alerts",)  # exported when present (alerting adds it)
# What each row's price and depth were made of (migrations 051, 063): every quote the price
# method considered with its rule, and the rentable GPUs counted, so the snapshot alone is
# enough to recompute a price by hand (docs/methodology.md).
EVIDENCE = ("v_price_decisions", "gpu_depth")
# Why each report moved, with the coins and the quotes behind it (migration 020), so a BI tool
# can show the "why" from the snapshot alone.
EXPLAIN = (
    "v_ratio_moves",
    "v_report_constituents",
    "v_constituent_moves",
    "v_category_gap",
    "v_report_quotes",
)
# Run kinds that write only their as-of date's rows (and their own quotes).
DATED_KINDS = ("daily", "demo")
# Base tables no dated run writes: only a backfill or `capcover rebuild` (warehouse/history.py),
# and either rewrites everything. While only dated runs ran and the row count holds, every
# month is reused without a read (coin_history's rows lie in backfill order, coin by coin, so
# even one month's export reads the whole table).
UNDATED = ("coin_history",)
# v_report_constituents names every coin from coin_names (migration 031), so these views' old
# months change when a coin's latest name does.
NAME_VIEWS = ("v_report_constituents", "v_constituent_moves")


Linker = Callable[[Path, Path, list[str]], None]  # (from folder, to folder, file names)


@dataclass(frozen=True)
class _Table:
    name: str
    is_view: bool
    columns: tuple[str, ...]
    signature: str  # column names and types: a change rewrites every month
    date_column: str | None  # the partition column (first DATE column), None: one file

    @property
    def key_sql(self) -> str:
        if self.date_column is None:
            return "'all'"
        return f"coalesce(strftime(\"{self.date_column}\", '%Y-%m'), 'none')"


def _catalog(wh: Warehouse) -> dict[str, _Table]:
    """Every table and view of the warehouse's main schema, from one catalog query."""
    views = {
        n
        for (n,) in wh.query(
            "SELECT view_name FROM duckdb_views()"
            " WHERE database_name = current_database() AND schema_name = 'main' AND NOT internal"
        )
    }
    found = {}
    for name, cols, types in wh.query(
        "SELECT table_name, list(column_name ORDER BY column_index),"
        " list(data_type ORDER BY column_index) FROM duckdb_columns()"
        " WHERE database_name = current_database() AND schema_name = 'main'"
        " GROUP BY table_name"
    ):
        dates = [c for c, t in zip(cols, types, strict=True) if t == "DATE"]
        found[name] = _Table(
            name,
            name in views,
            tuple(cols),
            ",".join(f"{c} {t}" for c, t in zip(cols, types, strict=True)),
            dates[0] if dates else None,
        )
    return found


def _to_publish(present: set[str]) -> list[str]:
    history = sorted(n for n in present if "history" in n)
    return (
        [t for t in ALWAYS if t in present]
        + history
        + [t for t in OPTIONAL + EXPLAIN + EVIDENCE if t in present]
    )


def tables_to_publish(wh: Warehouse) -> list[str]:
    """report_daily, then every history table or view, the alerts table, the "why it moved"
    views (constituents and quotes behind each report) and the price decisions and depth
    counts behind each row, those present."""
    return _to_publish(set(_catalog(wh)))


def _sql_path(path: Path) -> str:
    # COPY takes its target as a literal, not a bound parameter: quote it.
    return "'" + str(path).replace("'", "''") + "'"


def _content_hashes(wh: Warehouse, t: _Table) -> dict[str, list]:
    """{month: [rows, content hash]} of a base table."""
    cols = ", ".join(f'"{c}"' for c in t.columns)
    return {
        k: [n, h]
        for k, n, h in wh.query(
            f"SELECT {t.key_sql} AS k, count(*), sum(hash({cols})::HUGEINT)::VARCHAR"  # noqa: S608
            f' FROM "{t.name}" GROUP BY k'
        )
    }


def _write_months(
    wh: Warehouse,
    t: _Table,
    folder: Path,
    *,
    since: date | None = None,
    keys: list[str] | None = None,
) -> dict[str, dict]:
    """Export the table's months from `since` on (None: all), or exactly `keys`, as
    `folder/<month>.parquet` (`folder` exists); returns {month: {"rows", "files"}} written."""
    where: list[str] = []
    params: list[object] = []
    if since is not None and t.date_column is not None:
        # A bare range on the date column, so DuckDB prunes the history it need not read (an
        # `OR ... IS NULL` costs a full pass through the views: 15x at 10 years).
        where.append(f'"{t.date_column}" >= ?')
        params.append(since)
    if keys is not None:
        where.append(f"list_contains(?, {t.key_sql})")
        params.append(keys)
        if t.date_column is not None and keys and all(k[0].isdigit() for k in keys):
            # The same rows, with a range DuckDB can prune on (the months are usually the last).
            where.append(f'"{t.date_column}" >= ?')
            params.append(date.fromisoformat(f"{min(keys)}-01"))
    staging = folder.with_name(f".{folder.name}.parts")
    # RETURN_STATS: each file's row count from the writer itself, not a second read.
    files = wh.query(
        f'COPY (SELECT *, {t.key_sql} AS __month FROM "{t.name}"'  # noqa: S608 - from catalog
        f"{' WHERE ' + ' AND '.join(where) if where else ''}) TO {_sql_path(staging)}"
        " (FORMAT parquet, COMPRESSION zstd, PARTITION_BY (__month), OVERWRITE_OR_IGNORE,"
        " RETURN_STATS)",
        params,
    )
    written: dict[str, dict] = {}
    for path, rows, keys_of in sorted((r[0], r[1], r[5]) for r in files):
        month = keys_of["__month"]
        part = written.setdefault(month, {"rows": 0, "files": []})
        name = f"{month}.parquet" if not part["files"] else f"{month}.{len(part['files'])}.parquet"
        os.rename(path, folder / name)
        part["rows"] += rows
        part["files"].append(name)
    shutil.rmtree(staging, ignore_errors=True)
    return written


@dataclass(frozen=True)
class _Changes:
    full: bool  # rewrite every table
    since: date | None  # the earliest date a run since the previous snapshot wrote
    names: bool  # a coin's latest name may have changed: rewrite NAME_VIEWS
    # The earliest day a backfill since the previous snapshot wrote (UNDATED tables change
    # from there on); None: no backfill ran, they are reused without a read.
    history_since: date | None = None


CHANGED_SINCE = 91  # the migration that adds runs.changed_since


def _changes(wh: Warehouse, prev: dict | None, wm: dict) -> _Changes:
    """What changed since the snapshot `prev`, from the runs log: a dated run changed its
    date's month and the later ones; a backfill that recorded `changed_since` changed the
    months from that date on (UNDATED tables included); anything else changed everything."""
    everything = _Changes(True, None, True)
    old = (prev or {}).get("watermark", {})
    if (
        prev is None
        or prev.get("layout") != LAYOUT
        or old.get("warehouse") != wm["warehouse"]  # another warehouse's snapshot
        or old.get("schema") != wm["schema"]
        or wm["runs"] is None
        or not str(old.get("runs") or "0").isdigit()  # a watermark of the clock (before 070)
    ):  # without a runs log nothing tells what changed
        return everything
    since, names, history = None, old.get("names") != wm["names"], None
    changed = "changed_since" if wh.has(CHANGED_SINCE) else "NULL"
    # The runs committed since the previous snapshot, by their commit order (run_seq): a run
    # whose clock was set back is still one the snapshot has not seen.
    for kind, status, as_of, changed_since in wh.query(
        f"SELECT kind, status, as_of_date, {changed} FROM runs"  # noqa: S608 - constants
        " WHERE run_seq > ?",
        [int(old.get("runs") or 0)],
    ):
        if kind == "backfill" and status == "ok" and changed_since is not None:
            since = changed_since if since is None else min(since, changed_since)
            history = changed_since if history is None else min(history, changed_since)
            continue
        if kind not in DATED_KINDS:
            return everything  # rebuild, an older backfill, or a kind this code does not know
        if as_of is None:
            if status == "ok":
                return everything
            continue  # a failed run that never got a date wrote nothing but its runs row
        since = as_of if since is None else min(since, as_of)
    # Quotes are stored again by every run (the curated file's too, observed in 2023): only
    # an observed month whose quotes differ changes the reports priced from it onward.
    old_quotes = old.get("quotes") or {}
    for month in {k for k in wm["quotes"].keys() ^ old_quotes.keys()} | {
        k for k in wm["quotes"].keys() & old_quotes.keys() if wm["quotes"][k] != old_quotes[k]
    }:
        if not month[0].isdigit():
            return everything
        first = date.fromisoformat(f"{month}-01")
        since = first if since is None else min(since, first)
    return _Changes(False, since, names, history)


def _watermark(wh: Warehouse, tables: dict[str, _Table]) -> dict:
    """What the next snapshot compares with this one: the warehouse (its id and file), the
    schema version, the newest run, coin_names' content and the quotes' monthly content."""
    parts = {
        "id": (
            "(SELECT min(warehouse_id) FROM warehouse_identity)"
            if "warehouse_identity" in tables
            else "NULL"
        ),
        "schema": (
            "(SELECT max(version)::VARCHAR FROM schema_migrations)"
            if "schema_migrations" in tables
            else "NULL"
        ),
        "runs": (
            "(SELECT coalesce(max(run_seq), 0)::VARCHAR FROM runs)" if "runs" in tables else "NULL"
        ),
        "names": (
            "(SELECT sum(hash(coin_id, symbol, name)::HUGEINT)::VARCHAR FROM coin_names)"
            if "coin_names" in tables
            else "NULL"
        ),
    }
    row = dict(zip(parts, wh.query(f"SELECT {', '.join(parts.values())}")[0], strict=True))
    return {
        # A copied file keeps its id and a re-created one keeps its path: both tell.
        "warehouse": {"id": row["id"], "path": str(Path(wh.path).resolve())},
        "schema": row["schema"],
        "names": row["names"],
        "runs": row["runs"],
        "quotes": _quote_months(wh, tables["gpu_quotes"]) if "gpu_quotes" in tables else {},
    }


def _quote_months(wh: Warehouse, t: _Table) -> dict[str, str]:
    """{observed month: content hash} of gpu_quotes, without the run that last stored each."""
    t = _Table(
        t.name, False, tuple(c for c in t.columns if c != "run_id"), t.signature, "observed_date"
    )
    return {k: h for k, (_, h) in _content_hashes(wh, t).items()}


def _publish_table(
    wh: Warehouse,
    t: _Table,
    tmp: Path,
    prev_dir: Path | None,
    prev: dict | None,
    changes: _Changes,
    link: Linker,
) -> dict:
    """Write or reuse each month of `t` into `tmp/<table>/` (reused files through `link`);
    returns its manifest entry."""
    full = changes.full or (changes.names and t.name in NAME_VIEWS)
    since = changes.since
    folder = tmp / t.name
    folder.mkdir()
    old = (prev or {}).get("partitions", {}).get(t.name)
    old_dir = prev_dir / t.name if prev_dir is not None else None
    if (
        old is None
        or old_dir is None
        or old.get("signature") != t.signature
        or "none" in old["months"]  # rows without a date: only a full export has them
        or not {f for p in old["months"].values() for f in p["files"]} <= listing(old_dir)
    ):
        full = True
    total = None if t.is_view else wh.scalar(f'SELECT count(*) FROM "{t.name}"')  # noqa: S608
    old_total = sum(p["rows"] for p in (old or {}).get("months", {}).values())
    hashed = total is not None and total < HASHED_ROWS
    if not (full or hashed) and t.name in UNDATED:
        # coin_history: dated runs never write it; a backfill wrote it from `history_since`.
        if changes.history_since is None:
            full, since = total != old_total, None
        else:
            since = changes.history_since
    hashes = _content_hashes(wh, t) if hashed and not full else {}
    keep: dict[str, dict] = {}  # months reused from the previous snapshot
    if full:
        written = _write_months(wh, t, folder)
        hashes = _content_hashes(wh, t) if hashed else {}
    elif hashed:
        stale = [k for k, (n, h) in hashes.items() if old["months"].get(k, {}).get("hash") != h]
        written = _write_months(wh, t, folder, keys=stale) if stale else {}
        keep = {k: old["months"][k] for k in hashes.keys() - set(stale)}
    elif since is None:  # nothing ran since the previous snapshot
        written, keep = {}, dict(old["months"])
    else:
        first = since.strftime("%Y-%m")
        # "all"/"none" sort after the digits: an undated file is always rewritten
        keep = {k: p for k, p in old["months"].items() if k < first and k[0].isdigit()}
        written = _write_months(wh, t, folder, since=since.replace(day=1))
        if total is not None and total != (
            sum(p["rows"] for p in keep.values()) + sum(w["rows"] for w in written.values())
        ):
            # Rows no run recorded (a backfill killed half-way has committed coin by coin):
            # the months reused no longer hold as many rows as they did; export it whole.
            for w in written.values():
                for name in w["files"]:
                    os.unlink(folder / name)
            keep, written = {}, _write_months(wh, t, folder)
    if keep:
        assert old_dir is not None  # months are kept only from a previous snapshot
        link(old_dir, folder, [f for p in keep.values() for f in p["files"]])
    months = {k: {"rows": p["rows"], "files": p["files"]} for k, p in keep.items()}
    months.update(written)
    for k, (_, h) in hashes.items():
        if k in months:
            months[k]["hash"] = h
    # A content digest per file (`capcover verify` checks the files against it): a reused
    # month keeps the digest its file was published with, a written one is read once.
    for k, part in months.items():
        old_digests = keep[k].get("sha256", {}) if k in keep else {}
        src = old_dir if k in keep else folder
        assert src is not None  # kept months come from a previous snapshot
        part["sha256"] = {n: old_digests.get(n) or file_digest(src / n) for n in part["files"]}
    if not months:  # a glob matching no file is an error to a reader: one file of no rows
        wh.con.execute(
            f'COPY (SELECT * FROM "{t.name}" WHERE false) TO '  # noqa: S608
            f"{_sql_path(folder / 'empty.parquet')} (FORMAT parquet)"
        )
        empty = folder / "empty.parquet"
        months["empty"] = {
            "rows": 0,
            "files": [empty.name],
            "sha256": {empty.name: file_digest(empty)},
        }
    return {
        "signature": t.signature,
        "written": sorted(written),
        "months": dict(sorted(months.items())),
    }


def file_digest(path: Path) -> str:
    """SHA-256 of a file's bytes (hex): the content digest the manifest records per file."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def record_publish_failure(
    wh: Warehouse, run_id: str, message: str, steps: dict[str, float]
) -> None:
    """Note in `runs.message` why the run's snapshot was not published, with the run's step
    durations (seconds by step name)."""
    wh.query(
        "UPDATE runs SET message = ?, step_durations = ? WHERE run_id = ?",
        [message, json.dumps(steps), run_id],
    )


def record_published(wh: Warehouse, run_id: str, folder: Path, steps: dict[str, float]) -> None:
    """Record where the run was published and its step durations (seconds by step name)."""
    wh.query(
        "UPDATE runs SET published_to = ?, step_durations = ? WHERE run_id = ?",
        [str(folder), json.dumps(steps), run_id],
    )


def _previous(target: Path) -> tuple[Path | None, dict | None]:
    """The folder and manifest `latest` points at, or (None, None)."""
    try:
        folder = (target / "latest").resolve(strict=True)
        return folder, json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None, None


def publish_snapshot(
    wh: Warehouse, target: Path, *, run_id: str, as_of_date: object = None, keep: int = 7
) -> Path:
    """Publish the tables to `target/snapshots/<run_id>/` and point `target/latest` at it,
    exporting only the months that changed since the snapshot `latest` points at.

    Returns the snapshot folder. On any error nothing new becomes visible: the temp folder is
    removed and `latest` still points at the previous snapshot.
    """
    target = Path(target)
    snapshots = target / "snapshots"
    snapshots.mkdir(parents=True, exist_ok=True)
    remove_stale_temp(target)
    tmp = target / f".tmp-{run_id}-{os.getpid()}"
    final = snapshots / run_id
    prev_dir, prev = _previous(target)
    if prev_dir == final.resolve():  # the same run published again: it is being replaced
        prev_dir = prev = None
    # Reused months are linked on a second thread while DuckDB exports the next table (it
    # releases the GIL): at 10 years ~900 links, a large part of what grows with history.
    linker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="capcover-publish-links")
    links: list[Future] = []

    def link(src: Path, dst: Path, names: list[str]) -> None:
        links.append(linker.submit(link_files, src, dst, names))

    try:
        tmp.mkdir()
        tables = _catalog(wh)
        wm = _watermark(wh, tables)
        changes = _changes(wh, prev, wm)
        parts = {
            name: _publish_table(wh, tables[name], tmp, prev_dir, prev, changes, link)
            for name in _to_publish(set(tables))
        }
        for done in links:
            done.result()  # a link that failed fails the publish
        manifest = {
            "layout": LAYOUT,
            "run_id": run_id,
            "as_of_date": str(as_of_date) if as_of_date is not None else None,
            "published_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "tables": {n: sum(m["rows"] for m in p["months"].values()) for n, p in parts.items()},
            "watermark": wm,
            "partitions": parts,
        }
        # Compact: an indent forces json's pure-Python encoder, slow at ~900 files.
        (tmp / "manifest.json").write_text(json.dumps(manifest, separators=(",", ":")) + "\n")
        if final.exists():  # the same run published again: replace it
            shutil.rmtree(final)
        os.rename(tmp, final)
    except BaseException:
        linker.shutdown(wait=True, cancel_futures=True)
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    finally:
        linker.shutdown(wait=True)
    swap_symlink(target / "latest", Path("snapshots") / run_id)
    replace_file(
        target / "latest.json",
        json.dumps(
            {k: v for k, v in manifest.items() if k != "partitions"} | {"path": str(final)},
            indent=2,
        ),
    )
    prune(snapshots, keep=keep, current=final)
    return final
