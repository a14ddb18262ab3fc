"""Writer and readers side by side: a second PROCESS holds the warehouse while capcover runs.

DuckDB lets one process write and locks every other process out while it does; a reader's
read-only connection likewise locks a writer out. capcover waits (bounded, with backoff) and
then fails with one line naming the holder's PID.
"""

from __future__ import annotations

import logging
import subprocess
import sys
import textwrap

import pytest

from capcover.cli.main import main
from capcover.config.settings import load_settings
from capcover.flows.sequence import run_daily
from capcover.warehouse.db import WarehouseError, open_warehouse
from tests.conftest import table_snapshot

HOLD = textwrap.dedent("""
    import sys, time, duckdb
    path, read_only, seconds = sys.argv[1], sys.argv[2] == "ro", float(sys.argv[3])
    con = duckdb.connect(path, read_only=read_only)
    con.execute("SELECT count(*) FROM runs").fetchall()
    print("holding", flush=True)
    time.sleep(seconds)
    con.close()
    print("released", flush=True)
    time.sleep(600 if seconds >= 600 else 0)
""")


@pytest.fixture
def holder():
    """Start a process holding the warehouse (`ro` or `rw`) for N seconds; always stopped."""
    procs = []

    def start(path, mode: str, seconds: float) -> subprocess.Popen:
        proc = subprocess.Popen(
            [sys.executable, "-c", HOLD, str(path), mode, str(seconds)],
            stdout=subprocess.PIPE,
            text=True,
        )
        procs.append(proc)
        assert proc.stdout.readline().strip() == "holding"
        return proc

    yield start
    for proc in procs:
        proc.kill()
        proc.wait(timeout=10)


def _first_run(fake_cg, settings):
    fake_cg.serve()
    return run_daily(settings)


def test_locking_run_waits_for_a_reader_process_then_succeeds(fake_cg, env, holder, monkeypatch):
    monkeypatch.setenv("CAPCOVER_LOCK_BUDGET_S", "30")
    settings = load_settings()
    _first_run(fake_cg, settings)
    reader = holder(settings.db, "ro", 2.0)
    with pytest.raises(WarehouseError):  # the lock is really held right now
        open_warehouse(settings.db, lock_budget_s=0)

    result = run_daily(settings)

    assert reader.stdout.readline().strip() == "released"
    with open_warehouse(settings.db, read_only=True) as wh:
        assert wh.scalar("SELECT status FROM runs WHERE run_id = ?", [result.run_id]) == "ok"
        assert wh.scalar("SELECT count(*) FROM runs WHERE status = 'ok'") == 2


def test_locking_run_fails_naming_the_reader_pid_and_changes_nothing(
    fake_cg, env, holder, monkeypatch
):
    settings = load_settings()
    _first_run(fake_cg, settings)
    before = table_snapshot(str(settings.db))
    monkeypatch.setenv("CAPCOVER_LOCK_BUDGET_S", "1")
    reader = holder(settings.db, "ro", 600)

    with pytest.raises(WarehouseError) as err:
        run_daily(load_settings())

    message = str(err.value)
    assert "\n" not in message
    assert f"locked by PID {reader.pid} (python" in message
    assert "waited 1 s" in message and "CAPCOVER_LOCK_BUDGET_S" in message
    reader.kill()
    reader.wait(timeout=10)
    assert table_snapshot(str(settings.db)) == before


def test_locking_read_only_command_waits_for_a_writer_process(
    fake_cg, env, holder, monkeypatch, capsys
):
    monkeypatch.setenv("CAPCOVER_LOCK_BUDGET_S", "30")
    settings = load_settings()
    _first_run(fake_cg, settings)
    writer = holder(settings.db, "rw", 1.5)

    assert main(["sql", "SELECT count(*) AS n FROM runs", "--format", "csv"]) == 0

    assert writer.stdout.readline().strip() == "released"
    assert capsys.readouterr().out.splitlines() == ["n", "1"]
    # ... and released at once: a writer can open right after.
    with open_warehouse(settings.db, lock_budget_s=0):
        pass


def test_locking_read_only_command_fails_naming_the_writer_pid(fake_cg, env, holder, capsys):
    settings = load_settings()
    _first_run(fake_cg, settings)
    writer = holder(settings.db, "rw", 600)

    assert main(["report"]) == 1

    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0
    assert f"locked by PID {writer.pid}" in err and err.startswith("capcover: error: warehouse")
    assert "read_only=True" not in err  # it already opened read-only


