"""Which columns each command's table shows.

A command's default table shows the few columns a person reads (`View.default`; a few of them
only when some row needs them, `View.when`), labelled for reading; `--wide` shows every
column, `--columns a,b,c` exactly those (in every format). CSV and JSON carry every column at
full precision unless `--columns` narrows them. A view may add
computed columns (`covers`) and show a real column its own way (the ratio with its band)
in tables and Markdown only; CSV and JSON always carry the raw values.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from capcover.model.text import fmt_parameter, fmt_ratio, fmt_usd, md_text
from capcover.report.tables import Shown

Row = dict[str, Any]


class ColumnError(ValueError):
    """`--columns` named a column the command does not have (the CLI exits 2)."""


@dataclass(frozen=True)
class View:
    """What a command's table shows by default (`when`: those of its columns shown only when a
    row needs them), how it labels columns, the columns it computes (`derived`: key -> raw
    value from the row) and the real or computed columns it shows its own way in tables
    (`shown`: key -> (row, displayed keys) -> Shown)."""

    default: tuple[str, ...]
    labels: Mapping[str, str] = field(default_factory=dict)
    derived: Mapping[str, Callable[[Row], Any]] = field(default_factory=dict)
    shown: Mapping[str, Callable[[Row, Sequence[str]], Shown | None]] = field(default_factory=dict)
    # Default columns shown only when some row needs them (key -> that row's test): e.g. a
    # backfilled row's sector cap, which carries the survivorship marker.
    when: Mapping[str, Callable[[Row], bool]] = field(default_factory=dict)


def parse_columns(text: str | None) -> list[str] | None:
    """`--columns a,b,c` as a list (None when not given); blanks and repeats dropped."""
    if text is None:
        return None
    names = list(dict.fromkeys(p.strip() for p in text.split(",") if p.strip()))
    if not names:
        raise ColumnError("--columns needs at least one column name, e.g. --columns a,b")
    return names


def available(view: View, columns: Sequence[str]) -> list[str]:
    return [*columns, *(k for k in view.derived if k not in columns)]


def choose(
    view: View,
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    fmt: str,
    wide: bool = False,
    picked: Sequence[str] | None = None,
    what: str = "this command",
) -> tuple[list[str], list[tuple], dict[str, str]]:
    """The columns, rows and labels to render in `fmt`: `picked` (checked against what the
    command has), else every column (`wide`, CSV, JSON), else the view's default."""
    names = available(view, columns)
    if picked:
        unknown = [c for c in picked if c not in names]
        if unknown:
            raise ColumnError(
                f"{what} has no column {', '.join(repr(c) for c in unknown)}; its columns: "
                f"{', '.join(names)}"
            )
        keys = list(picked)
    elif wide or fmt in ("csv", "json"):
        keys = list(columns) if fmt in ("csv", "json") else names
    else:
        records = [dict(zip(columns, values, strict=True)) for values in rows]
        keys = [
            k
            for k in view.default
            if k in names and (k not in view.when or any(map(view.when[k], records)))
        ]
    raw = fmt in ("csv", "json")
    out = []
    for values in rows:
        row = dict(zip(columns, values, strict=True))
        cells = []
        for k in keys:
            value = row[k] if k in row else view.derived[k](row)
            if not raw and k in view.shown:
                value = view.shown[k](row, keys) or value
            cells.append(value)
        out.append(tuple(cells))
    labels = {} if raw else {k: view.labels.get(k, k) for k in keys}
    return keys, out, labels


# -- the views -------------------------------------------------------------------------------


def _covers(row: Row) -> bool | None:
    ratio = row.get("coverage_ratio")
    return None if ratio is None else ratio >= 1


def _ratio_with_band(row: Row, keys: Sequence[str]) -> Shown | None:
    """1.157 (1.157–1.208): the ratio and, when the quotes left it a range, its band."""
    ratio, low, high = (row.get(k) for k in ("coverage_ratio", *BAND))
    if ratio is None or any(k in keys for k in BAND):
        return None
    if low is None or high is None or low == high:
        return Shown(fmt_ratio(ratio), numeric=True)
    return Shown(f"{fmt_ratio(ratio)} ({fmt_ratio(low)}\u2013{fmt_ratio(high)})", numeric=True)


BAND = ("coverage_ratio_low", "coverage_ratio_high")

