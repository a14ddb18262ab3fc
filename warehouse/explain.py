"""The reads behind "why it moved" (`capcover explain`, alerts, the run's artifact).

Views from migration 020: v_ratio_moves (the decomposition), v_constituent_moves (coins),
v_category_gap (the category figure against its coins) and v_report_quotes (the quotes behind
each report). The price set of a report is read in ONE place, `price_set`, so a new price
method only has to change that function (or the view it reads). Bound parameters only.
"""

from __future__ import annotations

from datetime import date

from capcover.model.explain import CapSide, CoinMove, PriceSide, RatioMove, paragraph
from capcover.warehouse.db import Warehouse


def _dicts(wh: Warehouse, sql: str, params: list) -> list[dict]:
    cols, rows = wh.query_table(sql, params)
    return [dict(zip(cols, r, strict=True)) for r in rows]


def latest_day(wh: Warehouse) -> date | None:
    """The latest report date, or None when there is no report."""
    day: date | None = wh.scalar("SELECT max(report_date) FROM report_daily")
    return day


MOVE_COLUMNS = (
    "report_date",
    "scenario",
    "previous_report_date",
    "coverage_ratio",
    "previous_ratio",
    "log_change",
    "cap_effect",
    "price_effect",
    "count_effect",
)


def ratio_moves(wh: Warehouse, day: date, scenario: str | None = None) -> list[dict]:
    """v_ratio_moves rows of `day` (one scenario or all), with the report's SKU and price
    basis; empty on a scenario's first report."""
    return _dicts(
        wh,
        """
        SELECT m.*, r.gpu_sku, r.price_basis, r.basis, p.basis AS previous_basis
        FROM v_ratio_moves m JOIN report_daily r USING (report_date, scenario)
        JOIN report_daily p
          ON p.report_date = m.previous_report_date AND p.scenario = m.scenario
        WHERE m.report_date = ? AND (?::VARCHAR IS NULL OR m.scenario = ?)
        ORDER BY m.scenario""",
        [day, scenario, scenario],
    )


def coin_moves(
    wh: Warehouse, day: date, scenario: str | None = None, *, top: int | None = 5
) -> list[dict]:
    """Each constituent's contribution (USD) to the constituents' change between `day` and
    the previous report (of `scenario`, or of every scenario: scenarios that share a previous
    report date share their coins, listed once): the `top` largest up and the `top` largest
    down plus every coin that entered or left (all coins when `top` is None)."""
    return _within_top(_ranked_coin_moves(wh, day, scenario, top), top)


def _ranked_coin_moves(
    wh: Warehouse, day: date, scenario: str | None, top: int | None, moves: list[dict] | None = None
) -> list[dict]:
    """coin_moves' rows for `top` with each coin's `place` (1 = the largest move its way), so
    a smaller top can be cut from them without a second read (`_within_top`). `moves`, when
    given, are ratio_moves(wh, day, scenario): their previous dates need no read of their own."""
    if moves is None:
        previous = [
            r[0]
            for r in wh.query(
                "SELECT DISTINCT previous_report_date FROM v_ratio_moves"
                " WHERE report_date = ? AND (?::VARCHAR IS NULL OR scenario = ?)",
                [day, scenario, scenario],
            )
        ]
    else:
        previous = sorted({m["previous_report_date"] for m in moves})
    return _dicts(
        wh,
        """
        WITH ranked AS (
            SELECT *,
                   row_number() OVER (PARTITION BY previous_report_date, contribution_usd > 0
                                      ORDER BY abs(contribution_usd) DESC, coin_id) AS place
            FROM v_constituent_moves
            WHERE report_date = ? AND list_contains(?::DATE[], previous_report_date)
        )
        SELECT report_date, previous_report_date, coin_id, symbol, name, membership,
               previous_market_cap_usd, market_cap_usd, contribution_usd,
               previous_sum_usd, constituents_change_usd, place
        FROM ranked
        WHERE ?::INTEGER IS NULL OR membership <> 'stayed'
           OR (contribution_usd <> 0 AND place <= ?)
        ORDER BY previous_report_date, contribution_usd DESC, coin_id""",
        [day, previous, top, top],
    )


def _within_top(ranked: list[dict], top: int | None) -> list[dict]:
    """The rows of `ranked` (read for a top >= `top`, or None) that coin_moves(top=top) keeps,
    in their order, without `place`: the SQL filter above, NULLs as SQL treats them."""

    def kept(r: dict) -> bool:
        churned = r["membership"] is not None and r["membership"] != "stayed"
        moved = r["contribution_usd"] is not None and r["contribution_usd"] != 0
        return top is None or churned or (moved and r["place"] <= top)

    return [{k: v for k, v in r.items() if k != "place"} for r in ranked if kept(r)]


