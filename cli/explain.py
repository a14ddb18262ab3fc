"""`capcover explain`: why the ratio moved since the previous report, as a paragraph and the
tables behind it (the public API's Reader.explain, formatted here). Reads only; no Prefect
import."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import TYPE_CHECKING, Any

from capcover.cli.common import EXIT_OK, EXIT_USAGE, columns_given, echo, fail, nothing

if TYPE_CHECKING:
    import click

# (section, title) in print order; each section is a list of rows (dicts).
SECTIONS = (
    ("moves", "ratio change = cap_effect - price_effect - count_effect (natural logs)"),
    ("coins", "top coin contributions to the constituents' change (USD), entered and left"),
    ("gap", "CoinGecko's category cap against its coins' sum (USD)"),
    ("prices", "the price set: old and new central values"),
    ("quotes", "quotes that entered or left the price set"),
    ("parameters", "scenario parameters: compute-equivalent counts and total-cost terms"),
    ("depth", "GPUs rentable now against each rental scenario's count, by source"),
)
# A paragraph's marker of a backfilled cap (model/explain.py), whose footnote follows them.
SURVIVORS_MARK = "today's constituents*"

Chosen = tuple[list[str], list[tuple[Any, ...]], dict[str, str]]


def _table(rows: list[dict[str, Any]]) -> tuple[list[str], list[tuple[Any, ...]]]:
    cols = list(rows[0]) if rows else ["(none)"]
    return cols, [tuple(r.values()) for r in rows]


def _section(
    name: str, data: dict[str, Any], fmt: str, wide: bool, picked: Sequence[str] | None
) -> Chosen | None:
    """One section's columns, rows and labels as its view chooses them; None when `picked`
    names none of its columns."""
    from capcover.report.views import EXPLAIN, available, choose

    view = EXPLAIN[name]
    if not data[name]:
        return [], [], {}
    cols, rows = _table(data[name])
    if picked is not None:
        mine = [c for c in picked if c in available(view, cols)]
        if not mine:
            return None
        picked = mine
    return choose(view, cols, rows, fmt=fmt, wide=wide, picked=picked)


def check_columns(data: dict[str, Any], picked: Sequence[str] | None) -> None:
    """Exit 2 when `--columns` names a column no section has."""
    from capcover.report.views import EXPLAIN, available

    if not picked:
        return
    names = [c for name, _ in SECTIONS for c in available(EXPLAIN[name], _table(data[name])[0])]
    unknown = [c for c in picked if c not in names]
    if unknown:
        fail(
            f"capcover explain has no column {', '.join(repr(c) for c in unknown)}; its "
            f"columns: {', '.join(dict.fromkeys(names))}",
            EXIT_USAGE,
        )


def _paragraphs(data: dict[str, Any]) -> list[str]:
    """The paragraphs, and the survivorship footnote after them when one marks a cap."""
    paragraphs = [p for p in data["paragraphs"].values() if p]
    if any(SURVIVORS_MARK in p for p in paragraphs):
        from capcover.model.explain import SURVIVORSHIP_NOTE

        paragraphs.append(SURVIVORSHIP_NOTE)
    return paragraphs


def render_explanation(
    data: dict[str, Any], fmt: str, *, wide: bool = False, picked: Sequence[str] | None = None
) -> str:
    """The paragraphs and the sections in `fmt`: JSON is one object; CSV is one block per
    section, each headed by a `# <section>` line; table and markdown put the paragraphs
    first (a table's paragraphs fitted to the terminal), then the survivorship footnote when
    a paragraph marks a backfilled cap."""
    from capcover.model.text import md_text
    from capcover.report.tables import render, wrap_paragraph

    if fmt == "json":
        out = {"report_date": data["report_date"], "paragraphs": data["paragraphs"]}
        for name, _title in SECTIONS:
            chosen = _section(name, data, fmt, wide, picked)
            if chosen is not None:
                cols, rows, _labels = chosen
                out[name] = [dict(zip(cols, r, strict=True)) for r in rows]
        from capcover.model.text import json_text

        return json_text(out, indent=2)  # dates as YYYY-MM-DD; NaN and Infinity as null
    blocks = []
    if fmt == "csv":
        for name, _title in SECTIONS:
            chosen = _section(name, data, fmt, wide, picked)
            if chosen is not None:
                cols, rows, _labels = chosen
                blocks.append(f"# {name}" + ("\n" + render(cols, rows, "csv") if cols else ""))
        return "\n\n".join(blocks)
    paragraphs = _paragraphs(data)
    width = 0 if wide else None
    if fmt == "markdown":
        blocks.append(f"## Why it moved ({data['report_date']})")
        blocks += [md_text(p) for p in paragraphs]
        for name, title in SECTIONS:
            chosen = _section(name, data, fmt, wide, picked)
            if chosen is not None:
                cols, rows, labels = chosen
                table = render(cols, rows, "markdown", labels=labels) if cols else "_none_"
                blocks.append(f"### {name}: {title}\n\n{table}")
        return "\n\n".join(blocks)
    blocks.append(f"Why it moved ({data['report_date']})")
    blocks += [p if wide else wrap_paragraph(p) for p in paragraphs]
    for name, title in SECTIONS:
        chosen = _section(name, data, fmt, wide, picked)
        if chosen is not None:
            cols, rows, labels = chosen
            if not cols:
                blocks.append(f"{name}: {title} — none")
                continue
            blocks.append(
                render(cols, rows, "table", title=f"{name}: {title}", labels=labels, width=width)
            )
    return "\n\n".join(blocks)


def explain(
    db: str | None,
    day: date | None,
    scenario: str | None,
    fmt: str,
    wide: bool = False,
    columns: str | None = None,
) -> int:
    """`capcover explain`: the paragraphs and tables of `day` (default: the latest report)."""
    from capcover.api import Reader
    from capcover.cli.lookup import check_scenario, no_report_on

    picked = columns_given(columns)
    reader = Reader(db=db)
    why = reader.explain(day=day, scenario=scenario) if check_scenario(reader, scenario) else None
    if why is None:
        nodata: dict[str, Any] = {"report_date": None, "paragraphs": {}}
        nodata.update({n: [] for n, _t in SECTIONS})
        return nothing(
            f"no report rows in {reader.db} — run `capcover run` first",
            fmt,
            render_explanation(nodata, fmt) if fmt in ("csv", "json") else None,
        )
    data = why.as_dict()
    check_columns(data, picked)
    if not data["moves"]:
        day = why.report_date
        if not reader.report(day=day, scenario=scenario).rows:
            reason = no_report_on(reader, day, scenario)
        else:
            what = f" of {scenario}" if scenario else ""
            reason = (
                f"the report{what} of {day} has no previous report to compare with in "
                f"{reader.db} — pick a later --date (see `capcover report`)"
            )
        empty = render_explanation(data, fmt, picked=picked) if fmt in ("csv", "json") else None
        return nothing(reason, fmt, empty)
    echo(render_explanation(data, fmt, wide=wide, picked=picked))
    return EXIT_OK


def register(group: click.Group) -> None:
    import click

    from capcover.cli.options import DATE, db_option, format_option, root_db, table_options

    @group.command("explain")
    @click.option("--date", "day", type=DATE, help="report date (default: latest)")
    @click.option("--scenario", help="one scenario (default: all)")
    @format_option
    @table_options
    @db_option
    def explain_cmd(
        day: date | None, scenario: str | None, fmt: str, wide: bool, columns: str | None
    ) -> int:
        """Why the coverage ratio moved since the previous report: cap, price and GPU count.

        --columns keeps, in every section, those of the named columns it has (a section with
        none of them is left out)."""
        return explain(root_db(), day, scenario, fmt, wide, columns)
