"""SIGKILL a real `capcover run` at several points: the warehouse opens, holds no partial run,
and the next run succeeds.

Kill points are found by watching the run, not by guessing times: the fake server's request log
says how far fetching got, and the DuckDB write-ahead log appearing says the load transaction is
committing. With no Prefect API configured (a fresh PREFECT_HOME), each `capcover run` is the
in-process sequence: no Prefect server is involved.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from capcover.config.settings import load_settings
from capcover.fakeapi import Slow
from capcover.fakeapi.coingecko import CoinGecko
from capcover.flows.sequence import run_daily
from capcover.warehouse.db import open_warehouse
from tests.conftest import category_payload, coin, table_snapshot

ROOT = Path(__file__).resolve().parent.parent
N_COINS = 5000  # 20 full pages, so parsing and the load take measurable time
DAY2 = "2024-04-04"

pytestmark = pytest.mark.slow


@pytest.fixture
def big(env, monkeypatch):
    server = CoinGecko.reference()
    coins = [coin(i, 1e8 / i) for i in range(1, N_COINS + 1)]
    server.pages = [coins[i : i + 250] for i in range(0, N_COINS, 250)]
    monkeypatch.setenv("CAPCOVER_COINGECKO_BASE_URL", server.base_url)
    yield server
    server.close()


def _wait_for(condition: Callable[[], bool], proc: subprocess.Popen, timeout: float = 120) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        if proc.poll() is not None:
            return False
        time.sleep(0.001)
    raise AssertionError("kill point never reached")


def _day_rows(db: str, day: str) -> dict[str, int]:
    with open_warehouse(db, read_only=True) as wh:
        return {
            t: wh.scalar(f"SELECT count(*) FROM {t} WHERE {c} = ?", [day])  # noqa: S608
            for t, c in (
                ("category_snapshots", "as_of_date"),
                ("coin_snapshots", "as_of_date"),
                ("report_daily", "report_date"),
            )
        }


def _assert_whole(db: str, before: dict, ok_runs_before: int) -> str:
    """The warehouse opens (read-write, so a WAL is replayed) and holds all of a run or none."""
    with open_warehouse(db, lock_budget_s=10) as wh:
        ok = wh.query(
            "SELECT run_id, reports_written, quarantined FROM runs "
            "WHERE status = 'ok' ORDER BY started_at"
        )
    after = table_snapshot(db)
    if len(ok) == ok_runs_before:
        assert after == before, "a killed run left rows behind"
        return "before"
    assert len(ok) == ok_runs_before + 1
    run_id, reports_written, quarantined = ok[-1]
    rows = _day_rows(db, DAY2)
    assert rows == {
        "category_snapshots": 1,
        "coin_snapshots": N_COINS,
        "report_daily": reports_written,
    }
    with open_warehouse(db, read_only=True) as wh:
        assert (
            wh.scalar("SELECT count(*) FROM quarantine WHERE run_id = ?", [run_id]) == quarantined
        )
        assert (
            wh.scalar(
                "SELECT count(*) FROM raw_http WHERE run_id = ? AND endpoint = '/coins/markets'",
                [run_id],
            )
            == N_COINS // 250 + 1
        )
    for table in ("category_snapshots", "coin_snapshots"):  # the day before is untouched
        assert [r for r in after[table] if str(r[0]) != DAY2] == [
            r for r in before[table] if str(r[0]) != DAY2
        ]
    return "complete"


def test_crash_sigkill_at_any_point_leaves_no_partial_run(big, env, settings, tmp_path):
    # The state a crash must fall back to: one complete earlier day.
    big.categories = category_payload(cap=24e9, updated_at="2024-04-03T06:00:00Z")
    run_daily(load_settings())
    big.categories = category_payload(cap=30e9, updated_at=f"{DAY2}T06:00:00Z")
    db = str(settings.db)
    wal = Path(db + ".wal")
    last_page = str(N_COINS // 250 + 1)  # the short page that ends paging

    def fetched(page: str) -> Callable[[], bool]:
        return lambda: any(
            r.query.get("page") == page for r in list(big.log) if r.path == "/api/v3/coins/markets"
        )

    kill_points: list[tuple[str, Callable[[], bool], float]] = [
        ("while fetching (slow page 5)", fetched("5"), 0.0),
        ("as the load commits (WAL appears)", wal.exists, 0.0),
        ("parsing, 0.3 s after the last page", fetched(last_page), 0.3),
        ("1.5 s after the last page", fetched(last_page), 1.5),
        ("3 s after the last page", fetched(last_page), 3.0),
    ]
    outcomes = {}
    run_env = {
        **env,
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "PREFECT_HOME": str(tmp_path / "prefect"),
        "CAPCOVER_COINGECKO_BASE_URL": big.base_url,
        "CAPCOVER_LOCK_BUDGET_S": "10",
    }
    for name, reached, delay in kill_points:
        with open_warehouse(db, read_only=True) as wh:
            ok_before = wh.scalar("SELECT count(*) FROM runs WHERE status = 'ok'")
        before = table_snapshot(db)
        big.clear_log()
        if "slow" in name:
            big.script("/coins/markets", Slow(60), page=5)
        proc = subprocess.Popen(
            [sys.executable, "-m", "capcover", "run"],
            cwd=ROOT,
            env=run_env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            _wait_for(reached, proc)
            time.sleep(delay)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)  # the run (and anything it started)
            proc.wait(timeout=30)
        outcomes[name] = _assert_whole(db, before, ok_before)
    assert outcomes["while fetching (slow page 5)"] == "before"

    # The next run succeeds and lands completely.
    big.clear_log()
    result = run_daily(load_settings())
    assert result.as_of_date.isoformat() == DAY2
    assert _day_rows(db, DAY2)["coin_snapshots"] == N_COINS
    print(outcomes)  # which kills fell before or after the commit (shown with -s)
