"""Daily report rows: one per scenario, from the sector's numbers and the quote prices."""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from datetime import date, datetime
from typing import TYPE_CHECKING

from capcover.model.coverage import coverage
from capcover.model.prices import ANY_FORM_FACTOR, MaxAge, PriceEstimate, estimate, fresh

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


@dataclass(frozen=True)
class QuotePoint:
    """One of a source's latest quotes for (sku, kind) at or before a report date."""

    sku: str
    kind: str
    source: str
    price_usd: float  # per GPU (purchase) or per GPU-hour (rental_hourly)
    observed_date: date
    form_factor: str | None = None  # SXM, PCIe, NVL, OAM; None when the source did not say
    market: str | None = None  # on_demand | spot for rentals; None for purchase prices


@dataclass(frozen=True)
class PriceStat:
    """The price method's numbers for one scenario's eligible quotes (model/prices.py);
    `sources` and the quote dates are those of the quotes kept after the outlier rule."""

    sku: str
    kind: str
    form_factor: str  # the scenario's, or "any"
    market: str | None
    estimate: PriceEstimate
    sources: str
    newest_quote_date: date
    oldest_quote_date: date
    method: str

    @property
    def median_usd(self) -> float:
        return self.estimate.central_usd

    @property
    def quote_count(self) -> int:
        return self.estimate.kept_count


@dataclass(frozen=True)
class PriceBook:
    """The quote points valid at a report date (each source's latest at or before it) and the
    staleness window; `get` prices one scenario's selection with model/prices.py's method."""

    points: tuple[QuotePoint, ...]
    max_age: MaxAge = MaxAge()

    def eligible(
        self, sku: str, kind: str, form_factor: str, market: str | None, as_of: date | None
    ) -> list[QuotePoint]:
        """The points of the selection; with `as_of`, only those within the window."""
        return [
            p
            for p in self.points
            if p.sku == sku
            and p.kind == kind
            and (form_factor == ANY_FORM_FACTOR or p.form_factor == form_factor)
            and (kind != "rental_hourly" or p.market == market)
            and (as_of is None or fresh(p.observed_date, as_of, kind, self.max_age))
        ]

    def get(
        self,
        sku: str,
        kind: str,
        form_factor: str = ANY_FORM_FACTOR,
        market: str | None = None,
        *,
        as_of: date | None = None,
    ) -> PriceStat | None:
        """The method's price of the selection at `as_of` (None: no staleness window), or
        None when no quote is eligible."""
        pts = self.eligible(sku, kind, form_factor, market, as_of)
        if not pts:
            return None
        est = estimate([p.price_usd for p in pts])
        # The outlier rule keeps every quote within a distance of the median: the kept quotes
        # are exactly those between the kept minimum and maximum.
        pts = [p for p in pts if est.min_usd <= p.price_usd <= est.max_usd]
        return PriceStat(
            sku=sku,
            kind=kind,
            form_factor=form_factor,
            market=market if kind == "rental_hourly" else None,
            estimate=est,
            sources=", ".join(sorted({p.source for p in pts})),
            newest_quote_date=max(p.observed_date for p in pts),
            oldest_quote_date=min(p.observed_date for p in pts),
            method=self.max_age.method_id(),
        )

    def groups(self, as_of: date | None = None) -> list[PriceStat]:
        """The method's price for every (sku, form factor, kind, market) present (a form
        factor the source did not tell is its own group, "unknown")."""

        def key(p: QuotePoint) -> tuple[str, str, str, str]:
            return p.sku, p.form_factor or "unknown", p.kind, p.market or ""

        out = []
        for k in sorted({key(p) for p in self.points}):
            book = PriceBook(tuple(p for p in self.points if key(p) == k), self.max_age)
            stat = book.get(k[0], k[2], ANY_FORM_FACTOR, k[3] or None, as_of=as_of)
            if stat is not None:
                out.append(replace(stat, form_factor=k[1]))
        return out


def price_stats(points: list[QuotePoint], *, max_age: MaxAge | None = None) -> PriceBook:
    """The price book of `points` (from the warehouse's `latest_quotes`); `build_reports`
    prices each scenario with it at the report date, within `max_age` (default MaxAge())."""
    return PriceBook(tuple(points), max_age or MaxAge())


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

    def as_tuple(self) -> tuple:
        return tuple(asdict(self).values())


def build_reports(
    sector: SectorInputs,
    scenarios: list[Scenario],
    prices: PriceBook,
    run_id: str,
) -> tuple[list[ReportRow], list[tuple[str, str]]]:
    """Report rows for every scenario that has a price; the others come back with the reason."""
    rows, skipped = [], []
    for sc in scenarios:
        stat = None
        if sc.price.quote_kind is not None:
            stat = prices.get(
                sc.gpu_sku, sc.price.quote_kind, sc.form_factor, sc.market, as_of=sector.report_date
            )
            if stat is None:
                skipped.append((sc.name, _no_quote_reason(sc, prices, sector.report_date)))
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
                price_basis=sc.price.describe(),
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
            )
        )
    return rows, skipped


def _no_quote_reason(sc: Scenario, prices: PriceBook, day: date) -> str:
    kind = sc.price.quote_kind
    what = (
        f"{sc.gpu_sku}" if sc.form_factor == ANY_FORM_FACTOR else f"{sc.gpu_sku} {sc.form_factor}"
    )
    market = f"{sc.market} " if kind == "rental_hourly" else ""
    window = prices.max_age.days(kind or "")
    return f"no {market}{kind} quote for {what} in the {window} days up to {day}"
