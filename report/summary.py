"""One-paragraph summaries of a daily run, for the terminal (and the Prefect artifacts)."""

from __future__ import annotations

from pathlib import Path

from capcover.model.alerts import band_text
from capcover.model.report import ReportRow
from capcover.model.run import RunResult


def price_note(row: ReportRow) -> str:
    """How a report row's unit price was found, in a few words."""
    if row.price_quote_count == 0:
        return row.price_basis
    providers = getattr(row, "price_provider_count", None)
    if providers:
        return (
            f"median of {providers} provider(s), {row.price_quote_count} quote(s), newest "
            f"{row.price_as_of}, {row.price_method}"
        )
    return (
        f"median of {row.price_quote_count} quote(s) after outliers, newest "
        f"{row.price_as_of}, {row.price_method}"
    )


def summary_text(result: RunResult, db: str | Path) -> str:
    lines = [f"capcover run {result.run_id}: as of {result.as_of_date} (UTC, source timestamp)"]
    if result.sector_market_cap_usd is not None:
        lines.append(f"  AI-token sector market cap: ${result.sector_market_cap_usd / 1e9:,.2f}B")
    first = result.reports[0] if result.reports else None
    if first is not None and getattr(first, "sector_cap_method", None) == "constituent-union":
        figure = first.coingecko_category_cap_usd
        lines.append(
            f"    the union of the constituents of {first.categories.replace(',', ', ')}, each "
            f"coin once (CoinGecko's category figures sum to ${(figure or 0) / 1e9:,.2f}B)"
        )
    for note in getattr(result, "sector_notes", []):
        lines.append(f"  constituents short: {note}")
    for r in result.reports:
        verdict = "covers" if r.coverage_ratio >= 1 else "does not cover"
        lines.append(
            f"  {r.scenario:<18} {r.gpu_count:>9,} {r.gpu_sku:<7} at ${r.unit_price_usd:>11,.0f}"
            f" = ${r.buildout_cost_usd / 1e9:>8,.2f}B  ratio {r.coverage_ratio:6.3f}"
            f"{band_text(r)}  ({verdict};"
            f" {price_note(r)})"
        )
    for name, reason in result.skipped:
        lines.append(f"  {name:<18} skipped: {reason}")
    extras = []
    if result.quarantined:
        extras.append(f"{result.quarantined} record(s) quarantined")
    if result.duplicates_dropped:
        extras.append(f"{result.duplicates_dropped} duplicate(s) across pages dropped")
    if result.sources_failed:
        errors = result.feed_errors
        extras.append(
            "quote feeds failed: "
            + ", ".join(
                f"{s} ({errors[s][:120]})" if errors.get(s) else s for s in result.sources_failed
            )
        )
    extras.append(f"{result.http_requests} HTTP request(s), {result.http_retries} retr(y/ies)")
    lines.append("  " + "; ".join(extras))
    lines += alert_lines(result)
    lines.append(f"  warehouse: {db}")
    return "\n".join(lines)


def alert_lines(result: RunResult) -> list[str]:
    """Lines for the run summary: the alerts this run fired and how delivery went."""
    lines = []
    for s in result.alerts:
        tag = "new" if s.new else f"already stored, {s.delivery_state}"
        if result.dry_run:
            tag = "would fire" if s.new else f"already stored, {s.delivery_state}, not re-sent"
        lines.append(f"  alert [{s.alert.rule}, {tag}]: {s.alert.message}")
    delivery = result.delivery
    if delivery is None:  # a dry run: nothing was delivered or attempted
        return lines
    if delivery.channels == 0:
        lines.append(
            "  alerts: no channel configured (CAPCOVER_ALERT_URLS is empty): alerts "
            "are stored as no_channel and sent nowhere"
        )
    delivered, failures = result.alerts_delivered, result.alert_failures
    if delivered or failures:
        lines.append(f"  alerts delivered: {delivered}; failed: {len(failures)}")
    if result.alert_events:
        lines.append(
            f"  Prefect events emitted: {result.alert_events} "
            f"(capcover.coverage.<rule>; an event, not a delivery)"
        )
    for f in failures:
        lines.append(f"  alert delivery FAILED: {f}")
    return lines


def dry_run_text(result: RunResult, db: str | Path) -> str:
    """`capcover run --dry-run`: the summary under a banner saying nothing was kept."""
    lines = [
        "DRY RUN — nothing stored, nothing delivered (the transaction was rolled back)",
        summary_text(result, db),
    ]
    if not result.alerts:
        lines.append("  no alert would fire")
    return "\n".join(lines)
