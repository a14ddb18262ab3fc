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
content, and by the row counts of the months reused; anything else (backfill, rebuild, schema,
columns) rewrites the table.

Atomic: the snapshot is assembled in a hidden temp folder renamed to `snapshots/<run_id>/`, then
the `latest` symlink and `latest.json` are swapped with `os.replace`; a reader sees one complete
run or the previous one. Snapshots beyond `publish_keep` are pruned; an open file, or one linked
into a newer snapshot, lives on (POSIX unlinks only the name).
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

from warehouse.db import Warehouse

LAYOUT = 2  # manifest["layout"]: 2 = monthly files per table folder, hard-linked when unchanged
HASHED_ROWS = 100_000  # base tables below this are compared by content; above, by the runs log
ALWAYS = ("report_daily",)
OPTIONAL = ("alerts",)  # exported when present (alerting adds it)
# Why each report moved, with the coins and the quotes behind it (migration 020), so a BI tool
# can show the "why" from the snapshot alone.
EXPLAIN = ("v_ratio_moves", "v_report_constituents", "v_constituent_moves", "v_category_gap",
           "v_report_quotes")
# Run kinds that write only their as-of date's rows (and their own quotes).
DATED_KINDS = ("daily", "demo")
# v_report_constituents names every coin by its latest snapshot (migration 020), so these
# views' old months change when a coin's latest name does: when the newest day's names differ
# from the previous snapshot's, or when a past day was rerun (it may hold a coin's latest row).
NAME_VIEWS = ("v_report_constituents", "v_constituent_moves")
NAMES_SQL = ("SELECT sum(hash(coin_id, symbol, name)::HUGEINT)::VARCHAR FROM coin_snapshots"
             " WHERE as_of_date = (SELECT max(as_of_date) FROM coin_snapshots)")


def tables_to_publish(wh: Warehouse) -> list[str]:
    """report_daily, then every history table or view, the alerts table and the "why it moved"
    views (constituents and quotes behind each report), those present."""
    present = {
        name for (name,) in wh.query(
            "SELECT table_name FROM information_schema.tables"
            " WHERE table_schema = 'main'"
        )
    }
    history = sorted(n for n in present if "history" in n)
    return ([t for t in ALWAYS if t in present] + history
            + [t for t in OPTIONAL + EXPLAIN if t in present])


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


def _describe(wh: Warehouse, name: str) -> _Table:
    cols = wh.query("SELECT column_name, data_type FROM information_schema.columns"
                    " WHERE table_schema = 'main' AND table_name = ? ORDER BY ordinal_position",
                    [name])
    kind = wh.scalar("SELECT table_type FROM information_schema.tables"
                     " WHERE table_schema = 'main' AND table_name = ?", [name])
    dates = [c for c, t in cols if t == "DATE"]
    return _Table(name, kind == "VIEW", tuple(c for c, _ in cols),
                  ",".join(f"{c} {t}" for c, t in cols), dates[0] if dates else None)


def _sql_path(path: Path) -> str:
    # COPY takes its target as a literal, not a bound parameter: quote it.
    return "'" + str(path).replace("'", "''") + "'"


def _content_hashes(wh: Warehouse, t: _Table) -> dict[str, list]:
    """{month: [rows, content hash]} of a base table."""
    cols = ", ".join(f'"{c}"' for c in t.columns)
    return {k: [n, h] for k, n, h in wh.query(
        f'SELECT {t.key_sql} AS k, count(*), sum(hash({cols})::HUGEINT)::VARCHAR'  # noqa: S608
        f' FROM "{t.name}" GROUP BY k')}


