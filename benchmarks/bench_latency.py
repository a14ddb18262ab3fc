"""Part 4 — command latency: every read-only command (`sql`, `report`, `alerts`, `status`,
`quotes list`, `explain`) as a fresh process against a bare `python -c "import duckdb; …"`
process running that command's main query on the same file.

Each figure is the median of >= 3 runs with the min beside it (both sides), every run a new
process (imports included, as a user feels it); the commands and their baselines are
interleaved so a busy neighbour on the machine slows both alike. CPU time (user + system of the
child) is in `extra` too: on a shared machine it is steadier than wall time.

Both sides start from compiled bytecode, as an installed package does (pip compiles on
install): capcover's own modules are byte-compiled first, because with PYTHONDONTWRITEBYTECODE
set (clean_env does) a checkout without fresh .pyc files would recompile every module in every
timed process, which no user pays and which the bare process (site-packages only) never pays."""

from __future__ import annotations

import compileall
import io
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import Figure, Samples, capcover_settings, clean_env
from capcover.fakeapi.coingecko import CoinGecko

BARE = (
    "import duckdb, sys; con = duckdb.connect(sys.argv[1], read_only=True); "
    "rows = con.execute(sys.argv[2]).fetchall(); print(rows)"
)
REPORT_SQL = (
    "SELECT report_date, scenario, sector_market_cap_usd, gpu_count, gpu_sku, "
    "unit_price_usd, buildout_cost_usd, coverage_ratio FROM report_daily "
    "WHERE report_date = (SELECT max(report_date) FROM report_daily) ORDER BY scenario"
)
# (command, its main query for the bare process); each command must exit 0 on the warehouse
# build_warehouse makes. `explain` runs five queries (each why-it-moved view once, for every
# scenario) where its baseline runs one: most of its gap is that work, not start-up.
COMMANDS = (
    (["sql", "select 1"], "select 1"),
    (["report"], REPORT_SQL),
    (
        ["alerts"],
        "SELECT * FROM alerts a LEFT JOIN alert_deliveries d USING (alert_id) "
        "ORDER BY a.report_date DESC",
    ),
    (["status"], "SELECT * FROM runs ORDER BY started_at DESC LIMIT 10"),
    (["quotes", "list"], "SELECT * FROM gpu_quotes ORDER BY observed_at DESC"),
    (
        ["explain"],
        "SELECT * FROM v_ratio_moves "
        "WHERE report_date = (SELECT max(report_date) FROM v_ratio_moves)",
    ),
)


ROOT = Path(__file__).resolve().parent.parent
# capcover's packages: what `python -m capcover` imports from this checkout.
PACKAGES = ("cli", "config", "flows", "ingest", "model", "notify", "report", "warehouse")


def capcover_cmd() -> list[str]:
    """`python -m capcover` from this checkout's root: the code being benchmarked, whichever tree
    the installed `capcover` script points at (the script costs the same imports)."""
    return [sys.executable, "-m", "capcover"]


def capcover_exe() -> str:
    """The installed `capcover` script (bench_overhead and bench_scale time it)."""
    exe = Path(sys.executable).parent / "capcover"
    return str(exe) if exe.exists() else "capcover"


def cmd_samples(argv: list[str], env: dict[str, str], repeat: int) -> Samples:
    """Wall seconds of `repeat` fresh processes, after one warm-up run."""
    timed_process(argv, env)
    return Samples(tuple(timed_process(argv, env)[0] for _ in range(max(1, repeat))))


def median_cmd(argv: list[str], env: dict[str, str], repeat: int) -> float:
    """Median wall seconds of `repeat` fresh processes, after one warm-up run."""
    return cmd_samples(argv, env, repeat).median


def build_warehouse(db: Path) -> None:
    """One real daily run and a 3-day backfill against the fake API, so every command has
    rows to show (`explain` needs a previous report day)."""
    from rich.console import Console

    from capcover.flows.backfill import run_backfill
    from capcover.flows.sequence import run_daily

    with CoinGecko.generated({"artificial-intelligence": 260}) as fake:
        run_daily(capcover_settings(fake, db))
        run_backfill(capcover_settings(fake, db), 3, console=Console(file=io.StringIO()))


