"""One-paragraph summaries of a daily run, for the terminal (and the Prefect artifacts)."""

from __future__ import annotations

from pathlib import Path

from capcover.errors import one_line
from capcover.model.alerts import band_text
from capcover.model.depth import rentable_text
from capcover.model.report import ReportRow
from capcover.model.run import RunResult
from capcover.model.text import fmt_ratio, fmt_usd


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
        lines.append(f"  AI-token sector market cap: {fmt_usd(result.sector_market_cap_usd)}")
    first = result.reports[0] if result.reports else None
    if first is not None and str(getattr(first, "sector_cap_method", "")).startswith(
        "constituent-union"
    ):
        figure = first.coingecko_category_cap_usd
        lines.append(
            f"    the union of the constituents of {first.categories.replace(',', ', ')}, each "
            f"coin once (CoinGecko's category figures sum to {fmt_usd(figure or 0)})"
        )
    for note in getattr(result, "sector_notes", []):
        lines.append(f"  constituents short: {note}")
    for r in result.reports:
        verdict = "covers" if r.coverage_ratio >= 1 else "does not cover"
        lines.append(
            f"  {r.scenario}: ratio {fmt_ratio(r.coverage_ratio)}{band_text(r)}, {verdict} "
            f"{r.gpu_count:,} {r.gpu_sku} at {fmt_usd(r.unit_price_usd)} = "
            f"{fmt_usd(r.buildout_cost_usd)} ({price_note(r)})"
        )
        if getattr(r, "rentable_gpus_method", None):
            rentable = rentable_text(
                r.rentable_gpus_seen, r.rentable_gpus_sources, r.rentable_gpus_missing
            )
            lines.append(f"    {r.gpu_count:,} {r.gpu_sku} needed; {rentable}")
    for name, reason in result.skipped:
        lines.append(f"  {name}: skipped: {reason}")
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
    delivered, failures, unknown = (
        result.alerts_delivered,
        result.alert_failures,
        result.alert_unknown,
    )
    if delivered or failures or unknown:
        lines.append(
            f"  alerts delivered: {delivered} in {delivery.messages} message(s) (one per "
            f"channel); channels failed: {len(failures)}; unknown: {len(unknown)}"
        )
    if result.alert_events:
        lines.append(
            f"  Prefect events emitted: {result.alert_events} "
            f"(capcover.coverage.<rule>; an event, not a delivery)"
        )
    for f in failures:
        lines.append(f"  alert delivery FAILED: {f}")
    for u in unknown:
        lines.append(f"  alert delivery UNKNOWN: {u}")
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


def serve_line(
    event: str,
    *,
    kind: str,
    flow_run_id: str | None,
    result: RunResult | None = None,
    error: BaseException | None = None,
) -> str:
    """The one line `capcover serve` (any runner of the deployment) prints when a run
    `started`, `finished` or `failed`, naming its flow run."""
    from datetime import UTC, datetime

    from capcover.model.text import escape_controls, fmt_time

    head = f"capcover serve: {fmt_time(datetime.now(UTC))} {kind} flow run {flow_run_id}"
    if event == "started":
        return f"{head} started"
    if event == "failed":
        why = one_line(error, 300) if error is not None else "unknown error"
        return escape_controls(f"{head} FAILED: {why} (nothing changed but the run's record)")
    assert result is not None
    ratios = ", ".join(
        f"{r.scenario} {fmt_ratio(r.coverage_ratio)}" for r in result.reports[:3]
    ) + (", ..." if len(result.reports) > 3 else "")
    extras = [f"{len(result.reports)} report row(s) ({ratios})"]
    if result.alerts:
        extras.append(
            f"{len(result.alerts)} alert(s), {result.alerts_delivered} delivered"
            + (f", {len(result.alert_failures)} channel(s) failed" if result.alert_failures else "")
            + (f", {len(result.alert_unknown)} unknown" if result.alert_unknown else "")
        )
    if result.sources_failed:
        extras.append(f"quote feeds failed: {', '.join(result.sources_failed)}")
    return escape_controls(
        f"{head} ok: run {result.run_id} as of {result.as_of_date}; " + "; ".join(extras)
    )
