"""Run every benchmark, print the table, write results/latest.json (+ latest.md, scale.png).

    python -m benchmarks.run              # everything, a few minutes on 2 cores (`make bench`)
    python -m benchmarks.run --quick      # tiny sizes, seconds: checks the scripts still work
    python -m benchmarks.run --parts load,calls

Offline: every server is on 127.0.0.1 in this process (plus a Prefect server it starts itself).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import logging
import os
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from benchmarks.common import RESULTS, Figure, machine

PARTS = ("load", "backfill", "calls", "latency", "overhead", "paced", "scale")


def _has(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def fmt(value: float | None) -> str:
    if value is None:
        return "n/a"
    if value == int(value) and abs(value) < 1e6:
        return f"{int(value):,}"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.3g}"


def table_rows(figures: list[Figure]) -> list[tuple[str, ...]]:
    """One row per figure: capcover's min and median, the baseline's, the ratio of medians
    and of minimums (a single measurement or an exact count shows its value in both)."""
    rows = []
    for f in figures:
        v_min = f.value if f.value_min is None else f.value_min
        b_min = f.baseline_value if f.baseline_min is None else f.baseline_min
        ratio_min = f.ratio if f.ratio_min is None else f.ratio_min
        rows.append(
            (
                f.part,
                f.name,
                f"{fmt(v_min)} {f.unit}",
                f"{fmt(f.value)} {f.unit}",
                f.baseline,
                f"{fmt(b_min)} {f.unit}",
                f"{fmt(f.baseline_value)} {f.unit}",
                "n/a" if ratio_min is None else f"{ratio_min:.3g}",
                "n/a" if f.ratio is None else f"{f.ratio:.3g}",
                str(f.repeat),
                f"{f.better}" + (f"; {f.note}" if f.note else ""),
            )
        )
    return rows


HEADER = (
    "part",
    "figure",
    "capcover min",
    "capcover median",
    "baseline",
    "baseline min",
    "baseline median",
    "ratio (min)",
    "ratio (median)",
    "runs",
    "better; note",
)
BASELINE_COL = 4


def text_table(figures: list[Figure]) -> str:
    rows = [HEADER, *table_rows(figures)]
    widths = [max(len(r[i]) for r in rows) for i in range(len(HEADER))]
    widths[BASELINE_COL] = min(widths[BASELINE_COL], 48)
    lines = []
    for n, r in enumerate(rows):
        lines.append("  ".join(c[: widths[i]].ljust(widths[i]) for i, c in enumerate(r)).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def markdown_table(figures: list[Figure]) -> str:
    lines = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    lines += ["| " + " | ".join(c.replace("|", "/") for c in r) + " |" for r in table_rows(figures)]
    return "\n".join(lines)


def machine_line(m: dict) -> str:
    v = m["versions"]
    return (
        f"{m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB, {m['os']}; Python "
        f"{m['python']}, duckdb {v['duckdb']}, prefect {v['prefect']}, dlt {v['dlt']}"
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="tiny sizes (a smoke test, not a result)")
    p.add_argument("--parts", default=",".join(PARTS), help=f"comma-separated, of {PARTS}")
    p.add_argument(
        "--out",
        type=Path,
        default=None,
        help="results folder (default: benchmarks/results; --quick: a temp folder)",
    )
    args = p.parse_args(argv)
    parts = [x.strip() for x in args.parts.split(",") if x.strip()]
    unknown = set(parts) - set(PARTS)
    if unknown:
        p.error(f"unknown part(s): {', '.join(sorted(unknown))}")

    # Quiet and offline: no telemetry, capcover's warnings (e.g. a feed) are not the result.
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("DO_NOT_TRACK", "1")
    os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")
    logging.getLogger("capcover").setLevel(logging.ERROR)

    q = args.quick
    if args.out is None:  # a quick run is a smoke test, never the committed result
        args.out = Path(tempfile.gettempdir()) / "capcover-bench-quick" if q else RESULTS
    info = machine()
    load_before = os.getloadavg()
    started = time.perf_counter()
    figures: list[Figure] = []
    extras: dict = {}
    print(f"capcover benchmarks{' (quick)' if q else ''} on {machine_line(info)}", flush=True)
    for part in parts:
        t0 = time.perf_counter()
        print(f"  {part} …", end=" ", flush=True)
        if part == "load":
            from benchmarks import bench_load

            figures += bench_load.run(
                *((20, 10) if q else (365, 300)), with_dlt=_has("dlt"), with_arrow=_has("pyarrow")
            )
        elif part == "backfill":
            from benchmarks import bench_backfill

            figures += (
                bench_backfill.run(coins=6, rate_per_s=50, days=30)
                if q
                else bench_backfill.run(coins=100, rate_per_s=20, days=365, repeat=3)
            )
        elif part == "calls":
            from benchmarks import bench_calls

            figures += bench_calls.run({"AI sector (1 category, 260 coins)": [260]} if q else None)
        elif part == "latency":
            from benchmarks import bench_latency

            figures += bench_latency.run(repeat=1 if q else 7)
        elif part == "overhead":
            from benchmarks import bench_overhead

            figures += bench_overhead.run(repeat=1 if q else 5, with_server=not q)
        elif part == "paced":
            from benchmarks import bench_paced

            figures += bench_paced.run(repeat=1 if q else 3, coins=30 if q else 260)
        elif part == "scale":
            from benchmarks import bench_scale

            if q:
                figs, curve = bench_scale.run(
                    1, {1: [30], 10: [300]}, years=(1, 2), history_coins=30
                )
            else:
                figs, curve = bench_scale.run(3)
            figures += figs
            extras["scale_curve"] = curve
            png = bench_scale.plot(curve, args.out / "scale.png")
            extras["scale_plot"] = str(
                png.relative_to(args.out.parent.parent) if png and args.out == RESULTS else png
            )
        print(f"{time.perf_counter() - t0:.1f} s", flush=True)

    doc = {
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": "make bench" if not q else "python -m benchmarks.run --quick",
        "quick": q,
        "machine": info,
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
        "duration_s": round(time.perf_counter() - started, 1),
        "figures": [f.as_dict() for f in figures],
        **extras,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    name = "quick" if q else "latest"
    (args.out / f"{name}.json").write_text(json.dumps(doc, indent=1, default=str) + "\n")
    (args.out / f"{name}.md").write_text(
        f"Machine: {machine_line(info)}; load average before/after "
        f"{doc['load_average_before'][0]}/{doc['load_average_after'][0]}; "
        f"{doc['duration_s']} s in all ({doc['generated_at']}).\n\n"
        + markdown_table(figures)
        + "\n"
    )
    print()
    print(text_table(figures))
    print(
        f"\nwrote {args.out / f'{name}.json'} and {name}.md"
        + (f", {extras['scale_plot']}" if extras.get("scale_plot") else "")
        + f" in {doc['duration_s']} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