def _write_months(wh: Warehouse, t: _Table, folder: Path, *, since: date | None = None,
                  keys: list[str] | None = None) -> dict[str, dict]:
    """Export the table's months from `since` on (None: all), or exactly `keys`, as
    `folder/<month>.parquet`; returns {month: {"rows", "files"}} of what was written."""
    where, params = [], []
    if since is not None and t.date_column is not None:
        # A bare range on the date column, so DuckDB prunes the history it need not read (an
        # `OR ... IS NULL` costs a full pass through the views: 15x at 10 years).
        where.append(f'"{t.date_column}" >= ?')
        params.append(since)
    if keys is not None:
        where.append(f"list_contains(?, {t.key_sql})")
        params.append(keys)
    staging = folder.with_name(f".{folder.name}.parts")
    wh.con.execute(
        f'COPY (SELECT *, {t.key_sql} AS __month FROM "{t.name}"'  # noqa: S608 - from catalog
        f'{" WHERE " + " AND ".join(where) if where else ""}) TO {_sql_path(staging)}'
        " (FORMAT parquet, COMPRESSION zstd, PARTITION_BY (__month), OVERWRITE_OR_IGNORE)",
        params)
    written: dict[str, dict] = {}
    if not staging.exists():
        return written
    folder.mkdir(exist_ok=True)
    for part in sorted(staging.iterdir()):
        month = part.name.split("=", 1)[1]
        files = []
        for i, f in enumerate(sorted(part.iterdir())):
            name = f"{month}.parquet" if i == 0 else f"{month}.{i}.parquet"
            os.rename(f, folder / name)
            files.append(name)
        written[month] = {"rows": 0, "files": files}
    shutil.rmtree(staging)
    if not written:  # nothing in the range: DuckDB made the folder and no file
        return written
    # Row counts from the files' footers, in one pass (not a second evaluation of the view).
    owner = {name: month for month, w in written.items() for name in w["files"]}
    for path, rows in wh.query(
            "SELECT file_name, sum(num_rows)::BIGINT FROM parquet_file_metadata(?) GROUP BY ALL",
            [[str(folder / n) for n in owner]]):
        written[owner[Path(path).name]]["rows"] += rows
    return written


def _reuse(previous: Path, folder: Path, part: dict) -> None:
    folder.mkdir(exist_ok=True)
    for name in part["files"]:
        try:
            os.link(previous / name, folder / name)
        except OSError:  # another file system (or no hard links): the same bytes, copied
            shutil.copy2(previous / name, folder / name)


@dataclass(frozen=True)
class _Changes:
    full: bool  # rewrite every table
    since: date | None  # the earliest date a run since the previous snapshot wrote
    names: bool  # a coin's latest name may have changed: rewrite NAME_VIEWS


def _changes(wh: Warehouse, prev: dict | None, wm: dict) -> _Changes:
    """What changed since the snapshot `prev`, from the runs log."""
    if (prev is None or prev.get("layout") != LAYOUT
            or prev.get("watermark", {}).get("schema") != wm["schema"]
            or wm["runs"] is None):  # without a runs log nothing tells what changed
        return _Changes(True, None, True)
    since, names = None, prev["watermark"].get("names") != wm["names"]
    everything = _Changes(True, None, True)
    for kind, status, as_of in wh.query(
            "SELECT kind, status, as_of_date FROM runs"
            " WHERE coalesce(finished_at, started_at) > CAST(? AS TIMESTAMPTZ)",
            [prev["watermark"]["runs"] or "-infinity"]):
        if kind not in DATED_KINDS:
            return everything  # backfill, rebuild or a kind this code does not know
        if as_of is None:
            if status == "ok":
                return everything
            continue  # a failed run that never got a date wrote nothing but its runs row
        since = as_of if since is None else min(since, as_of)
        names = names or (wm["newest"] is not None and str(as_of) < wm["newest"])
    # Quotes are stored again by every run (the curated file's too, observed in 2023): only
    # an observed month whose quotes differ changes the reports priced from it onward.
    old_quotes = prev["watermark"].get("quotes") or {}
    for month in {k for k in wm["quotes"].keys() ^ old_quotes.keys()} | {
            k for k in wm["quotes"].keys() & old_quotes.keys()
            if wm["quotes"][k] != old_quotes[k]}:
        if not month[0].isdigit():
            return everything
        first = date.fromisoformat(f"{month}-01")
        since = first if since is None else min(since, first)
    return _Changes(False, since, names)


