"""Damaged and foreign warehouses: one line (what, where, what to do) on every command.

Every file here is a real warehouse written by a real daily run, then damaged the way disks
and people damage files: truncated at some offset, overwritten with garbage, replaced by a
non-DuckDB file, given a WAL that does not replay, or stamped by a newer capcover.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

import duckdb
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from capcover.cli.main import main
from capcover.flows.sequence import run_daily
from capcover.warehouse.db import WarehouseDamaged, WarehouseError, open_warehouse
from capcover.warehouse.migrate import latest_version

# Every command that opens the warehouse. `run --dry-run` opens it for writing exactly as
# `run` does (store_and_publish), without starting a Prefect server for each case.
COMMANDS = [
    ["report"],
    ["report", "--html", "{tmp}/r.html"],
    ["sql", "SELECT count(*) AS n FROM report_daily"],
    ["status"],
    ["alerts"],
    ["quotes", "list"],
    ["run", "--dry-run"],
    ["rebuild"],
]


@pytest.fixture(scope="module")
def _pristine_store(tmp_path_factory) -> dict:
    return {"dir": tmp_path_factory.mktemp("pristine")}


@pytest.fixture
def pristine(fake_cg, settings, _pristine_store) -> Path:
    """A real warehouse from one daily run (made once per module), kept aside; tests damage
    copies of it."""
    keep = _pristine_store["dir"] / "pristine.duckdb"
    if not keep.exists():
        run_daily(settings)
        shutil.copy(settings.db, keep)
        settings.db.unlink()
    return keep


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else "absent"


@pytest.fixture(autouse=True)
def _served(fake_cg, fake_feeds):
    """`run` fetches before it opens the warehouse: give it something to fetch."""
    fake_cg.serve()


def _run(args: list[str], tmp: Path, capsys) -> tuple[int, str, str]:
    code = main([a.format(tmp=tmp) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def _assert_one_line_refusal(code: int, out: str, err: str, db: Path, *words: str) -> None:
    assert code == 1
    assert "Traceback" not in err and err.count("\n") == 1, err
    assert err.startswith("capcover: error: ") and str(db) in err, err
    for word in words:
        assert word in err, err
    assert "rows" not in out and "report_daily" not in out  # no rows printed


def _truncate(src: Path, dst: Path, size: int) -> None:
    shutil.copy(src, dst)
    os.truncate(dst, size)


@pytest.mark.parametrize("fraction", [0.0, 0.01, 0.1, 0.5, 0.999])
@pytest.mark.parametrize("args", COMMANDS, ids=lambda a: " ".join(a[:2]))
def test_warehouse_integrity_truncated_file_is_one_line_on_every_command(
    pristine, settings, tmp_path, capsys, args, fraction
):
    size = int(pristine.stat().st_size * fraction)
    _truncate(pristine, settings.db, size)
    before = _digest(settings.db)

    code, out, err = _run(args, tmp_path, capsys)

    _assert_one_line_refusal(
        code,
        out,
        err,
        settings.db,
        "damaged or not a DuckDB warehouse",
        "CAPCOVER_DB",
        "capcover backfill",
    )
    assert _digest(settings.db) == before  # nothing wrote to it, not even a migration


@hsettings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_warehouse_integrity_truncation_at_any_offset_never_gives_rows(
    pristine, settings, tmp_path, capsys, data
):
    size = data.draw(st.integers(0, pristine.stat().st_size - 1), label="offset")
    _truncate(pristine, settings.db, size)

    code, out, err = _run(
        ["sql", "SELECT * FROM report_daily", "--format", "csv"], tmp_path, capsys
    )

    _assert_one_line_refusal(code, out, err, settings.db, "damaged")


@pytest.mark.parametrize(
    "content",
    [
        pytest.param(lambda: os.urandom(300_000), id="random-bytes"),
        pytest.param(lambda: b"report_date,scenario\n2024-04-03,x\n", id="a-csv-file"),
        pytest.param(lambda: b"", id="empty-file"),
        pytest.param(lambda: b"SQLite format 3\x00" + bytes(4080), id="sqlite-header"),
    ],
)
@pytest.mark.parametrize("args", COMMANDS, ids=lambda a: " ".join(a[:2]))
def test_warehouse_integrity_non_duckdb_file_is_one_line_on_every_command(
    settings, tmp_path, capsys, args, content
):
    settings.db.write_bytes(content())
    before = _digest(settings.db)

    code, out, err = _run(args, tmp_path, capsys)

    _assert_one_line_refusal(code, out, err, settings.db, "damaged")
    assert _digest(settings.db) == before


def _wal_that_does_not_replay(pristine: Path, db: Path) -> None:
    """A real WAL (a write not yet checkpointed), copied while its writer is open, then with
    bytes flipped so its checksums fail."""
    work = db.with_name("walsrc.duckdb")
    shutil.copy(pristine, work)
    con = duckdb.connect(str(work), config={"checkpoint_threshold": "1TB"})
    con.execute("UPDATE report_daily SET coverage_ratio = coverage_ratio * 2")
    con.execute("CREATE TABLE filler AS SELECT range AS x FROM range(50000)")
    shutil.copy(work, db)
    wal = bytearray(Path(f"{work}.wal").read_bytes())
    con.close()
    for i in range(200, len(wal), 997):
        wal[i] ^= 0xFF
    Path(f"{db}.wal").write_bytes(bytes(wal))


@pytest.mark.parametrize("args", COMMANDS, ids=lambda a: " ".join(a[:2]))
def test_warehouse_integrity_wal_that_does_not_replay_is_one_line_on_every_command(
    pristine, settings, tmp_path, capsys, args
):
    _wal_that_does_not_replay(pristine, settings.db)

    code, out, err = _run(args, tmp_path, capsys)

    _assert_one_line_refusal(code, out, err, settings.db, "damaged", "WAL")


def test_warehouse_integrity_garbage_inside_a_data_block_fails_when_read(
    pristine, settings, tmp_path, capsys
):
    shutil.copy(pristine, settings.db)
    with open(settings.db, "r+b") as f:  # every data block after the three headers
        size = settings.db.stat().st_size
        f.seek(3 * 4096)
        f.write(os.urandom(size - 3 * 4096))

    code, out, err = _run(["sql", "SELECT * FROM raw_http"], tmp_path, capsys)

    _assert_one_line_refusal(code, out, err, settings.db, "damaged")


def test_warehouse_integrity_open_raises_the_damaged_type(pristine, tmp_path):
    db = tmp_path / "cut.duckdb"
    _truncate(pristine, db, pristine.stat().st_size // 2)
    for read_only in (True, False):
        with pytest.raises(WarehouseDamaged, match="is damaged"):
            open_warehouse(db, read_only=read_only)


# -- a warehouse from a newer capcover -------------------------------------------------------


@pytest.fixture
def from_the_future(pristine, settings) -> int:
    shutil.copy(pristine, settings.db)
    newer = latest_version() + 1
    con = duckdb.connect(str(settings.db))
    con.execute(
        "INSERT INTO schema_migrations (version, name, sha256) VALUES (?, 'later', 'x')", [newer]
    )
    con.close()
    return newer


@pytest.mark.parametrize("args", COMMANDS, ids=lambda a: " ".join(a[:2]))
def test_warehouse_integrity_newer_schema_is_refused_on_every_command(
    from_the_future, settings, tmp_path, capsys, args
):
    before = _digest(settings.db)

    code, out, err = _run(args, tmp_path, capsys)

    _assert_one_line_refusal(
        code, out, err, settings.db, f"schema version {from_the_future}", "upgrade capcover"
    )
    assert _digest(settings.db) == before


def test_warehouse_integrity_newer_schema_is_refused_for_reading_and_writing(
    from_the_future, settings
):
    for read_only in (True, False):
        with pytest.raises(WarehouseError, match="newer than this capcover knows"):
            open_warehouse(settings.db, read_only=read_only)
