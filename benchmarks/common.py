"""Shared helpers: timing, the machine description, and the result record every part returns."""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # annotations only: importing settings stays inside the benchmark parts
    from capcover.config.settings import Settings
    from capcover.fakeapi.coingecko import CoinGecko

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results"


@dataclass
class Figure:
    """One benchmark figure: capcover's value next to a baseline measured in the same run.

    `ratio` is always value / baseline_value, so for times and call counts 1.0 is parity and
    lower is better; for throughputs (rows/s) higher is better. `better` says which.
    """

    part: str
    name: str
    value: float
    unit: str
    baseline: str
    baseline_value: float
    better: str = "lower"  # "lower" or "higher"
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    # Repeated figures: `value` / `baseline_value` are the medians, these the minimums (None:
    # a single measurement or an exact count) and `repeat` how many runs each side had.
    value_min: float | None = None
    baseline_min: float | None = None
    repeat: int = 1
    # The machine's 1-minute load average when the figure's part started and ended (set by
    # benchmarks/run.py): other work on the machine slows both sides, but not always alike.
    load: str = ""

    @property
    def ratio(self) -> float | None:
        """value / baseline_value; 1.0 when both are 0 (e.g. no 429s on either side), None
        when only the baseline is 0."""
        if self.baseline_value:
            return self.value / self.baseline_value
        return 1.0 if self.value == 0 else None

    @property
    def ratio_min(self) -> float | None:
        """value_min / baseline_min (the best run of each side), None if either is missing."""
        if self.value_min is None or not self.baseline_min:
            return None
        return self.value_min / self.baseline_min

    def as_dict(self) -> dict[str, Any]:
        ratio, ratio_min = self.ratio, self.ratio_min
        return {
            **asdict(self),
            "ratio": None if ratio is None else round(ratio, 4),
            "ratio_min": None if ratio_min is None else round(ratio_min, 4),
        }


@dataclass(frozen=True)
class Samples:
    """Repeated measurements of one quantity (seconds, rows/s, counts)."""

    values: tuple[float, ...]

    @property
    def min(self) -> float:
        return min(self.values)

    @property
    def median(self) -> float:
        return statistics.median(self.values)

    @property
    def max(self) -> float:
        return max(self.values)


def repeated(fn: Callable[[], float], repeat: int) -> Samples:
    """`fn` (returning one measurement) called `repeat` times (at least once)."""
    return Samples(tuple(fn() for _ in range(max(1, repeat))))


def figure_from(
    part: str,
    name: str,
    value: Samples,
    unit: str,
    baseline: str,
    baseline_value: Samples,
    *,
    digits: int = 3,
    **kw: Any,
) -> Figure:
    """A Figure whose value and baseline are medians, with their minimums beside them."""
    return Figure(
        part,
        name,
        round(value.median, digits),
        unit,
        baseline,
        round(baseline_value.median, digits),
        value_min=round(value.min, digits),
        baseline_min=round(baseline_value.min, digits),
        repeat=max(len(value.values), len(baseline_value.values)),
        **kw,
    )


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    """(seconds, result) of one call."""
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def median_time(fn: Callable[[], Any], repeat: int) -> float:
    return statistics.median(timed(fn)[0] for _ in range(max(1, repeat)))


def run_cmd(
    argv: list[str],
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = 300,
) -> float:
    """Seconds one subprocess took; raises with its stderr if it failed."""
    t0 = time.perf_counter()
    proc = subprocess.run(
        argv, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False
    )
    took = time.perf_counter() - t0
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        raise RuntimeError(f"{' '.join(argv[:3])}… exited {proc.returncode}: {' | '.join(tail)}")
    return took