def test_locking_wait_never_sleeps_past_the_budget(tmp_path, holder):
    from capcover.warehouse.db import WarehouseLocked, _connect_within

    db = tmp_path / "w.duckdb"
    open_warehouse(db).close()
    holder(db, "rw", 600)
    now = [0.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:  # a clock that moves only when we sleep
        slept.append(seconds)
        now[0] += seconds

    with pytest.raises(WarehouseLocked, match="waited 7.5 s"):
        _connect_within(db, True, 7.5, clock=lambda: now[0], sleep=sleep)

    assert sum(slept) == pytest.approx(7.5)  # the whole budget, and not a moment more
    assert all(s > 0 for s in slept) and max(slept) <= 1.0


def test_locking_failed_run_records_its_failure_without_a_second_wait(
    fake_cg, env, holder, monkeypatch
):
    settings = load_settings()
    _first_run(fake_cg, settings)
    monkeypatch.setenv("CAPCOVER_LOCK_BUDGET_S", "1")
    holder(settings.db, "ro", 600)
    # Read capcover's own logger directly: once Prefect has configured logging (an earlier
    # test in the same session), records need not propagate to pytest's root handler.
    seen: list[logging.LogRecord] = []
    # (a DEBUG record: the one line the command prints says it, red team O-10)
    catcher = logging.Handler(logging.DEBUG)
    catcher.emit = seen.append
    logger = logging.getLogger("capcover")
    level = logger.level
    logger.addHandler(catcher)
    logger.setLevel(logging.DEBUG)
    try:
        with pytest.raises(WarehouseError, match="waited 1 s"):
            run_daily(load_settings())
    finally:
        logger.removeHandler(catcher)
        logger.setLevel(level)

    # The failed run's record is tried once more at once, not after another full budget.
    notes = [r.getMessage() for r in seen if "could not record" in r.getMessage()]
    assert len(notes) == 1 and "waited 0 s" in notes[0]


def test_locking_reader_waiting_for_a_writer_is_not_told_to_open_read_only(tmp_path, holder):
    db = tmp_path / "w.duckdb"
    open_warehouse(db).close()
    holder(db, "rw", 600)

    with pytest.raises(WarehouseError) as err:
        open_warehouse(db, read_only=True, lock_budget_s=0)

    assert "read_only" not in str(err.value) and "read-only session" not in str(err.value)
    assert "it is being written" in str(err.value) and "retry when it finishes" in str(err.value)


def test_locking_writer_waiting_for_a_reader_is_told_the_reader_keeps_it_out(tmp_path, holder):
    db = tmp_path / "w.duckdb"
    open_warehouse(db).close()
    holder(db, "ro", 600)

    with pytest.raises(WarehouseError) as err:
        open_warehouse(db, lock_budget_s=0)

    assert "a read-only session keeps writers out too: close it" in str(err.value)
    assert "published Parquet snapshot" in str(err.value)


def test_locking_writer_waiting_for_a_writer_is_told_to_retry(tmp_path, holder):
    db = tmp_path / "w.duckdb"
    open_warehouse(db).close()
    holder(db, "rw", 600)

    with pytest.raises(WarehouseError) as err:
        open_warehouse(db, lock_budget_s=0)

    assert "another writer has it open: retry when it finishes" in str(err.value)


@pytest.mark.parametrize("why", ["locked", "damaged"])
def test_locking_a_run_that_cannot_record_its_failure_prints_one_line(
    fake_cg, env, holder, monkeypatch, capsys, tmp_path, why
):
    # Red team O-10: the failed run's record could not be written either; that used to be a
    # second stderr line. Now it is part of the one line, which says nothing changed at all.
    settings = load_settings()
    _first_run(fake_cg, settings)
    monkeypatch.setenv("CAPCOVER_LOCK_BUDGET_S", "1")
    if why == "locked":
        reader = holder(settings.db, "ro", 600)
    else:
        damaged = tmp_path / "damaged.duckdb"
        damaged.write_bytes(settings.db.read_bytes()[:4096])
        monkeypatch.setenv("CAPCOVER_DB", str(damaged))
    capsys.readouterr()

    code = main(["run"])
    err = capsys.readouterr().err

    assert code == 1 and err.count("\n") == 1, err
    assert err.startswith("capcover: error: run failed: ")
    if why == "locked":
        assert err.rstrip().endswith(
            "changed; its record could not be written either, for the same reason)"
        )
        reader.kill()
        reader.wait(timeout=10)
    else:
        assert "changed; its record could not be written either" in err
