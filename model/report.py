"""Daily report rows: one per scenario, from the sector's numbers and the quote prices."""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import date, datetime
from operator import attrgetter
from typing import TYPE_CHECKING

from capcover.model.coverage import coverage
from capcover.model.depth import DEPTH_METHOD, Depth

# The price method's types live in model/prices.py; imported here by the name callers use.
from capcover.model.prices import (  # noqa: F401 - re-exported
    ANY_FORM_FACTOR,
    Decision,
    MaxAge,
    PriceBook,
    PriceStat,
    QuotePoint,
    price_stats,
)

# Scenario is an annotation only; model.scenarios loads pydantic, which `capcover alerts`
# (reading stored report rows) does not need.
if TYPE_CHECKING:
    from capcover.model.scenarios import Scenario


@dataclass(frozen=True)
class SectorInputs:
    """The market side of one report date. Amounts in USD."""

    report_date: date
    basis: str  # "category": CoinGecko's reported category cap; "history": constituent sum
    categories: str  # comma-separated category ids
    sector_market_cap_usd: float
    sector_volume_24h_usd: float | None
    constituents_count: int
    constituents_market_cap_usd: float | None
    constituents_fdv_usd: float | None
    constituents_volume_24h_usd: float | None
    market_as_of: datetime  # the source's own timestamp (UTC)
    fetched_at: datetime  # when capcover fetched it (UTC)
    # Migration 052: CoinGecko's own figure beside the headline, and how the headline is made.
    coingecko_category_cap_usd: float | None = None  # sum of the categories' reported caps
    sector_cap_method: str | None = None  # warehouse/load.py SECTOR_CAP_METHODS; None: by basis


@dataclass(frozen=True)
class ReportRow:
    """One `report_daily` row; field order is the table's column order."""

    report_date: date
    scenario: str
    basis: str
    categories: str
    sector_market_cap_usd: float
    constituents_market_cap_usd: float | None
    constituents_count: int
    constituents_fdv_usd: float | None
    sector_volume_24h_usd: float | None
    constituents_volume_24h_usd: float | None
    gpu_sku: str
    gpu_count: int
    price_basis: str
    quote_median_usd: float | None
    unit_price_usd: float
    price_quote_count: int
    price_sources: str | None
    price_as_of: date | None  # newest quote behind the price; None for fixed prices
    buildout_cost_usd: float
    coverage_ratio: float
    gpus_affordable: float
    breakeven_unit_price_usd: float
    share_of_2023_h100_shipments: float
    market_as_of: datetime
    fetched_at: datetime
    run_id: str
    # Migration 007: what the price was made of, and the band (see model/prices.py).
    price_form_factor: str | None = None  # the scenario's form factor, or "any"
    price_market: str | None = None  # on_demand | spot for rentals
    quote_q1_usd: float | None = None  # quartiles of the eligible quotes after outliers
    quote_q3_usd: float | None = None
    coverage_ratio_low: float | None = None  # the ratio at the upper-quartile price
    coverage_ratio_high: float | None = None  # the ratio at the lower-quartile price
    price_method: str = "fixed"
    # Migration 052: the providers that voted, CoinGecko's own category figure beside the
    # headline cap, how the headline was made, and whether it sums today's constituents over a
    # past day (backfilled rows: a lower bound biased toward the survivors).
    price_provider_count: int | None = None
    price_providers: str | None = None
    coingecko_category_cap_usd: float | None = None
    sector_cap_method: str = "coingecko-category"
    survivorship_biased: bool = False
    # Migration 060: the scenario's parameters (None where the scenario has none).
    price_condition: str | None = None  # purchases: new | used | any
    # Compute-equivalent scenarios: gpu_count = round(equivalents x reference / chip TFLOPS).
    compute_equivalents: int | None = None  # GPUs of the reference chip
    compute_reference: str | None = None  # throughput-table chip id, e.g. "H100 SXM"
    compute_chip: str | None = None  # the chip bought, e.g. "B200 HGX"
    compute_metric: str | None = None  # dense_fp8 | dense_bf16
    compute_reference_tflops: float | None = None  # per reference GPU
    compute_chip_tflops: float | None = None  # per GPU bought
    compute_table_version: int | None = None  # model/throughput.toml's version
    # Total-cost scenarios: unit_price_usd = tco_capex_usd + tco_power_usd + tco_hosting_usd.
    tco_years: float | None = None
    tco_watts_per_gpu: float | None = None
    tco_pue: float | None = None
    tco_usd_per_kwh: float | None = None
    tco_hosting_usd_per_kw_month: float | None = None
    tco_capex_usd: float | None = None  # per GPU: purchase price x multiplier
    tco_power_usd: float | None = None  # per GPU over tco_years
    tco_hosting_usd: float | None = None  # per GPU over tco_years
    # Migration 062: the scenario's own staleness window for its quotes (days); None: the
    # settings' window of its kind. price_method names the window used either way.
    price_max_age_days: int | None = None
    # Migration 063: depth, rental rows only (model/depth.py): GPUs of the scenario's SKU and
    # form factor the sources showed as rentable that day, each once; who counted; who did not
    # answer (absent, not zero); the rules' version (None: a purchase, or published before).
    rentable_gpus_seen: int | None = None
    rentable_gpus_sources: str | None = None
    rentable_gpus_missing: str | None = None
    rentable_gpus_method: str | None = None

    def as_tuple(self) -> tuple:
        """The row's values in REPORT_COLUMNS order, as they are (no copy: `asdict` deep-copied
        every row, a tenth of a 10-year backfill's report step)."""
        return _ROW_VALUES(self)