def clean_env(**extra: str) -> dict[str, str]:
    """The current environment without any CAPCOVER_/PREFECT_ settings, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CAPCOVER_", "PREFECT_"))}
    env.update(
        {
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "DO_NOT_TRACK": "1",
            "PREFECT_LOGGING_LEVEL": "WARNING",
            "PYTHONDONTWRITEBYTECODE": "1",
        }
    )
    env.update(extra)
    return env


def _version(pkg: str) -> str | None:
    try:
        return metadata.version(pkg)
    except metadata.PackageNotFoundError:
        return None


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine() -> dict[str, Any]:
    mem = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem = round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "memory_gib": mem,
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "versions": {
            p: _version(p)
            for p in ("duckdb", "prefect", "pydantic", "requests", "dlt", "pyarrow", "matplotlib")
        },
        "executable": sys.executable,
    }


GPUHUNT_PREFIX = "/gpuhunt"


def serve_gpuhunt(fake: CoinGecko) -> list[str]:
    """The gpuhunt catalogs (fakeapi/gpuhunt.py, illustrative rows) on `fake` under
    GPUHUNT_PREFIX, once; returns their providers. Without them a benchmark's daily run would
    ask the real S3 bucket (unreachable offline) and spend minutes in retries."""
    from capcover.fakeapi import gpuhunt
    from capcover.fakeapi.faults import Reply

    if not getattr(fake, "_bench_gpuhunt", False):
        for path, (status, headers, body) in gpuhunt.routes().items():
            fake.add(
                GPUHUNT_PREFIX + path,
                Reply(raw=body, status=status, content_type=headers["Content-Type"]),
            )
        fake._bench_gpuhunt = True  # type: ignore[attr-defined]
    return list(gpuhunt.CATALOGS)


def fake_values(fake: CoinGecko, db: str | Path) -> dict[str, Any]:
    """capcover's settings (field names) pointing every source at `fake`, with no key, its
    categories, and the client's CoinGecko rate set to the fake's limit (else no cap)."""
    limit = fake.rate_limit
    providers = serve_gpuhunt(fake)
    return {
        "db": Path(db),
        "coingecko_base_url": fake.base_url,
        "coingecko_plan": "public",
        "coingecko_rate_per_minute": limit.rate_per_s * 60 if limit else 600_000,
        "vastai_base_url": fake.root_url,
        "vastai_rate_per_minute": 600_000,
        "runpod_base_url": fake.root_url,
        "runpod_rate_per_minute": 600_000,
        "gpuhunt_base_url": fake.root_url + GPUHUNT_PREFIX,
        "gpuhunt_providers": providers,
        "gpuhunt_rate_per_minute": 600_000,
        "categories": list(fake.coins),
        "http_retry_budget_s": 30,
        "lock_budget_s": 10,
    }


def capcover_settings(fake: CoinGecko, db: str | Path, **overrides: Any) -> Settings:
    """Settings for an in-process run against `fake`: `fake_values` and `overrides` over the
    built-in defaults; the environment and CAPCOVER_CONFIG are ignored (nothing is edited)."""
    from capcover.config.settings import load_settings

    return load_settings(environ=False, **{**fake_values(fake, db), **overrides})


def capcover_environ(fake: CoinGecko, db: str | Path) -> dict[str, str]:
    """The same settings as CAPCOVER_* variables, for a capcover subprocess's environment."""
    return {
        f"CAPCOVER_{k.upper()}": ",".join(v) if isinstance(v, list) else str(v)
        for k, v in fake_values(fake, db).items()
    }


# Runs argv[2:] and writes its peak resident memory (KiB) to the file argv[1]. A process starts
# with the peak of the one that forked it (Linux keeps the high-water mark across exec), so the
# command is forked from this small process, never from the benchmark's large one.
_PEAK = (
    "import os, sys; pid = os.fork()\n"
    "if pid == 0:\n    os.execvp(sys.argv[2], sys.argv[2:])\n"
    "_, status, usage = os.wait4(pid, 0)\n"
    "open(sys.argv[1], 'w').write(str(usage.ru_maxrss))\n"
    "sys.exit(os.waitstatus_to_exitcode(status))"
)


def run_measured(
    argv: list[str],
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = 600,
) -> tuple[float, float]:
    """(wall seconds, peak resident memory in MiB) of one new process running `argv`: the
    kernel's own accounting of the finished child; raises with its stderr if it failed. The
    wall time includes a small wrapper's start-up (about 20 ms), the same on every side."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        peak = Path(tmp) / "peak"
        t0 = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-c", _PEAK, str(peak), *argv],
            env=env,
            cwd=cwd,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            timeout=timeout,
            check=False,
        )
        took = time.perf_counter() - t0
        if proc.returncode != 0:
            tail = proc.stderr.decode(errors="replace").strip().splitlines()[-3:]
            raise RuntimeError(
                f"{' '.join(argv[:3])}… exited {proc.returncode}: {' | '.join(tail)}"
            )
        return took, int(peak.read_text()) / 1024  # Linux reports KiB