def compile_sources() -> None:
    """Byte-compile capcover's packages in this checkout (a no-op where the .pyc files are
    fresh), so each timed process loads bytecode like an installed capcover."""
    for package in PACKAGES:
        if not compileall.compile_dir(ROOT / package, quiet=1):
            raise RuntimeError(f"byte-compiling {package}/ failed")


def timed_process(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one process; raises with its stderr if it failed."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(
        argv, env=env, cwd=ROOT, capture_output=True, text=True, timeout=300, check=False
    )
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        raise RuntimeError(f"{' '.join(argv[:3])}… exited {proc.returncode}: {' | '.join(tail)}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def _stats(samples: list[tuple[float, float]]) -> dict[str, float]:
    walls, cpus = [w for w, _ in samples], [c for _, c in samples]
    return {
        "min": min(walls),
        "median": statistics.median(walls),
        "cpu_min": min(cpus),
        "cpu_median": statistics.median(cpus),
    }


def run(repeat: int = 7, db: Path | None = None) -> list[Figure]:
    repeat = max(3, repeat)  # min and median of at least 3, whatever the caller asks
    with tempfile.TemporaryDirectory(prefix="capcover-bench-latency-") as tmp:
        if db is None:
            db = Path(tmp) / "capcover.duckdb"
            build_warehouse(db)
        env = clean_env(CAPCOVER_DB=str(db))
        compile_sources()
        py = sys.executable
        pairs = [([*capcover_cmd(), *cmd], [py, "-c", BARE, str(db), sql]) for cmd, sql in COMMANDS]
        startup = [py, "-c", "pass"]
        for argv in [a for pair in pairs for a in pair]:
            timed_process(argv, env)  # warm the OS file cache once; every timed run is new
        samples: dict[int, list] = {i: [] for i in range(2 * len(pairs) + 1)}
        for _ in range(repeat):
            for i, (cc, bare) in enumerate(pairs):
                samples[2 * i].append(timed_process(cc, env))
                samples[2 * i + 1].append(timed_process(bare, env))
            samples[2 * len(pairs)].append(timed_process(startup, env))
    py_only = _stats(samples[2 * len(pairs)])
    figures = []
    for i, (cmd, _sql) in enumerate(COMMANDS):
        cc, bare = _stats(samples[2 * i]), _stats(samples[2 * i + 1])
        figures.append(
            Figure(
                "latency",
                f"capcover {' '.join(cmd)} (new process)",
                round(cc["median"], 4),
                "s",
                f'python -c "import duckdb; …" {"same query" if i == 0 else "its main query"}',
                round(bare["median"], 4),
                value_min=round(cc["min"], 4),
                baseline_min=round(bare["min"], 4),
                repeat=repeat,
                # min and median of both sides are the table's own columns; CPU beside them.
                note=(
                    f"CPU (user + system) {cc['cpu_median'] / bare['cpu_median']:.2f}x by median"
                    + ("; five queries (each view once) vs one" if cmd == ["explain"] else "")
                ),
                extra={
                    "cpu_s": round(cc["cpu_median"], 4),
                    "baseline_cpu_s": round(bare["cpu_median"], 4),
                    "cpu_ratio": round(cc["cpu_median"] / bare["cpu_median"], 4),
                    "cpu_min_s": round(cc["cpu_min"], 4),
                    "baseline_cpu_min_s": round(bare["cpu_min"], 4),
                    "python_startup_s": round(py_only["min"], 4),
                },
            )
        )
    return figures


if __name__ == "__main__":  # `python -m benchmarks.bench_latency`: the table alone
    for f in run(int(os.environ.get("REPEAT", "5"))):
        e = f.extra
        print(
            f"{f.name:40s} median {f.value:.3f}s vs {f.baseline_value:.3f}s {f.ratio:.2f}x  "
            f"min {f.value_min:.3f}s vs {f.baseline_min:.3f}s {f.ratio_min:.2f}x  "
            f"cpu {e['cpu_ratio']:.2f}x"
        )
