"""A small migration runner: numbered SQL files applied in order, each in a transaction,
and recorded in `schema_migrations`."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
_NAME = re.compile(r"^(\d{3})_([a-z0-9_]+)\.sql$")


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def discover(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    found = []
    for path in sorted(directory.glob("*.sql")):
        m = _NAME.match(path.name)
        if not m:
            raise RuntimeError(f"migration file {path.name} must be named NNN_name.sql")
        found.append(Migration(int(m.group(1)), m.group(2), path.read_text(encoding="utf-8")))
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise RuntimeError(f"duplicate migration numbers in {directory}")
    return found


@cache
def latest_version(directory: Path = MIGRATIONS_DIR) -> int:
    """The highest migration number this code knows (a file with a higher one is newer),
    from the file names alone: every command that opens the warehouse asks, and reading the
    files is `discover`'s (and `apply_migrations`') job."""
    return max(
        (int(m.group(1)) for p in directory.glob("*.sql") if (m := _NAME.match(p.name))), default=0
    )


def apply_migrations(wh, directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    """Apply every migration not yet recorded in `schema_migrations`; return those applied."""
    wh.con.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        " version INTEGER PRIMARY KEY, name VARCHAR NOT NULL, sha256 VARCHAR NOT NULL,"
        " applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
    )
    applied = {v for (v,) in wh.query("SELECT version FROM schema_migrations")}
    done = []
    for mig in discover(directory):
        if mig.version in applied:
            continue
        with wh.transaction():
            wh.con.execute(mig.sql)
            wh.query(
                "INSERT INTO schema_migrations (version, name, sha256) VALUES (?, ?, ?)",
                [mig.version, mig.name, mig.sha256],
            )
        done.append(mig)
    return done