def _watermark(wh: Warehouse) -> dict:
    present = {n for (n,) in wh.query("SELECT table_name FROM information_schema.tables"
                                      " WHERE table_schema = 'main'")}
    runs = None
    if "runs" in present:
        last = wh.scalar("SELECT max(coalesce(finished_at, started_at)) FROM runs")
        runs = last.isoformat() if last is not None else ""
    return {
        "schema": (wh.scalar("SELECT max(version)::VARCHAR FROM schema_migrations")
                   if "schema_migrations" in present else None),
        "names": wh.scalar(NAMES_SQL) if "coin_snapshots" in present else None,
        "newest": (wh.scalar("SELECT max(as_of_date)::VARCHAR FROM coin_snapshots")
                   if "coin_snapshots" in present else None),
        "runs": runs,
        "quotes": _quote_months(wh) if "gpu_quotes" in present else {},
    }


def _quote_months(wh: Warehouse) -> dict[str, str]:
    """{observed month: content hash} of gpu_quotes, without the run that last stored each."""
    t = _describe(wh, "gpu_quotes")
    t = _Table(t.name, False, tuple(c for c in t.columns if c != "run_id"), t.signature,
               "observed_date")
    return {k: h for k, (_, h) in _content_hashes(wh, t).items()}


def _publish_table(wh: Warehouse, t: _Table, tmp: Path, prev_dir: Path | None,
                   prev: dict | None, changes: _Changes) -> dict:
    """Write or reuse each month of `t` into `tmp/<table>/`; returns its manifest entry."""
    full = changes.full or (changes.names and t.name in NAME_VIEWS)
    since = changes.since
    folder = tmp / t.name
    old = (prev or {}).get("partitions", {}).get(t.name)
    old_dir = prev_dir / t.name if prev_dir is not None else None
    if (old is None or old_dir is None or old.get("signature") != t.signature
            or "none" in old["months"]  # rows without a date: only a full export has them
            or not all((old_dir / f).exists() for p in old["months"].values()
                       for f in p["files"])):
        full = True
    hashed = (not t.is_view
              and wh.scalar(f'SELECT count(*) FROM "{t.name}"') < HASHED_ROWS)  # noqa: S608
    hashes = _content_hashes(wh, t) if hashed else {}
    if not (full or hashed or t.is_view or t.date_column is None):
        # Rows no run recorded (a backfill killed half-way has committed coin by coin): the
        # months to reuse must still hold as many rows as they did, or the table goes whole.
        first = since.strftime("%Y-%m") if since else "9999"
        before = sum(p["rows"] for k, p in old["months"].items() if k[0].isdigit() and k < first)
        full = before != wh.scalar(
            f'SELECT count(*) FROM "{t.name}" WHERE "{t.date_column}" < ?',  # noqa: S608
            [date.fromisoformat(f"{first}-01")])
    months: dict[str, dict] = {}
    if full:
        written = _write_months(wh, t, folder)
    elif hashed:
        stale = [k for k, (n, h) in hashes.items()
                 if old["months"].get(k, {}).get("hash") != h]
        written = _write_months(wh, t, folder, keys=stale) if stale else {}
        for k in hashes.keys() - set(stale):
            _reuse(old_dir, folder, old["months"][k])
            months[k] = {"rows": old["months"][k]["rows"], "files": old["months"][k]["files"]}
    elif since is None:  # nothing ran since the previous snapshot
        written = {}
        for k, part in old["months"].items():
            _reuse(old_dir, folder, part)
            months[k] = {"rows": part["rows"], "files": part["files"]}
    else:
        first = since.strftime("%Y-%m")
        written = _write_months(wh, t, folder, since=since.replace(day=1))
        for k, part in old["months"].items():
            # "all"/"none" sort after the digits: an undated file is always rewritten
            if k < first and k[0].isdigit():
                _reuse(old_dir, folder, part)
                months[k] = {"rows": part["rows"], "files": part["files"]}
    months.update(written)
    for k, (_, h) in hashes.items():
        if k in months:
            months[k]["hash"] = h
    folder.mkdir(exist_ok=True)
    if not months:  # a glob matching no file is an error to a reader: one file of no rows
        wh.con.execute(f'COPY (SELECT * FROM "{t.name}" WHERE false) TO '  # noqa: S608
                       f'{_sql_path(folder / "empty.parquet")} (FORMAT parquet)')
        months["empty"] = {"rows": 0, "files": ["empty.parquet"]}
    return {"signature": t.signature, "written": sorted(written),
            "months": dict(sorted(months.items()))}