def category_gap(wh: Warehouse, day: date, scenario: str | None = None) -> list[dict]:
    """CoinGecko's category cap against its coins' sum (USD), now and at the previous report,
    once per previous report date."""
    return _dicts(
        wh,
        """
        SELECT DISTINCT ON (previous_report_date)
               report_date, previous_report_date, basis, previous_basis,
               sector_market_cap_usd, constituents_market_cap_usd, gap_usd,
               previous_sector_market_cap_usd, previous_constituents_market_cap_usd,
               previous_gap_usd, gap_change_usd
        FROM v_category_gap
        WHERE report_date = ? AND (?::VARCHAR IS NULL OR scenario = ?)
        ORDER BY previous_report_date, scenario""",
        [day, scenario, scenario],
    )


def price_set(wh: Warehouse, day: date, scenario: str) -> list[dict]:
    """The quotes behind `scenario`'s price on `day` (each source's latest quotes at or before
    it, for the scenario's SKU and quote kind); empty for fixed prices."""
    return price_sets(wh, [(day, scenario)])[(day, scenario)]


def price_sets(
    wh: Warehouse, reports: list[tuple[date, str]]
) -> dict[tuple[date, str], list[dict]]:
    """price_set of each (report date, scenario) in `reports`, in one read. THE one read of a
    report's price set: repoint it here when the price method changes."""
    sets: dict[tuple[date, str], list[dict]] = {key: [] for key in reports}
    if not reports:
        return sets
    days, scenarios = zip(*reports, strict=True)
    for q in _dicts(
        wh,
        """
        SELECT report_date, scenario, sku, kind, source, quote_id, observed_date, price_usd
        FROM v_report_quotes
        WHERE (report_date, scenario) IN (
            SELECT (unnest(?::DATE[]), unnest(?::VARCHAR[])))
        ORDER BY report_date, scenario, source, observed_date, price_usd, quote_id""",
        [list(days), list(scenarios)],
    ):
        sets[(q.pop("report_date"), q.pop("scenario"))].append(q)
    return sets


PRICE_COLUMNS = (
    "scenario",
    "gpu_sku",
    "price_basis",
    "previous_report_date",
    "previous_central_usd",
    "central_usd",
    "previous_unit_price_usd",
    "unit_price_usd",
    "previous_quote_count",
    "price_quote_count",
    "previous_price_as_of",
    "price_as_of",
    "quotes_entered",
    "quotes_left",
)


def price_changes(wh: Warehouse, move: dict) -> tuple[dict, list[dict]]:
    """For one v_ratio_moves row: the old and new central values (quote median, USD per GPU
    or per GPU-hour; unit price, USD per GPU) and the quotes that entered or left the set."""
    return price_changes_of(wh, [move])[0]


def price_changes_of(wh: Warehouse, moves: list[dict]) -> list[tuple[dict, list[dict]]]:
    """price_changes of each v_ratio_moves row in `moves`, in their order, in two reads
    whatever their number (one per scenario made `explain` a query per section and scenario)."""
    if not moves:
        return []
    reports = [(m["report_date"], m["scenario"]) for m in moves]
    sets = price_sets(wh, reports + [(m["previous_report_date"], m["scenario"]) for m in moves])
    summaries = {}
    for row in _dicts(
        wh,
        """
        SELECT r.report_date AS _day, r.scenario, r.gpu_sku, r.price_basis,
               p.report_date AS previous_report_date,
               p.quote_median_usd AS previous_central_usd, r.quote_median_usd AS central_usd,
               p.unit_price_usd AS previous_unit_price_usd, r.unit_price_usd,
               p.price_quote_count AS previous_quote_count, r.price_quote_count,
               p.price_as_of AS previous_price_as_of, r.price_as_of
        FROM (SELECT unnest(?::DATE[]) AS d, unnest(?::VARCHAR[]) AS s,
                     unnest(?::DATE[]) AS prev) w
        JOIN report_daily r ON r.report_date = w.d AND r.scenario = w.s
        JOIN report_daily p ON p.scenario = w.s AND p.report_date = w.prev""",
        [
            [d for d, _ in reports],
            [s for _, s in reports],
            [m["previous_report_date"] for m in moves],
        ],
    ):
        summaries[(row.pop("_day"), row["scenario"], row["previous_report_date"])] = row
    out = []
    for m in moves:
        day, prev, scenario = m["report_date"], m["previous_report_date"], m["scenario"]
        now_set = {q["quote_id"]: q for q in sets[(day, scenario)]}
        old_set = {q["quote_id"]: q for q in sets[(prev, scenario)]}
        changes = [
            {"scenario": scenario, "change": "entered", **q}
            for k, q in now_set.items()
            if k not in old_set
        ] + [
            {"scenario": scenario, "change": "left", **q}
            for k, q in old_set.items()
            if k not in now_set
        ]
        summary = dict(summaries[(day, scenario, prev)])
        summary["quotes_entered"] = sum(c["change"] == "entered" for c in changes)
        summary["quotes_left"] = sum(c["change"] == "left" for c in changes)
        out.append((summary, changes))
    return out


