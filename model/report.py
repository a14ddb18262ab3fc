"""Daily report rows: one per scenario, from the sector's numbers and the quote prices."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date, datetime

from model.coverage import coverage, median_price
from model.scenarios import Scenario


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


@dataclass(frozen=True)
class QuotePoint:
    """The latest quote of one source for (sku, kind) at or before a report date."""

    sku: str
    kind: str
    source: str
    price_usd: float
    observed_date: date


@dataclass(frozen=True)
class PriceStat:
    sku: str
    kind: str
    median_usd: float
    min_usd: float
    max_usd: float
    quote_count: int
    sources: str
    newest_quote_date: date
    oldest_quote_date: date


def price_stats(points: list[QuotePoint]) -> dict[tuple[str, str], PriceStat]:
    """Group quote points by (sku, kind) and summarise them; the model uses the median."""
    groups: dict[tuple[str, str], list[QuotePoint]] = {}
    for p in points:
        groups.setdefault((p.sku, p.kind), []).append(p)
    out = {}
    for key, pts in groups.items():
        prices = [p.price_usd for p in pts]
        out[key] = PriceStat(
            sku=key[0], kind=key[1], median_usd=median_price(prices), min_usd=min(prices),
            max_usd=max(prices), quote_count=len(pts),
            sources=", ".join(sorted({p.source for p in pts})),
            newest_quote_date=max(p.observed_date for p in pts),
            oldest_quote_date=min(p.observed_date for p in pts),
        )
    return out


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

    def as_tuple(self) -> tuple:
        return tuple(asdict(self).values())


def build_reports(
    sector: SectorInputs,
    scenarios: list[Scenario],
    prices: dict[tuple[str, str], PriceStat],
    run_id: str,
) -> tuple[list[ReportRow], list[tuple[str, str]]]:
    """Report rows for every scenario that has a price; the others come back with the reason."""
    rows, skipped = [], []
    for sc in scenarios:
        stat = None
        if sc.price.quote_kind is not None:
            stat = prices.get((sc.gpu_sku, sc.price.quote_kind))
            if stat is None:
                skipped.append((sc.name, f"no {sc.price.quote_kind} quote for {sc.gpu_sku} "
                                         f"at or before {sector.report_date}"))
                continue
        unit = sc.unit_price(stat.median_usd if stat else None)
        cov = coverage(sector.sector_market_cap_usd, sc.gpu_count, unit)
        rows.append(ReportRow(
            report_date=sector.report_date, scenario=sc.name, basis=sector.basis,
            categories=sector.categories, sector_market_cap_usd=sector.sector_market_cap_usd,
            constituents_market_cap_usd=sector.constituents_market_cap_usd,
            constituents_count=sector.constituents_count,
            constituents_fdv_usd=sector.constituents_fdv_usd,
            sector_volume_24h_usd=sector.sector_volume_24h_usd,
            constituents_volume_24h_usd=sector.constituents_volume_24h_usd,
            gpu_sku=sc.gpu_sku, gpu_count=sc.gpu_count, price_basis=sc.price.describe(),
            quote_median_usd=stat.median_usd if stat else None, unit_price_usd=unit,
            price_quote_count=stat.quote_count if stat else 0,
            price_sources=stat.sources if stat else None,
            price_as_of=stat.newest_quote_date if stat else None,
            buildout_cost_usd=cov.buildout_cost_usd, coverage_ratio=cov.coverage_ratio,
            gpus_affordable=cov.gpus_affordable,
            breakeven_unit_price_usd=cov.breakeven_unit_price_usd,
            share_of_2023_h100_shipments=cov.share_of_2023_h100_shipments,
            market_as_of=sector.market_as_of, fetched_at=sector.fetched_at, run_id=run_id,
        ))
    return rows, skipped
