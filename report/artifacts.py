"""The content of a daily run's Prefect artifacts: the report table and a short markdown
summary (flows/artifacts.py hands them to Prefect)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from capcover.model.run import RunResult

TABLE_KEY = "capcover-coverage"
SUMMARY_KEY = "capcover-summary"


def report_table(result: RunResult) -> list[dict[str, Any]]:
    """One row per scenario, the same columns as the HTML report's table."""
    return [
        {
            "report_date": str(r.report_date),
            "scenario": r.scenario,
            "gpus": f"{r.gpu_count:,} {r.gpu_sku}",
            "unit_price_usd": round(r.unit_price_usd, 2),
            "buildout_cost_usd": round(r.buildout_cost_usd),
            "sector_market_cap_usd": round(r.sector_market_cap_usd),
            "coverage_ratio": round(r.coverage_ratio, 4),
            "covers": r.coverage_ratio >= 1,
            "price_basis": r.price_basis,
            "basis": r.basis,
        }
        for r in sorted(result.reports, key=lambda r: r.scenario)
    ]


def summary_markdown(result: RunResult) -> str:
    lines = [f"# capcover {result.as_of_date}", ""]
    if result.sector_market_cap_usd is not None:
        lines.append(
            f"AI-token sector market cap **${result.sector_market_cap_usd / 1e9:,.2f}B**"
            f" (as of {result.as_of_date} UTC, source timestamp)."
        )
        lines.append("")
    lines += ["| scenario | GPUs | unit price | ratio | covers? |", "|---|---|---|---|---|"]
    for r in sorted(result.reports, key=lambda r: r.scenario):
        lines.append(
            f"| {r.scenario} | {r.gpu_count:,} {r.gpu_sku} | ${r.unit_price_usd:,.0f} |"
            f" {r.coverage_ratio:.3f} | {'yes' if r.coverage_ratio >= 1 else 'no'} |"
        )
    if result.explanations:
        lines += ["", "**Why it moved**", ""]
        lines += [f"- {result.explanations[name]}" for name in sorted(result.explanations)]
    if result.alerts:
        lines += ["", "**Alerts**", ""]
        lines += [f"- {a.alert.message}" for a in result.alerts]
    for name, reason in result.skipped:
        lines.append(f"\n_{name} skipped: {reason}_")
    return "\n".join(lines)
