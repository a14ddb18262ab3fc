"""The content of a daily run's Prefect artifacts: the report table and a short markdown
summary (flows/artifacts.py hands them to Prefect). Text from outside (scenario names, coin
symbols in the "why it moved" paragraphs, feed errors) is Markdown-escaped (model/text.py): it
never becomes a link or markup in the Prefect UI."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from capcover.model.text import escape_controls, fmt_ratio, fmt_usd, md_text

if TYPE_CHECKING:
    from capcover.model.run import RunResult

TABLE_KEY = "capcover-coverage"
SUMMARY_KEY = "capcover-summary"
# The demo's artifacts have keys of their own: on an operator's Prefect server its
# ILLUSTRATIVE numbers must never become the latest `capcover-coverage` artifact.
DEMO_TABLE_KEY = "capcover-demo-coverage"
DEMO_SUMMARY_KEY = "capcover-demo-summary"


def artifact_keys(kind: str) -> tuple[str, str]:
    """(table key, summary key) of a run of `kind`."""
    return (DEMO_TABLE_KEY, DEMO_SUMMARY_KEY) if kind == "demo" else (TABLE_KEY, SUMMARY_KEY)


def report_table(result: RunResult) -> list[dict[str, Any]]:
    """One row per scenario, the same columns as the HTML report's table (text cells with
    their control characters escaped)."""
    return [
        {
            "report_date": str(r.report_date),
            "scenario": escape_controls(r.scenario),
            "gpus": escape_controls(f"{r.gpu_count:,} {r.gpu_sku}"),
            "unit_price_usd": round(r.unit_price_usd, 2),
            "buildout_cost_usd": round(r.buildout_cost_usd),
            "sector_market_cap_usd": round(r.sector_market_cap_usd),
            "coverage_ratio": round(r.coverage_ratio, 3),
            "covers": r.coverage_ratio >= 1,
            "price_basis": escape_controls(r.price_basis),
            "basis": escape_controls(r.basis),
        }
        for r in sorted(result.reports, key=lambda r: r.scenario)
    ]


def summary_markdown(result: RunResult) -> str:
    lines = [f"# capcover {result.as_of_date}", ""]
    if result.kind == "demo":
        lines += ["**ILLUSTRATIVE demo data — not market data.**", ""]
    if result.sector_market_cap_usd is not None:
        lines.append(
            f"AI-token sector market cap **{md_text(fmt_usd(result.sector_market_cap_usd))}**"
            f" (as of {result.as_of_date} UTC, source timestamp)."
        )
        lines.append("")
    lines += ["| scenario | GPUs | unit price | ratio | covers? |", "|---|---|---|---|---|"]
    for r in sorted(result.reports, key=lambda r: r.scenario):
        lines.append(
            f"| {md_text(r.scenario)} | {r.gpu_count:,} {md_text(r.gpu_sku)} |"
            f" {md_text(fmt_usd(r.unit_price_usd))} | {fmt_ratio(r.coverage_ratio)} |"
            f" {'yes' if r.coverage_ratio >= 1 else 'no'} |"
        )
    if result.explanations:
        lines += ["", "**Why it moved**", ""]
        lines += [f"- {md_text(result.explanations[name])}" for name in sorted(result.explanations)]
    if result.alerts:
        lines += ["", "**Alerts**", ""]
        lines += [f"- {md_text(a.alert.message.split('. Why: ', 1)[0])}" for a in result.alerts]
    for name, reason in result.skipped:
        lines.append(f"\n_{md_text(name)} skipped: {md_text(reason)}_")
    return "\n".join(lines)
