"""`capcover explain`: why the ratio moved since the previous report, as a paragraph and the
tables behind it. Reads only; no Prefect import."""

from __future__ import annotations

import json
from datetime import date
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import click

from capcover.cli.common import echo, fail

# (section, title) in print order; each section is a list of rows (dicts).
SECTIONS = (
    ("moves", "ratio change = cap_effect - price_effect - count_effect (natural logs)"),
    ("coins", "top coin contributions to the constituents' change (USD), entered and left"),
    ("gap", "CoinGecko's category cap against its coins' sum (USD)"),
    ("prices", "the price set: old and new central values"),
    ("quotes", "quotes that entered or left the price set"),
)


def _table(rows: list[dict]) -> tuple[list[str], list[tuple]]:
    cols = list(rows[0]) if rows else ["(none)"]
    return cols, [tuple(r.values()) for r in rows]


def render_explanation(data: dict, fmt: str) -> str:
    """The paragraphs and the sections in `fmt`: JSON is one object; CSV is one block per
    section, each headed by a `# <section>` line; table and markdown put the paragraphs
    first."""
    from capcover.report.tables import render

    if fmt == "json":
        return json.dumps(data, indent=2, default=str)  # dates as YYYY-MM-DD
    blocks = []
    if fmt == "csv":
        for name, _title in SECTIONS:
            blocks.append(f"# {name}\n" + render(*_table(data[name]), "csv"))
        return "\n\n".join(blocks)
    paragraphs = [p for p in data["paragraphs"].values() if p]
    if any("today's constituents*" in p for p in paragraphs):
        from capcover.model.explain import SURVIVORSHIP_NOTE

        paragraphs.append(SURVIVORSHIP_NOTE)  # the footnote of the marker
    if fmt == "markdown":
        blocks.append(f"## Why it moved ({data['report_date']})")
        blocks += paragraphs
        for name, title in SECTIONS:
            blocks.append(f"### {name}: {title}\n\n" + render(*_table(data[name]), "markdown"))
        return "\n\n".join(blocks)
    blocks.append(f"Why it moved ({data['report_date']})")
    blocks += paragraphs
    for name, title in SECTIONS:
        blocks.append(render(*_table(data[name]), "table", title=f"{name}: {title}"))
    return "\n\n".join(blocks)


def explain(db: str | None, day: date | None, scenario: str | None, fmt: str) -> None:
    """`capcover explain`: the paragraphs and tables of `day` (default: the latest report)."""
    from capcover.api import Reader

    reader = Reader(db=db)
    why = reader.explain(day=day, scenario=scenario)
    if why is None:
        fail(f"no report rows in {reader.db} — run `capcover run` first")
    if not why.moves:
        what = f" of scenario {scenario}" if scenario else ""
        fail(
            f"no report{what} on {why.report_date} with a previous report to compare with in "
            f"{reader.db} — pick another --date (see `capcover report`)"
        )
    echo(render_explanation(why.as_dict(), fmt))


def register(group: click.Group) -> None:
    import click

    from capcover.cli.options import DATE, format_option, root_db

    @group.command("explain")
    @click.option("--date", "day", type=DATE, help="report date (default: latest)")
    @click.option("--scenario", help="one scenario (default: all)")
    @format_option
    def explain_cmd(day: date | None, scenario: str | None, fmt: str) -> None:
        """Why the coverage ratio moved since the previous report: cap, price and GPU count."""
        explain(root_db(), day, scenario, fmt)
