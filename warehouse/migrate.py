"""A small migration runner: numbered SQL files applied in order, each in a transaction, recorded
in `schema_migrations` with its sha256, and checked against that record at every open.

Migrations are history: an applied file never changes (its checksum is in every warehouse it
was applied to, and `verify_applied` refuses to open a warehouse whose record and file part).
A change is a new file.

Views live in their own files, `warehouse/views/<view>.<n>.sql` (the CREATE OR REPLACE VIEW and
its comments), immutable once a migration has read them. A migration that (re)defines a view
reads its file with a line of the DuckDB shell's own form, so the migration still runs by hand
in `duckdb` from warehouse/migrations/:

    .read ../views/v_constituent_moves.2.sql

The runner puts the file's text in place of that line; the file's sha256 is recorded in
`schema_view_files` (migration 040) beside the migration's own. A later change of the view is a
new file (`.3.sql`) and a new migration reading it, never a copy of the old definition. Plain
migration files, without `.read` lines, are applied and checked exactly as before.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Protocol

import duckdb


class Warehouse(Protocol):
    """What the runner needs of warehouse.db.Warehouse (which imports this module, so it is
    described here rather than imported)."""

    path: Path
    con: duckdb.DuckDBPyConnection

    def query(self, sql: str, params: Sequence[Any] | None = None) -> list[tuple[Any, ...]]: ...

    def scalar(self, sql: str, params: Sequence[Any] | None = None) -> Any: ...

    def transaction(self) -> AbstractContextManager[Any]: ...


MIGRATIONS_DIR = Path(__file__).parent / "migrations"
VIEWS_DIR = Path(__file__).parent / "views"
VIEW_FILES_MIGRATION = 40  # 040_view_files.sql creates schema_view_files
_NAME = re.compile(r"^(\d{3})_([a-z0-9_]+)\.sql$")
_VIEW_NAME = re.compile(r"^(?P<view>[a-z][a-z0-9_]*)\.(?P<n>[1-9][0-9]*)\.sql$")
_READ = re.compile(r"^\.read[ \t]+(?P<path>\S+)[ \t]*$", re.MULTILINE)


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class ViewFile:
    """One version of one view: `warehouse/views/<view>.<n>.sql`."""

    file: str  # e.g. "v_constituent_moves.2.sql"
    sql: str

    @property
    def sha256(self) -> str:
        return _sha256(self.sql)


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str  # the file's text, as recorded (sha256)
    views: tuple[ViewFile, ...] = ()  # the view files its `.read` lines name, in order

    @property
    def file(self) -> str:
        return f"{self.version:03d}_{self.name}.sql"

    @property
    def sha256(self) -> str:
        return _sha256(self.sql)

    @property
    def script(self) -> str:
        """What runs: the file's text with each `.read ../views/...` line replaced by that
        view file's text."""
        texts = {v.file: v.sql for v in self.views}
        return _READ.sub(lambda m: texts[Path(m.group("path")).name], self.sql)


class MigrationFileError(RuntimeError):
    """A migration or view file this code ships is malformed (a bug in capcover, not in the
    warehouse)."""


def read_view(file: str, views: Path = VIEWS_DIR) -> ViewFile:
    """The view file `file` (e.g. "v_x.2.sql"); it must define the view its name says."""
    m = _VIEW_NAME.match(file)
    path = views / file
    if not m or not path.is_file():
        raise MigrationFileError(f"no view file {path} (named <view>.<n>.sql)")
    sql = path.read_text(encoding="utf-8")
    if not re.search(rf"\bCREATE\s+OR\s+REPLACE\s+VIEW\s+{m.group('view')}\s+AS\b", sql, re.I):
        raise MigrationFileError(
            f"view file {path} must CREATE OR REPLACE VIEW {m.group('view')} AS ..."
        )
    return ViewFile(file, sql)


def _views_read_by(path: Path, sql: str, views: Path) -> tuple[ViewFile, ...]:
    out = []
    for m in _READ.finditer(sql):
        target = m.group("path")
        if Path(target).parent != Path("../views"):
            raise MigrationFileError(
                f"migration {path.name}: `.read {target}` — a migration reads only "
                f"../views/<view>.<n>.sql"
            )
        out.append(read_view(Path(target).name, views))
    return tuple(out)