# report_daily's columns as ReportRow names them: rows are written by these names, so a
# migration adding columns in another order (040 < 050 < 060 < ...) never shifts a value.
REPORT_COLUMNS: tuple[str, ...] = tuple(f.name for f in fields(ReportRow))
_ROW_VALUES = attrgetter(*REPORT_COLUMNS)


def build_reports(
    sector: SectorInputs,
    scenarios: list[Scenario],
    prices: PriceBook,
    run_id: str,
    depth: Depth | None = None,
    *,
    quotes_fetched: date | None = None,
) -> tuple[list[ReportRow], list[tuple[str, str]]]:
    """Report rows for every scenario that has a price; the others come back with the reason.
    `depth`: the day's count of rentable GPUs, put on rental rows (None: no count, e.g. a
    backfilled day or a date published before depth). `quotes_fetched`: the day the run's own
    quote feeds answered, named in a skip reason when later than the report's day."""
    rows, skipped = [], []
    for sc in scenarios:
        stat = None
        kind = sc.price.quote_kind
        if kind is not None:
            book = prices.within(kind, sc.max_age_days)
            stat = book.get(
                sc.gpu_sku,
                kind,
                sc.form_factor,
                sc.market,
                as_of=sector.report_date,
                condition=sc.condition,
            )
            if stat is None:
                reason = _no_quote_reason(sc, book, sector.report_date)
                if kind == "rental_hourly":  # the feeds' quotes are rentals
                    reason += _fetched_later(sector, quotes_fetched)
                skipped.append((sc.name, reason))
                continue
        try:  # a price that underflows to 0 (1e-320 x a multiplier) has no coverage at all
            unit = sc.unit_price(stat.median_usd if stat else None)
            cov = coverage(sector.sector_market_cap_usd, sc.gpu_count, unit)
            if stat is not None:
                low = coverage(
                    sector.sector_market_cap_usd, sc.gpu_count, sc.unit_price(stat.estimate.q3_usd)
                ).coverage_ratio
                high = coverage(
                    sector.sector_market_cap_usd, sc.gpu_count, sc.unit_price(stat.estimate.q1_usd)
                ).coverage_ratio
            else:
                low = high = cov.coverage_ratio
        except ValueError as exc:
            skipped.append((sc.name, f"no coverage computed: {exc}"))
            continue
        rows.append(
            ReportRow(
                report_date=sector.report_date,
                scenario=sc.name,
                basis=sector.basis,
                categories=sector.categories,
                sector_market_cap_usd=sector.sector_market_cap_usd,
                constituents_market_cap_usd=sector.constituents_market_cap_usd,
                constituents_count=sector.constituents_count,
                constituents_fdv_usd=sector.constituents_fdv_usd,
                sector_volume_24h_usd=sector.sector_volume_24h_usd,
                constituents_volume_24h_usd=sector.constituents_volume_24h_usd,
                gpu_sku=sc.gpu_sku,
                gpu_count=sc.gpu_count,
                price_basis=sc.describe_price(),
                quote_median_usd=stat.median_usd if stat else None,
                unit_price_usd=unit,
                price_quote_count=stat.quote_count if stat else 0,
                price_sources=stat.sources if stat else None,
                price_as_of=stat.newest_quote_date if stat else None,
                buildout_cost_usd=cov.buildout_cost_usd,
                coverage_ratio=cov.coverage_ratio,
                gpus_affordable=cov.gpus_affordable,
                breakeven_unit_price_usd=cov.breakeven_unit_price_usd,
                share_of_2023_h100_shipments=cov.share_of_2023_h100_shipments,
                market_as_of=sector.market_as_of,
                fetched_at=sector.fetched_at,
                run_id=run_id,
                price_form_factor=sc.form_factor if stat else None,
                price_market=stat.market if stat else None,
                quote_q1_usd=stat.estimate.q1_usd if stat else None,
                quote_q3_usd=stat.estimate.q3_usd if stat else None,
                coverage_ratio_low=low,
                coverage_ratio_high=high,
                price_method=stat.method if stat else "fixed",
                price_provider_count=stat.provider_count if stat else None,
                price_providers=stat.providers if stat else None,
                coingecko_category_cap_usd=sector.coingecko_category_cap_usd,
                sector_cap_method=sector.sector_cap_method
                or ("history-union" if sector.basis == "history" else "coingecko-category"),
                survivorship_biased=sector.basis == "history",
                price_condition=sc.condition if kind == "purchase" else None,
                **_parameters(sc, stat.median_usd if stat else None),
                price_max_age_days=sc.max_age_days if stat else None,
                **_depth(sc, depth),
            )
        )
    return rows, skipped