# A backfilled row's sector cap (basis `history`) sums TODAY's constituents over a past day:
# the marker beside it and the footnote that says so (CSV and JSON carry survivorship_biased).
SURVIVORS_MARKER = "*"
SURVIVORS_NOTE = (
    "* today's constituents: on a backfilled row (basis history) the sector cap sums the coins "
    "in the category TODAY over that past day; coins that left or died since are missing, so it "
    "is a lower bound biased toward survivors (column survivorship_biased)"
)


def _survivor(row: Row) -> bool:
    return row.get("basis") == "history"


def _cap_marked(row: Row, keys: Sequence[str]) -> Shown | None:
    """$18.52B *: a backfilled row's cap with the survivorship marker (others as they are)."""
    cap = row.get("sector_market_cap_usd")
    if cap is None or not _survivor(row):
        return None
    return Shown(f"{fmt_usd(cap)} {SURVIVORS_MARKER}", numeric=True)


REPORT = View(
    default=(
        "report_date",
        "scenario",
        "coverage_ratio",
        "covers",
        "sector_market_cap_usd",
        "unit_price_usd",
        "price_basis",
    ),
    labels={
        "report_date": "date",
        "coverage_ratio": "ratio (band)",
        "covers": "covers?",
        "sector_market_cap_usd": "sector cap",
        "unit_price_usd": "unit price",
        "price_basis": "price basis",
    },
    derived={"covers": _covers},
    shown={"coverage_ratio": _ratio_with_band, "sector_market_cap_usd": _cap_marked},
    # The cap is the ratio's numerator; by default it is shown when it carries a caveat.
    when={"sector_market_cap_usd": _survivor},
)


def report_footnote(
    columns: Sequence[str], rows: Sequence[Sequence[Any]], keys: Sequence[str], fmt: str
) -> str | None:
    """The survivorship footnote under a table or Markdown report whose shown sector cap
    carries the marker on some row (None otherwise: CSV, JSON, no cap shown, no backfill)."""
    if fmt not in ("table", "markdown") or "sector_market_cap_usd" not in keys:
        return None
    if not any(_survivor(dict(zip(columns, r, strict=True))) for r in rows):
        return None
    return md_text(SURVIVORS_NOTE) if fmt == "markdown" else SURVIVORS_NOTE


def _message(row: Row) -> str | None:
    """The alert's message without its "why it moved" paragraph (`capcover explain` has it)."""
    message = row.get("message")
    return None if message is None else message.split(". Why: ", 1)[0]


def _ratio_change(row: Row, keys: Sequence[str]) -> Shown | None:
    if "previous_ratio" in keys:
        return None
    was, now = row.get("previous_ratio"), row.get("current_ratio")
    if now is None:
        return None
    text = fmt_ratio(now) if was is None else f"{fmt_ratio(was)} \u2192 {fmt_ratio(now)}"
    return Shown(text, numeric=True)


ALERTS = View(
    default=("report_date", "scenario", "rule", "delivery_state", "summary"),
    labels={
        "report_date": "date",
        "current_ratio": "ratio",
        "delivery_state": "delivery",
        "summary": "message",
    },
    derived={"summary": _message},
    shown={"current_ratio": _ratio_change},
)


def _price(row: Row, keys: Sequence[str]) -> Shown | None:
    price = row.get("price_usd")
    if price is None:
        return None
    per = "/GPU-h" if row.get("kind") == "rental_hourly" else ""
    return Shown(fmt_usd(price) + per, numeric=True)


QUOTES = View(
    default=("observed_date", "sku", "form_factor", "kind", "price_usd", "source", "tier"),
    labels={
        "observed_date": "observed",
        "form_factor": "form",
        "price_usd": "USD",
    },
    shown={"price_usd": _price},
)


def _central(row: Row, keys: Sequence[str]) -> Shown | None:
    """$30,000 ($29,500–$31,000): the central value and the quartiles around it."""
    central, q1, q3 = row.get("central_usd"), row.get("q1_usd"), row.get("q3_usd")
    if central is None or "q1_usd" in keys or "q3_usd" in keys:
        return None
    if q1 is None or q3 is None or q1 == q3:
        return Shown(fmt_usd(central), numeric=True)
    return Shown(f"{fmt_usd(central)} ({fmt_usd(q1)}\u2013{fmt_usd(q3)})", numeric=True)


QUOTE_STATS = View(
    default=(
        "sku",
        "form_factor",
        "kind",
        "market",
        "condition",
        "quote_count",
        "central_usd",
        "sources",
    ),
    labels={
        "form_factor": "form",
        "quote_count": "quotes",
        "central_usd": "central (q1\u2013q3)",
    },
    shown={"central_usd": _central},
    # Purchases are priced new and used apart: the condition tells their two rows apart, so
    # it is shown when a used group is.
    when={"condition": lambda row: row.get("condition") == "used"},
)


