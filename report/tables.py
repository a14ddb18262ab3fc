"""Render query results as a terminal table, CSV, JSON or Markdown.

Tables of plain text are drawn here; rich draws the others (and is imported only then)."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import date, datetime
from decimal import Decimal
from typing import Any

FORMATS = ("table", "csv", "json", "markdown")


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    return value


def _cell(value: Any) -> str:
    """Human-readable cell: 25.00B, 1.50M, 30,000, 1.157."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        for scale, suffix in ((1e12, "T"), (1e9, "B"), (1e6, "M")):
            if abs(value) >= scale:
                return f"{value / scale:,.2f}{suffix}"
        return f"{value:.4g}" if abs(value) < 10 else f"{value:,.0f}"
    return str(_plain(value))


def marked(value: Any, marker: str) -> str:
    """A human-readable cell with a footnote's marker beside it ("18.52B *")."""
    return f"{_cell(value)} {marker}"


def _exact(value: Any) -> str:
    """A cell exactly as queried: ints without separators, floats at full (shortest round-trip)
    precision, decimals with all their digits."""
    if value is None:
        return ""
    if isinstance(value, Decimal):
        return str(value)
    return str(_plain(value))


def _json_value(value: Any, exact: bool) -> str:
    if exact and isinstance(value, Decimal) and value.is_finite():
        return str(value)  # a JSON number with every digit DuckDB returned (no float rounding)
    return json.dumps(_plain(value), default=str)


def _json(columns: list[str], rows: list[tuple], exact: bool) -> str:
    if not rows:
        return "[]"
    objects = [
        "  {\n"
        + ",\n".join(
            f"    {json.dumps(c)}: {_json_value(v, exact)}" for c, v in zip(columns, r, strict=True)
        )
        + "\n  }"
        for r in rows
    ]
    return "[\n" + ",\n".join(objects) + "\n]"


def render(
    columns: list[str],
    rows: list[tuple],
    fmt: str,
    *,
    title: str | None = None,
    exact: bool = False,
) -> str:
    """Rows as text in `fmt`. JSON and CSV keep full precision; tables and Markdown round for
    reading unless `exact` (then every format prints each value exactly as queried)."""
    cell = _exact if exact else _cell
    if fmt == "json":
        return _json(columns, rows, exact)
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows([[_exact(v) if exact else _plain(v) for v in r] for r in rows])
        return buf.getvalue().rstrip("\n")
    if fmt == "markdown":
        lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
        lines += ["| " + " | ".join(cell(v).replace("|", "\\|") for v in r) + " |" for r in rows]
        return "\n".join(lines)
    if fmt == "table":
        cells = [[cell(v) for v in r] for r in rows]
        plain = _plain_table(columns, cells, title)
        return plain if plain is not None else _rich_table(columns, cells, title)
    raise ValueError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")


# What _plain_table draws exactly as rich does: printable ASCII cells, and a header and title
# with nothing rich would read as markup ("[b]") or an emoji code (":smile:").
_PLAIN_CELL = re.compile(r"[ -~]*")
_PLAIN_LABEL = re.compile(r"[ -Z\\\]-~]*")  # printable ASCII without "["
_EMOJI_LIKE = re.compile(r":\S*?:")
_MAX_WIDTH = 1000  # the console width below; wider tables are rich's to shrink


def _label(text: str) -> bool:
    return bool(_PLAIN_LABEL.fullmatch(text)) and not _EMOJI_LIKE.search(text)


def _plain_table(columns: list[str], cells: list[list[str]], title: str | None) -> str | None:
    """The table rich would print (heavy head box, one space of padding), drawn without
    importing rich (~50 ms); None when a cell, header or title is not plain, the table is too
    wide or the title would wrap (tests/test_readers_lean.py compares the two)."""
    if not all(_label(c) for c in columns) or not all(
        _PLAIN_CELL.fullmatch(v) for r in cells for v in r
    ):
        return None
    widths = [max([len(c), *(len(r[i]) for r in cells)]) for i, c in enumerate(columns)]
    total = sum(w + 3 for w in widths) + 1
    if total > _MAX_WIDTH:
        return None
    lines = []
    if title is not None:
        if (
            not title
            or not _label(title)
            or len(title) > total
            or title != title.strip()
            or "  " in title
        ):
            return None
        left = (total - len(title)) // 2
        lines.append(" " * left + title + " " * (total - len(title) - left))

    def rule(left: str, bar: str, mid: str, right: str) -> str:
        return left + mid.join(bar * (w + 2) for w in widths) + right

    def line(edge: str, values: list[str]) -> str:
        return (
            edge + edge.join(f" {v.ljust(w)} " for v, w in zip(values, widths, strict=True)) + edge
        )

    lines.append(rule("\u250f", "\u2501", "\u2533", "\u2513"))
    lines.append(line("\u2503", list(columns)))
    lines.append(rule("\u2521", "\u2501", "\u2547", "\u2529"))
    lines += [line("\u2502", r) for r in cells]
    lines.append(rule("\u2514", "\u2500", "\u2534", "\u2518"))
    return "\n".join(lines)


def _rich_table(columns: list[str], cells: list[list[str]], title: str | None) -> str:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    table = Table(title=title, show_lines=False)
    for c in columns:
        table.add_column(c, no_wrap=True)
    for r in cells:
        # Text, not markup: a value like "[b]x" is printed as it is.
        table.add_row(*(Text(v) for v in r))
    # Wide enough never to fold a cell; the terminal wraps long lines itself.
    console = Console(file=io.StringIO(), width=_MAX_WIDTH, record=True)
    console.print(table)
    return console.export_text().rstrip("\n")
