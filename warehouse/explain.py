"""The reads behind "why it moved" (`capcover explain`, alerts, the run's artifact).

Views from migration 020: v_ratio_moves (the decomposition), v_constituent_moves (coins),
v_category_gap (the category figure against its coins) and v_report_quotes (the quotes behind
each report). The price set of a report is read in ONE place, `price_set`, so a new price
method only has to change that function (or the view it reads). Bound parameters only.
"""

from __future__ import annotations

from datetime import date

from model.explain import CapSide, CoinMove, PriceSide, RatioMove, paragraph
from warehouse.db import Warehouse


def _dicts(wh: Warehouse, sql: str, params: list) -> list[dict]:
    cols, rows = wh.query_table(sql, params)
    return [dict(zip(cols, r, strict=True)) for r in rows]


def latest_day(wh: Warehouse) -> date | None:
    """The latest report date, or None when there is no report."""
    return wh.scalar("SELECT max(report_date) FROM report_daily")


MOVE_COLUMNS = ("report_date", "scenario", "previous_report_date", "coverage_ratio",
                "previous_ratio", "log_change", "cap_effect", "price_effect", "count_effect")


def ratio_moves(wh: Warehouse, day: date, scenario: str | None = None) -> list[dict]:
    """v_ratio_moves rows of `day` (one scenario or all), with the report's SKU and price
    basis; empty on a scenario's first report."""
    return _dicts(wh, """
        SELECT m.*, r.gpu_sku, r.price_basis
        FROM v_ratio_moves m JOIN report_daily r USING (report_date, scenario)
        WHERE m.report_date = ? AND (?::VARCHAR IS NULL OR m.scenario = ?)
        ORDER BY m.scenario""", [day, scenario, scenario])


def coin_moves(wh: Warehouse, day: date, scenario: str | None = None, *,
               top: int | None = 5) -> list[dict]:
    """Each constituent's contribution (USD) to the constituents' change between `day` and
    the previous report (of `scenario`, or of every scenario: scenarios that share a previous
    report date share their coins, listed once): the `top` largest up and the `top` largest
    down plus every coin that entered or left (all coins when `top` is None)."""
    previous = [r[0] for r in wh.query(
        "SELECT DISTINCT previous_report_date FROM v_ratio_moves"
        " WHERE report_date = ? AND (?::VARCHAR IS NULL OR scenario = ?)",
        [day, scenario, scenario])]
    return _dicts(wh, """
        WITH ranked AS (
            SELECT *,
                   row_number() OVER (PARTITION BY previous_report_date, contribution_usd > 0
                                      ORDER BY abs(contribution_usd) DESC, coin_id) AS place
            FROM v_constituent_moves
            WHERE report_date = ? AND list_contains(?::DATE[], previous_report_date)
        )
        SELECT report_date, previous_report_date, coin_id, symbol, name, membership,
               previous_market_cap_usd, market_cap_usd, contribution_usd,
               previous_sum_usd, constituents_change_usd
        FROM ranked
        WHERE ?::INTEGER IS NULL OR membership <> 'stayed'
           OR (contribution_usd <> 0 AND place <= ?)
        ORDER BY previous_report_date, contribution_usd DESC, coin_id""",
                  [day, previous, top, top])


def category_gap(wh: Warehouse, day: date, scenario: str | None = None) -> list[dict]:
    """CoinGecko's category cap against its coins' sum (USD), now and at the previous report,
    once per previous report date."""
    return _dicts(wh, """
        SELECT DISTINCT ON (previous_report_date)
               report_date, previous_report_date, basis, previous_basis,
               sector_market_cap_usd, constituents_market_cap_usd, gap_usd,
               previous_sector_market_cap_usd, previous_constituents_market_cap_usd,
               previous_gap_usd, gap_change_usd
        FROM v_category_gap
        WHERE report_date = ? AND (?::VARCHAR IS NULL OR scenario = ?)
        ORDER BY previous_report_date, scenario""", [day, scenario, scenario])


def price_set(wh: Warehouse, day: date, scenario: str) -> list[dict]:
    """The quotes behind `scenario`'s price on `day` (each source's latest quotes at or before
    it, for the scenario's SKU and quote kind); empty for fixed prices. THE one read of a
    report's price set: repoint it here when the price method changes."""
    return _dicts(wh, """
        SELECT sku, kind, source, quote_id, observed_date, price_usd
        FROM v_report_quotes WHERE report_date = ? AND scenario = ?
        ORDER BY source, observed_date, price_usd, quote_id""", [day, scenario])


PRICE_COLUMNS = ("scenario", "gpu_sku", "price_basis", "previous_report_date",
                 "previous_central_usd", "central_usd", "previous_unit_price_usd",
                 "unit_price_usd", "previous_quote_count", "price_quote_count",
                 "previous_price_as_of", "price_as_of", "quotes_entered", "quotes_left")


