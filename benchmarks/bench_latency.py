"""Part 4 — command latency: a fresh `capcover sql "select 1"` and `capcover report` process
against a bare `python -c "import duckdb; …"` process running the same query on the same file.
Medians of several runs; every run is a new process (imports included, as a user feels it)."""

from __future__ import annotations

import statistics
import sys
import tempfile
from pathlib import Path

from benchmarks.common import Figure, capcover_settings, clean_env, run_cmd
from fakeapi.coingecko import CoinGecko

BARE = ("import duckdb, sys; con = duckdb.connect(sys.argv[1], read_only=True); "
        "cols = None; rows = con.execute(sys.argv[2]).fetchall(); print(rows)")
REPORT_SQL = ("SELECT report_date, scenario, sector_market_cap_usd, gpu_count, gpu_sku, "
              "unit_price_usd, buildout_cost_usd, coverage_ratio FROM report_daily "
              "WHERE report_date = (SELECT max(report_date) FROM report_daily) ORDER BY scenario")


def capcover_exe() -> str:
    exe = Path(sys.executable).parent / "capcover"
    return str(exe) if exe.exists() else "capcover"


def build_warehouse(db: Path) -> None:
    """One real daily run against the fake API, so `report` has rows to show."""
    from flows.sequence import run_daily

    with CoinGecko.generated({"artificial-intelligence": 260}) as fake:
        run_daily(capcover_settings(fake, db))


def median_cmd(argv: list[str], env: dict[str, str], repeat: int) -> float:
    run_cmd(argv, env)  # warm the OS file cache once; every timed run is still a new process
    return statistics.median(run_cmd(argv, env) for _ in range(repeat))


def run(repeat: int = 7, db: Path | None = None) -> list[Figure]:
    with tempfile.TemporaryDirectory(prefix="capcover-bench-latency-") as tmp:
        if db is None:
            db = Path(tmp) / "capcover.duckdb"
            build_warehouse(db)
        env = clean_env(CAPCOVER_DB=str(db))
        py = sys.executable
        sql_cc = median_cmd([capcover_exe(), "sql", "select 1"], env, repeat)
        sql_bare = median_cmd([py, "-c", BARE, str(db), "select 1"], env, repeat)
        rep_cc = median_cmd([capcover_exe(), "report"], env, repeat)
        rep_bare = median_cmd([py, "-c", BARE, str(db), REPORT_SQL], env, repeat)
        py_only = median_cmd([py, "-c", "pass"], env, repeat)
    extra = {"repeat": repeat, "python_startup_s": round(py_only, 4)}
    return [
        Figure("latency", 'capcover sql "select 1" (new process)', round(sql_cc, 4), "s",
               'python -c "import duckdb; …select 1"', round(sql_bare, 4), extra=extra),
        Figure("latency", "capcover report (new process)", round(rep_cc, 4), "s",
               'python -c "import duckdb; …" same report query', round(rep_bare, 4),
               extra=extra),
    ]
