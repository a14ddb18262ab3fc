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
                f.load or "n/a",
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
    "load",
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


def moved(previous: dict | None, figures: list[Figure]) -> list[str]:
    """Figures whose ratio (median) moved by more than its noise since the previous results:
    the noise of a run is the gap between its ratio of medians and its ratio of minimums, and
    a move counts when it is larger than the larger of the two runs' noise (and than 2 %)."""
    if not previous:
        return []
    old = {(f["part"], f["name"]): f for f in previous.get("figures", [])}
    lines = []
    for f in figures:
        before = old.get((f.part, f.name))
        if before is None or before.get("ratio") is None or f.ratio is None:
            continue
        noise_now = abs(f.ratio - (f.ratio_min if f.ratio_min is not None else f.ratio))
        noise_then = abs(before["ratio"] - (before.get("ratio_min") or before["ratio"]))
        allowed = max(noise_now, noise_then, 0.02 * abs(before["ratio"]))
        if abs(f.ratio - before["ratio"]) > allowed:
            lines.append(
                f"{f.part}: {f.name}: ratio (median) {before['ratio']:.3g} -> {f.ratio:.3g} "
                f"(noise {allowed:.2g})"
            )
    return lines


README = Path(__file__).resolve().parent.parent / "README.md"
MARK_START, MARK_END = "<!-- bench:latest:start -->", "<!-- bench:latest:end -->"


def readme_block(readme: str) -> str | None:
    """The text between the README's benchmark markers (None without them)."""
    if MARK_START not in readme or MARK_END not in readme:
        return None
    return readme.split(MARK_START, 1)[1].split(MARK_END, 1)[0].strip("\n")


def write_readme(latest_md: str, readme: Path = README) -> bool:
    """Put `latest_md` between the README's markers; False when it has none."""
    text = readme.read_text(encoding="utf-8")
    if readme_block(text) is None:
        return False
    head, rest = text.split(MARK_START, 1)
    tail = rest.split(MARK_END, 1)[1]
    readme.write_text(f"{head}{MARK_START}\n{latest_md.strip()}\n{MARK_END}{tail}", "utf-8")
    return True


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
        load_start = os.getloadavg()[0]
        first = len(figures)
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
        load_end = os.getloadavg()[0]
        for f in figures[first:]:
            f.load = f"{load_start:.1f}/{load_end:.1f}"
        print(
            f"{time.perf_counter() - t0:.1f} s (load {load_start:.1f}/{load_end:.1f})", flush=True
        )

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
    try:
        previous = json.loads((args.out / f"{name}.json").read_text())
    except (OSError, ValueError):
        previous = None
    doc["moved"] = moved(previous, figures)
    doc["previous_generated_at"] = (previous or {}).get("generated_at")
    (args.out / f"{name}.json").write_text(json.dumps(doc, indent=1, default=str) + "\n")
    moves = (
        "\n".join(f"- {line}" for line in doc["moved"])
        if doc["moved"]
        else "- none"
        if previous
        else "- no previous results to compare with"
    )
    (args.out / f"{name}.md").write_text(
        f"Machine: {machine_line(info)}; load average before/after "
        f"{doc['load_average_before'][0]}/{doc['load_average_after'][0]}; "
        f"{doc['duration_s']} s in all ({doc['generated_at']}).\n\n"
        + markdown_table(figures)
        + f"\n\nMoved by more than their noise since the previous run "
        f"({doc['previous_generated_at'] or 'none'}):\n\n{moves}\n"
    )
    if not q and args.out == RESULTS and write_readme((args.out / f"{name}.md").read_text()):
        print("wrote the table into README.md (between its bench markers)")
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