def discover(directory: Path = MIGRATIONS_DIR, views: Path = VIEWS_DIR) -> list[Migration]:
    found = []
    for path in sorted(directory.glob("*.sql")):
        m = _NAME.match(path.name)
        if not m:
            raise MigrationFileError(f"migration file {path.name} must be named NNN_name.sql")
        sql = path.read_text(encoding="utf-8")
        found.append(Migration(int(m.group(1)), m.group(2), sql, _views_read_by(path, sql, views)))
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise MigrationFileError(f"duplicate migration numbers in {directory}")
    return found


@cache
def latest_version(directory: Path = MIGRATIONS_DIR) -> int:
    """The highest migration number this code knows (a file with a higher one is newer),
    from the file names alone: every command that opens the warehouse asks, and reading the
    files is `discover`'s (and `apply_migrations`') job."""
    return max(
        (int(m.group(1)) for p in directory.glob("*.sql") if (m := _NAME.match(p.name))), default=0
    )


class MigrationChanged(RuntimeError):
    """An applied migration (or a view file it read) is not the file this code ships; the
    message is one line naming it. warehouse/db.py raises it as a WarehouseError."""


def verify_applied(
    wh: Warehouse, directory: Path = MIGRATIONS_DIR, views: Path = VIEWS_DIR
) -> None:
    """Compare every applied migration's recorded sha256 (and every view file's, from
    `schema_view_files`) with the file this code ships; MigrationChanged on the first that
    differs or is missing. Needs `schema_migrations` to exist."""
    known = {m.version: m for m in discover(directory, views)}
    rows = wh.query("SELECT version, name, sha256 FROM schema_migrations ORDER BY version")
    for version, name, sha in rows:
        mig = known.get(version)
        if mig is None or mig.name != name:
            raise MigrationChanged(
                f"warehouse {wh.path} has migration {version:03d}_{name}.sql applied, which "
                f"this capcover does not ship — open it with the capcover that migrated it"
            )
        if mig.sha256 != sha:
            raise MigrationChanged(_changed(wh, version, f"migrations/{mig.file}", sha))
    if VIEW_FILES_MIGRATION not in {v for v, *_ in rows}:
        return  # older warehouses: no migration read a view file
    for version, file, sha in wh.query(
        "SELECT version, file, sha256 FROM schema_view_files ORDER BY version, file"
    ):
        try:
            current = read_view(file, views).sha256
        except MigrationFileError:
            current = None
        if current != sha:
            read_by = f", read by migration {known[version].file},"
            raise MigrationChanged(_changed(wh, version, f"views/{file}{read_by}", sha))


def _changed(wh: Warehouse, version: int, what: str, sha: str) -> str:
    applied_at = wh.scalar("SELECT applied_at FROM schema_migrations WHERE version = ?", [version])
    when = f" on {applied_at:%Y-%m-%d}" if applied_at else ""
    return (
        f"warehouse/{what} is not the file applied to warehouse {wh.path}{when} (sha256 "
        f"{sha[:12]}… recorded) — applied migrations and view files never change: restore "
        f"it, and put a change in a new migration"
    )


def apply_migrations(
    wh: Warehouse, directory: Path = MIGRATIONS_DIR, views: Path = VIEWS_DIR
) -> list[Migration]:
    """Apply every migration not yet recorded in `schema_migrations`; return those applied.
    Each runs in its own transaction with its record (and its view files' records)."""
    wh.con.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        " version INTEGER PRIMARY KEY, name VARCHAR NOT NULL, sha256 VARCHAR NOT NULL,"
        " applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
    )
    applied = {v for (v,) in wh.query("SELECT version FROM schema_migrations")}
    done = []
    for mig in discover(directory, views):
        if mig.version in applied:
            continue
        if mig.views and VIEW_FILES_MIGRATION not in applied:
            raise MigrationFileError(
                f"migration {mig.file} reads view files, so it must come after "
                f"{VIEW_FILES_MIGRATION:03d} (which records them)"
            )
        with wh.transaction():
            wh.con.execute(mig.script)
            # capcover's own bookkeeping (file names and digests of the code, never outside
            # text) goes in exactly as it is: through the connection, not Warehouse.query,
            # whose secret scrubbing once rewrote a file name that a key's form happened to
            # match, and every later open refused the file as a changed migration.
            wh.con.execute(
                "INSERT INTO schema_migrations (version, name, sha256) VALUES (?, ?, ?)",
                [mig.version, mig.name, mig.sha256],
            )
            for view in dict.fromkeys(mig.views):
                wh.con.execute(
                    "INSERT INTO schema_view_files (version, file, sha256) VALUES (?, ?, ?)",
                    [mig.version, view.file, view.sha256],
                )
        applied.add(mig.version)
        done.append(mig)
    return done