def _price_kind(price_basis: str) -> str | None:
    # price_basis is model.scenarios.PriceRule.describe(): "fixed $30,000", "median purchase
    # quote x 1.84", "median rental quote x 8,760 h".
    if "purchase" in price_basis:
        return "purchase"
    if "rental" in price_basis:
        return "rental_hourly"
    return None


PARAGRAPH_TOP = 2  # coins named per direction in a paragraph


def explanations(wh: Warehouse, day: date, scenario: str | None = None) -> dict[str, str]:
    """scenario -> the one-paragraph "why it moved" on `day` (one scenario or all), for the
    reports that have a previous report to compare with. The cap side is read once per
    previous report date: scenarios that share it share their coins."""
    moves = ratio_moves(wh, day, scenario)
    if not moves:
        return {}
    ranked = _ranked_coin_moves(wh, day, scenario, PARAGRAPH_TOP, moves)  # moves: read once
    return paragraphs(
        moves,
        price_changes_of(wh, moves),
        _within_top(ranked, PARAGRAPH_TOP),
        category_gap(wh, day, scenario),
    )


def why_it_moved(wh: Warehouse, day: date, scenario: str | None = None, *, top: int = 5) -> dict:
    """Everything `capcover explain` shows for `day`, each view read once (five reads): "moves"
    (ratio_moves), "price_changes" (price_changes_of those moves), "coins" (coin_moves with
    `top`), "gap" (category_gap) and "paragraphs" (explanations)."""
    moves = ratio_moves(wh, day, scenario)
    changes = price_changes_of(wh, moves)
    ranked = _ranked_coin_moves(wh, day, scenario, max(top, PARAGRAPH_TOP), moves)
    gap = category_gap(wh, day, scenario)
    return {
        "moves": moves,
        "price_changes": changes,
        "coins": _within_top(ranked, top),
        "gap": gap,
        "paragraphs": paragraphs(moves, changes, _within_top(ranked, PARAGRAPH_TOP), gap),
    }


def paragraphs(
    moves: list[dict], changes: list[tuple[dict, list[dict]]], coins: list[dict], gaps: list[dict]
) -> dict[str, str]:
    """scenario -> "why it moved", from rows already read: `moves` (ratio_moves), `changes`
    (price_changes_of those moves), `coins` (coin_moves, top=PARAGRAPH_TOP) and `gaps`
    (category_gap) of one day."""
    by_previous: dict[date, list[CoinMove]] = {}
    for c in coins:
        by_previous.setdefault(c["previous_report_date"], []).append(
            CoinMove(c["coin_id"], c["symbol"], c["contribution_usd"], c["membership"])
        )
    gap_change = {g["previous_report_date"]: g["gap_change_usd"] for g in gaps}
    out = {}
    for m, (summary, _changes) in zip(moves, changes, strict=True):
        if m["log_change"] is None or m["cap_effect"] is None:
            continue  # a zero cap or ratio has no log change to explain
        prev = m["previous_report_date"]
        move = RatioMove(
            report_date=m["report_date"],
            scenario=m["scenario"],
            previous_report_date=prev,
            coverage_ratio=m["coverage_ratio"],
            previous_ratio=m["previous_ratio"],
            sector_market_cap_usd=m["sector_market_cap_usd"],
            previous_sector_market_cap_usd=m["previous_sector_market_cap_usd"],
            unit_price_usd=m["unit_price_usd"],
            previous_unit_price_usd=m["previous_unit_price_usd"],
            gpu_count=m["gpu_count"],
            previous_gpu_count=m["previous_gpu_count"],
            gpu_sku=m["gpu_sku"],
            price_kind=_price_kind(m["price_basis"]),
            basis=m.get("basis") or "category",
            previous_basis=m.get("previous_basis") or "category",
        )
        cap = CapSide(
            coins=tuple(by_previous.get(prev, ())), gap_change_usd=gap_change.get(prev, 0.0)
        )
        price = PriceSide(
            previous_central_usd=summary["previous_central_usd"],
            central_usd=summary["central_usd"],
            entered=summary["quotes_entered"],
            left=summary["quotes_left"],
        )
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
        out.update({s: text for s, text in explanations(wh, day).items() if (day, s) in wanted})
    return out
