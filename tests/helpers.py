"""Helpers the test modules share (the fixtures are in conftest.py): a fresh Python or `capcover`
process with its output captured (and capcover commands run in one, with what they imported),
the environment without some variables, a raw HTTP response as the archive holds it, a report
row built from the coverage model."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from capcover.ingest.models import RawResponse
from capcover.model.coverage import coverage
from capcover.model.report import ReportRow

ROOT = Path(__file__).resolve().parent.parent
PLAIN_PATH = "/usr/bin:/bin"  # a child's PATH without the venv: it runs what it is told to


def environ_without(*prefixes: str) -> dict[str, str]:
    """This process's environment without the variables whose names start with `prefixes`."""
    return {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}


def python(
    *args: str,
    env: Mapping[str, str],
    cwd: Path = ROOT,
    timeout: float = 180,
    check: bool = False,
) -> subprocess.CompletedProcess[str]:
    """`python *args` in a fresh interpreter (this venv's), stdout and stderr captured as
    text; `env` is the child's whole environment."""
    return subprocess.run(
        [sys.executable, *args],
        env=dict(env),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=check,
    )


def capcover(
    *argv: str, env: Mapping[str, str], cwd: Path = ROOT, timeout: float = 180
) -> subprocess.CompletedProcess[str]:
    """`capcover *argv` in a fresh process (`python -m capcover`, what the console script
    runs), output captured as text."""
    return python("-m", "capcover", *argv, env=env, cwd=cwd, timeout=timeout)


# Runs `main(argv)` for each argv given as JSON, then reports the exit codes and every module
# the interpreter loaded on a last line of stderr.
_PROBE = (
    "import json, sys\nfrom capcover.cli.main import main\n"
    "codes = [main(argv) for argv in json.loads(sys.argv[1])]\n"
    "print('\\n' + json.dumps({'codes': codes, 'modules': sorted(sys.modules)}), file=sys.stderr)\n"
)


@dataclass(frozen=True)
class Commands:
    """What `commands_in_fresh_process` saw: each command's exit code, the modules the process
    loaded, its output."""

    codes: list[int]
    modules: frozenset[str]
    stdout: str
    stderr: str

    def loaded(self, *packages: str) -> list[str]:
        """Those of `packages` (top-level names or dotted modules) the process imported."""
        tops = {m.split(".")[0] for m in self.modules}
        return sorted(p for p in packages if p in tops or p in self.modules)


def commands_in_fresh_process(
    *argvs: list[str], env: Mapping[str, str], cwd: Path = ROOT, timeout: float = 180
) -> Commands:
    """Run capcover commands (`main(argv)` each, in order) in one new interpreter: what a
    user's shell would load, without this test process's imports."""
    proc = python("-c", _PROBE, json.dumps(list(argvs)), env=env, cwd=cwd, timeout=timeout)
    *output, last = proc.stderr.rstrip("\n").split("\n")
    try:
        seen = json.loads(last)
    except ValueError:
        raise AssertionError(f"the process died: {proc.stderr[-3000:]}") from None
    return Commands(seen["codes"], frozenset(seen["modules"]), proc.stdout, "\n".join(output))


FETCHED = datetime(2024, 4, 3, 7, 0, tzinfo=UTC)


def raw_get(
    source: str,
    endpoint: str,
    body: str,
    *,
    params: dict[str, Any] | None = None,
    fetched_at: datetime = FETCHED,
    url: str | None = None,
) -> RawResponse:
    """A GET answered 200 with `body`, as the HTTP layer archives it."""
    return RawResponse(
        source=source,
        endpoint=endpoint,
        method="GET",
        url=url or f"http://x{endpoint}",
        params=params or {},
        request_body=None,
        status=200,
        body=body,
        fetched_at=fetched_at,
        elapsed_ms=1.0,
        attempt=1,
    )


def report_row(
    day: date,
    scenario: str,
    cap: float,
    *,
    price: float = 30_000.0,
    count: int = 720_000,
    quotes: int = 0,
    median: float | None = None,
    **fields: Any,
) -> ReportRow:
    """A report row as the model stage writes it: the coverage model on `cap` (USD), `count`
    GPUs and `price` (USD per GPU), a fixed price unless `quotes` priced it (their `median`,
    USD); `fields` set any other column."""
    cov = coverage(cap, count, price)
    at = datetime(day.year, day.month, day.day, 6, 40, tzinfo=UTC)
    values: dict[str, Any] = {
        "report_date": day,
        "scenario": scenario,
        "basis": "category",
        "categories": "artificial-intelligence",
        "sector_market_cap_usd": cap,
        "constituents_market_cap_usd": None,
        "constituents_count": 0,
        "constituents_fdv_usd": None,
        "sector_volume_24h_usd": None,
        "constituents_volume_24h_usd": None,
        "gpu_sku": "H100",
        "gpu_count": count,
        "price_basis": "median purchase quote" if quotes else f"fixed ${price:,.0f}",
        "quote_median_usd": median,
        "unit_price_usd": price,
        "price_quote_count": quotes,
        "price_sources": None,
        "price_as_of": day if quotes else None,
        "buildout_cost_usd": cov.buildout_cost_usd,
        "coverage_ratio": cov.coverage_ratio,
        "gpus_affordable": cov.gpus_affordable,
        "breakeven_unit_price_usd": cov.breakeven_unit_price_usd,
        "share_of_2023_h100_shipments": cov.share_of_2023_h100_shipments,
        "market_as_of": at,
        "fetched_at": at,
        "run_id": "r-test",
    }
    return ReportRow(**{**values, **fields})
