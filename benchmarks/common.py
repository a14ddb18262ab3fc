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
from typing import Any

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

    @property
    def ratio(self) -> float | None:
        """value / baseline_value; 1.0 when both are 0 (e.g. no 429s on either side), None
        when only the baseline is 0."""
        if self.baseline_value:
            return self.value / self.baseline_value
        return 1.0 if self.value == 0 else None

    def as_dict(self) -> dict[str, Any]:
        ratio = self.ratio
        return {**asdict(self), "ratio": None if ratio is None else round(ratio, 4)}


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    """(seconds, result) of one call."""
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def median_time(fn: Callable[[], Any], repeat: int) -> float:
    return statistics.median(timed(fn)[0] for _ in range(max(1, repeat)))


def run_cmd(argv: list[str], env: dict[str, str] | None = None, cwd: Path | None = None,
            timeout: float = 300) -> float:
    """Seconds one subprocess took; raises with its stderr if it failed."""
    t0 = time.perf_counter()
    proc = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, check=False)
    took = time.perf_counter() - t0
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        raise RuntimeError(f"{' '.join(argv[:3])}… exited {proc.returncode}: {' | '.join(tail)}")
    return took


def clean_env(**extra: str) -> dict[str, str]:
    """The current environment without any CAPCOVER_/PREFECT_ settings, plus `extra`."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("CAPCOVER_", "PREFECT_"))}
    env.update({"PREFECT_SERVER_ANALYTICS_ENABLED": "false", "DO_NOT_TRACK": "1",
                "PREFECT_LOGGING_LEVEL": "WARNING", "PYTHONDONTWRITEBYTECODE": "1"})
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
        "versions": {p: _version(p) for p in
                     ("duckdb", "prefect", "pydantic", "requests", "dlt", "pyarrow",
                      "matplotlib")},
        "executable": sys.executable,
    }


class capcover_env:  # noqa: N801 - used as a context manager, reads like one
    """Run capcover in-process with exactly these CAPCOVER_* settings (others removed)."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.saved: dict[str, str] = {}

    def __enter__(self) -> None:
        self.saved = {k: v for k, v in os.environ.items() if k.startswith("CAPCOVER_")}
        for k in self.saved:
            del os.environ[k]
        os.environ.update(self.env)

    def __exit__(self, *exc: object) -> None:
        for k in [k for k in os.environ if k.startswith("CAPCOVER_")]:
            del os.environ[k]
        os.environ.update(self.saved)
