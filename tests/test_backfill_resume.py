"""A real `capcover backfill` process killed with SIGKILL mid-way resumes where it stopped:
finished coins are not fetched again and no coin is ever half-written."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from capcover.fakeapi.coingecko import CoinGecko
from capcover.warehouse.db import open_warehouse

ROOT = Path(__file__).resolve().parent.parent
DAYS = 30


def backfill_process(db: Path, server: CoinGecko) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAPCOVER_")}
    env.update(
        {
            "CAPCOVER_DB": str(db),
            "CAPCOVER_COINGECKO_BASE_URL": server.base_url,
            "CAPCOVER_COINGECKO_RATE_PER_MINUTE": "60000",
            "PYTHONPATH": str(ROOT),
        }
    )
    return subprocess.Popen(
        [sys.executable, "-m", "capcover", "backfill", "--days", str(DAYS)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def coin_state(db: Path) -> tuple[dict[str, str], dict[str, int]]:
    """(progress status per coin, history rows per coin)."""
    with open_warehouse(db, read_only=True) as wh:
        status = dict(wh.query("SELECT coin_id, status FROM backfill_progress"))
        rows = dict(wh.query("SELECT coin_id, count(*) FROM coin_history GROUP BY coin_id"))
    return status, rows


def until_charts_fetched(srv, proc, n: int) -> None:
    """Wait (at most a minute) until the backfill `proc` has asked `srv` for `n` charts."""
    deadline = time.monotonic() + 60
    while sum(srv.chart_requests().values()) < n:
        assert proc.poll() is None, proc.stderr.read()
        assert time.monotonic() < deadline, "backfill never got going"
        time.sleep(0.01)


@pytest.mark.slow
def test_backfill_resumes_after_sigkill_without_refetching_finished_coins(tmp_path):
    db = tmp_path / "capcover.duckdb"
    with CoinGecko.charts(n_coins=60, delay_s=0.04) as srv:
        proc = backfill_process(db, srv)
        until_charts_fetched(srv, proc, 25)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        before = srv.chart_requests()

        status, rows = coin_state(db)
        done_at_kill = {c for c, s in status.items() if s == "done"}
        assert 0 < len(done_at_kill) < 60
        # No half-written coin: history rows exist exactly for finished coins, all of them.
        assert set(rows) == done_at_kill
        assert set(rows.values()) == {DAYS}

        proc = backfill_process(db, srv)
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        assert "(resumed)" in out
        after = srv.chart_requests()

    for coin in done_at_kill:
        assert after[coin] == 1, f"{coin} was fetched again"
    assert set(after) == {f"ai-coin-{i:03d}" for i in range(1, 61)}
    # A coin fetched but not committed when killed is fetched once more, never more.
    assert max(after.values()) <= 2
    assert sum(after.values()) - sum(before.values()) == 60 - len(done_at_kill)
    status, rows = coin_state(db)
    assert set(status.values()) == {"done"} and set(rows.values()) == {DAYS} and len(rows) == 60


@pytest.mark.slow
def test_backfill_ctrl_c_keeps_fetched_coins_and_says_how_to_resume(tmp_path):
    db = tmp_path / "capcover.duckdb"
    with CoinGecko.charts(n_coins=60, delay_s=0.04) as srv:
        proc = backfill_process(db, srv)
        until_charts_fetched(srv, proc, 20)
        proc.send_signal(signal.SIGINT)
        _out, err = proc.communicate(timeout=60)
        fetched = set(srv.chart_requests())
    assert proc.returncode == 130
    # The hint names the command as it was invoked (`<python> -m capcover`), so it pastes.
    assert "interrupted" in err
    assert f"rerun `{sys.executable} -m capcover backfill --days 30` to resume" in err
    status, rows = coin_state(db)
    done = {c for c, s in status.items() if s == "done"}
    # Everything fetched before Ctrl-C was written (the last request may have been cut short).
    assert len(fetched) - 1 <= len(done) <= len(fetched)
    assert set(rows) == done and set(rows.values()) == {DAYS}