def _depth(sc: Scenario, depth: Depth | None) -> dict:
    """The rentable_gpus columns of a scenario's row: rentals only."""
    if depth is None or sc.price.quote_kind != "rental_hourly":
        return {}
    gpus, sources = depth.seen(sc.gpu_sku, sc.form_factor)
    return {
        "rentable_gpus_seen": gpus,
        "rentable_gpus_sources": sources,
        "rentable_gpus_missing": ", ".join(depth.missing) or None,
        "rentable_gpus_method": DEPTH_METHOD,
    }


def _parameters(sc: Scenario, quote_price_usd: float | None) -> dict:
    """The compute-equivalent and total-cost columns of a scenario's row."""
    out: dict = {}
    if sc.compute is not None:
        c = sc.compute
        out.update(
            compute_equivalents=c.equivalents,
            compute_reference=c.reference,
            compute_chip=c.chip,
            compute_metric=c.metric,
            compute_reference_tflops=c.reference_tflops,
            compute_chip_tflops=c.chip_tflops,
            compute_table_version=c.table_version,
        )
    if sc.costs is not None:
        k = sc.costs
        out.update(
            tco_years=k.years,
            tco_watts_per_gpu=k.watts_per_gpu,
            tco_pue=k.pue,
            tco_usd_per_kwh=k.usd_per_kwh,
            tco_hosting_usd_per_kw_month=k.hosting_usd_per_kw_month,
            tco_capex_usd=sc.capex(quote_price_usd),
            tco_power_usd=k.power_usd(),
            tco_hosting_usd=k.hosting_usd(),
        )
    return out


def _fetched_later(sector: SectorInputs, fetched: date | None) -> str:
    """What a skip reason adds when the run fetched its quotes on a later day than the
    report's: they are dated that day, so they price a later report, not this one
    (docs/methodology.md, "The report date")."""
    if fetched is None or fetched <= sector.report_date:
        return ""
    return (
        f"; this run's own quotes are dated {fetched}, the day it fetched them, after CoinGecko's"
        f" figures of {sector.market_as_of:%Y-%m-%d %H:%M} UTC: they price a later report"
    )


def _no_quote_reason(sc: Scenario, prices: PriceBook, day: date) -> str:
    """Why `sc` has no price on `day`; `prices`: the book within the scenario's window."""
    kind = sc.price.quote_kind
    what = (
        f"{sc.gpu_sku}" if sc.form_factor == ANY_FORM_FACTOR else f"{sc.gpu_sku} {sc.form_factor}"
    )
    market = f"{sc.market} " if kind == "rental_hourly" else ""
    condition = "used " if kind == "purchase" and sc.condition == "used" else ""
    window = prices.max_age.days(kind or "")
    reason = f"no {market}{condition}{kind} quote for {what} in the {window} days up to {day}"
    decisions = prices.decisions(
        sc.gpu_sku, kind or "", sc.form_factor, sc.market, as_of=day, condition=sc.condition
    )
    if decisions:
        rules: dict[str, int] = {}
        for d in decisions:
            rules[d.rule or "kept"] = rules.get(d.rule or "kept", 0) + 1
        said = ", ".join(f"{n} {rule}" for rule, n in sorted(rules.items()))
        reason += f" ({len(decisions)} considered, excluded by rule: {said})"
    return reason


def report_decisions(
    rows: list[ReportRow], scenarios: list[Scenario], prices: PriceBook
) -> list[tuple[ReportRow, Decision]]:
    """Every quote the price method considered for each quote-priced row, kept or excluded and
    why (the `price_decisions` table), in the method the book prices with."""
    by_name = {sc.name: sc for sc in scenarios}
    out: list[tuple[ReportRow, Decision]] = []
    for row in rows:
        sc = by_name.get(row.scenario)
        if sc is None or sc.price.quote_kind is None:
            continue
        kind = sc.price.quote_kind
        book = prices.within(kind, sc.max_age_days)  # as build_reports priced it
        for d in book.decisions(
            sc.gpu_sku,
            kind,
            sc.form_factor,
            sc.market,
            as_of=row.report_date,
            condition=sc.condition,
        ):
            out.append((row, d))
    return out