def record_publish_failure(wh: Warehouse, run_id: str, message: str) -> None:
    """Note in `runs.message` why the run's snapshot was not published."""
    wh.query("UPDATE runs SET message = ? WHERE run_id = ?", [message, run_id])


def step_durations(wh: Warehouse, run_id: str) -> dict[str, float]:
    """The run's recorded step durations (seconds by step name); empty when none."""
    recorded = wh.scalar("SELECT step_durations FROM runs WHERE run_id = ?", [run_id])
    return json.loads(recorded) if recorded else {}


def record_published(wh: Warehouse, run_id: str, folder: Path,
                     steps: dict[str, float]) -> None:
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
    try:
        tmp.mkdir()
        wm = _watermark(wh)
        changes = _changes(wh, prev, wm)
        parts = {name: _publish_table(wh, _describe(wh, name), tmp, prev_dir, prev, changes)
                 for name in tables_to_publish(wh)}
        manifest = {
            "layout": LAYOUT,
            "run_id": run_id,
            "as_of_date": str(as_of_date) if as_of_date is not None else None,
            "published_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "tables": {n: sum(m["rows"] for m in p["months"].values())
                       for n, p in parts.items()},
            "watermark": wm,
            "partitions": parts,
        }
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
        if final.exists():  # the same run published again: replace it
            shutil.rmtree(final)
        os.rename(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    _swap_symlink(target / "latest", Path("snapshots") / run_id)
    _replace_file(target / "latest.json", json.dumps(
        {k: v for k, v in manifest.items() if k != "partitions"} | {"path": str(final)},
        indent=2))
    _prune(snapshots, keep=keep, current=final)
    return final


def remove_stale_temp(target: Path) -> list[Path]:
    """Remove what a killed publish left in `target`: `.tmp-<run_id>-<pid>` folders and
    `.latest.tmp-<pid>` / `.latest.json.tmp-<pid>` files whose process is gone. A live
    process's temp files are left alone (another warehouse publishing to the same folder).
    Returns what was removed."""
    removed = []
    for path in target.glob(".*tmp-*"):
        pid = path.name.rsplit("-", 1)[-1]
        if not pid.isdigit() or _alive(int(pid)):
            continue
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
        removed.append(path)
    return removed


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return False  # our own leftovers are from an earlier, finished attempt
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    return True


def _swap_symlink(link: Path, points_to: Path) -> None:
    tmp = link.with_name(f".{link.name}.tmp-{os.getpid()}")
    tmp.unlink(missing_ok=True)
    os.symlink(points_to, tmp, target_is_directory=True)
    os.replace(tmp, link)


def _replace_file(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(text + "\n", encoding="utf-8")
    os.replace(tmp, path)


def _prune(snapshots: Path, *, keep: int, current: Path) -> None:
    # Run ids start with a UTC timestamp, so name order is time order.
    folders = sorted(p for p in snapshots.iterdir() if p.is_dir())
    for old in folders[:-keep]:
        if old != current:
            shutil.rmtree(old, ignore_errors=True)