def _flow_run_url(row: Row) -> str | None:
    from capcover.report.advice import flow_run_url

    return flow_run_url(row.get("flow_run_id"))


STATUS = View(
    default=(
        "started_at",
        "kind",
        "status",
        "as_of_date",
        "duration_s",
        "reports_written",
        "alerts_sent",
        "message",
    ),
    labels={
        "started_at": "started",
        "as_of_date": "as of",
        "duration_s": "secs",
        "reports_written": "reports",
        "alerts_sent": "alerts",
    },
    derived={"flow_run_url": _flow_run_url},
)


def _ratio_move(row: Row, keys: Sequence[str]) -> Shown | None:
    if "previous_ratio" in keys:
        return None
    return Shown(
        f"{fmt_ratio(row.get('previous_ratio'))} \u2192 {fmt_ratio(row.get('coverage_ratio'))}",
        numeric=True,
    )


def _coin(row: Row) -> str | None:
    return row.get("symbol") or row.get("coin_id")


def _change(before: str, after: str) -> Callable[[Row, Sequence[str]], Shown | None]:
    def show(row: Row, keys: Sequence[str]) -> Shown | None:
        if before in keys:
            return None
        was, now = row.get(before), row.get(after)
        return Shown(f"{fmt_usd(was) or '—'} \u2192 {fmt_usd(now) or '—'}", numeric=True)

    return show


def _parameter(row: Row, keys: Sequence[str]) -> Shown | None:
    """A scenario parameter as written (model/text.py fmt_parameter), never rounded to 3
    decimals: a 0.0806 USD/kWh price or a 1.84 multiplier is what the row was made of."""
    value = row.get("value")
    return None if value is None else Shown(fmt_parameter(value), numeric=True)


# v_report_parameters (warehouse/queries.py PARAMETER_COLUMNS): what compute-equivalent counts
# and total costs were made of; `capcover report` prints it under the table, `capcover
# explain` as its `parameters` section.
PARAMETERS = View(
    default=("scenario", "parameter", "value", "unit", "note"),
    shown={"value": _parameter},
)


EXPLAIN = {
    "moves": View(
        default=(
            "scenario",
            "previous_report_date",
            "coverage_ratio",
            "log_change",
            "cap_effect",
            "price_effect",
            "count_effect",
        ),
        labels={
            "previous_report_date": "since",
            "coverage_ratio": "ratio",
            "log_change": "change",
            "cap_effect": "cap",
            "price_effect": "price",
            "count_effect": "count",
        },
        shown={"coverage_ratio": _ratio_move},
    ),
    "coins": View(
        default=("coin", "membership", "market_cap_usd", "contribution_usd"),
        labels={
            "market_cap_usd": "market cap",
            "contribution_usd": "contribution",
        },
        derived={"coin": _coin},
        shown={"market_cap_usd": _change("previous_market_cap_usd", "market_cap_usd")},
    ),
    "gap": View(
        default=(
            "previous_report_date",
            "sector_market_cap_usd",
            "constituents_market_cap_usd",
            "gap_usd",
            "gap_change_usd",
        ),
        labels={
            "previous_report_date": "since",
            "sector_market_cap_usd": "category cap",
            "constituents_market_cap_usd": "coins' sum",
            "gap_usd": "gap",
            "gap_change_usd": "gap change",
        },
    ),
    "prices": View(
        default=(
            "scenario",
            "gpu_sku",
            "central_usd",
            "unit_price_usd",
            "quotes_entered",
            "quotes_left",
        ),
        labels={
            "gpu_sku": "GPU",
            "central_usd": "central",
            "unit_price_usd": "unit price",
            "quotes_entered": "entered",
            "quotes_left": "left",
        },
        shown={
            "central_usd": _change("previous_central_usd", "central_usd"),
            "unit_price_usd": _change("previous_unit_price_usd", "unit_price_usd"),
        },
    ),
    "quotes": View(
        default=("scenario", "change", "sku", "source", "observed_date", "price_usd"),
        labels={"observed_date": "observed", "price_usd": "USD"},
    ),
    "parameters": PARAMETERS,
    # warehouse/queries.py report_depth: gpu_depth rows against each rental row, then its total
    "depth": View(
        default=("scenario", "gpu_count", "form_factor", "source", "gpus_seen", "counted"),
        labels={
            "gpu_count": "needed",
            "form_factor": "form",
            "gpus_seen": "rentable now",
        },
    ),
}