def price_changes(wh: Warehouse, move: dict) -> tuple[dict, list[dict]]:
    """For one v_ratio_moves row: the old and new central values (quote median, USD per GPU
    or per GPU-hour; unit price, USD per GPU) and the quotes that entered or left the set."""
    day, prev, scenario = move["report_date"], move["previous_report_date"], move["scenario"]
    now_set = {q["quote_id"]: q for q in price_set(wh, day, scenario)}
    old_set = {q["quote_id"]: q for q in price_set(wh, prev, scenario)}
    changes = ([{"scenario": scenario, "change": "entered", **q}
                for k, q in now_set.items() if k not in old_set]
               + [{"scenario": scenario, "change": "left", **q}
                  for k, q in old_set.items() if k not in now_set])
    (summary,) = _dicts(wh, """
        SELECT r.scenario, r.gpu_sku, r.price_basis, p.report_date AS previous_report_date,
               p.quote_median_usd AS previous_central_usd, r.quote_median_usd AS central_usd,
               p.unit_price_usd AS previous_unit_price_usd, r.unit_price_usd,
               p.price_quote_count AS previous_quote_count, r.price_quote_count,
               p.price_as_of AS previous_price_as_of, r.price_as_of
        FROM report_daily r JOIN report_daily p ON p.scenario = r.scenario
        WHERE r.report_date = ? AND r.scenario = ? AND p.report_date = ?""",
                        [day, scenario, prev])
    summary["quotes_entered"] = sum(c["change"] == "entered" for c in changes)
    summary["quotes_left"] = sum(c["change"] == "left" for c in changes)
    return summary, changes


def _price_kind(price_basis: str) -> str | None:
    # price_basis is model.scenarios.PriceRule.describe(): "fixed $30,000", "median purchase
    # quote x 1.84", "median rental quote x 8,760 h".
    if "purchase" in price_basis:
        return "purchase"
    if "rental" in price_basis:
        return "rental_hourly"
    return None


def explanations(wh: Warehouse, day: date, scenario: str | None = None) -> dict[str, str]:
    """scenario -> the one-paragraph "why it moved" on `day` (one scenario or all), for the
    reports that have a previous report to compare with. The cap side is read once per
    previous report date: scenarios that share it share their coins."""
    coins: dict[date, list[CoinMove]] = {}
    for c in coin_moves(wh, day, scenario, top=2):
        coins.setdefault(c["previous_report_date"], []).append(
            CoinMove(c["coin_id"], c["symbol"], c["contribution_usd"], c["membership"]))
    gaps = {g["previous_report_date"]: g["gap_change_usd"]
            for g in category_gap(wh, day, scenario)}
    out = {}
    for m in ratio_moves(wh, day, scenario):
        if m["log_change"] is None or m["cap_effect"] is None:
            continue  # a zero cap or ratio has no log change to explain
        prev = m["previous_report_date"]
        move = RatioMove(
            report_date=m["report_date"], scenario=m["scenario"], previous_report_date=prev,
            coverage_ratio=m["coverage_ratio"], previous_ratio=m["previous_ratio"],
            sector_market_cap_usd=m["sector_market_cap_usd"],
            previous_sector_market_cap_usd=m["previous_sector_market_cap_usd"],
            unit_price_usd=m["unit_price_usd"],
            previous_unit_price_usd=m["previous_unit_price_usd"], gpu_count=m["gpu_count"],
            previous_gpu_count=m["previous_gpu_count"], gpu_sku=m["gpu_sku"],
            price_kind=_price_kind(m["price_basis"]))
        cap = CapSide(coins=tuple(coins.get(prev, ())), gap_change_usd=gaps.get(prev, 0.0))
        summary, _changes = price_changes(wh, m)
        price = PriceSide(previous_central_usd=summary["previous_central_usd"],
                          central_usd=summary["central_usd"], entered=summary["quotes_entered"],
                          left=summary["quotes_left"])
        out[m["scenario"]] = paragraph(move, cap, price)
    return out


def explain_paragraph(wh: Warehouse, day: date, scenario: str) -> str | None:
    """The one-paragraph "why it moved" of `scenario` on `day`, or None when that report has
    no previous report to compare with (or does not exist)."""
    return explanations(wh, day, scenario).get(scenario)


def explain_all(wh: Warehouse, rows: list) -> dict[str, str]:
    """scenario -> "why it moved" for report rows (model.report.ReportRow) that have a
    previous report to compare with."""
    wanted = {(r.report_date, r.scenario) for r in rows}
    out = {}
    for day in sorted({d for d, _ in wanted}):
        out.update({s: text for s, text in explanations(wh, day).items()
                    if (day, s) in wanted})
    return out
