"""Render query results as a terminal table, CSV, JSON or Markdown."""

from __future__ import annotations

import csv
import io
import json
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
    objects = ["  {\n" + ",\n".join(f"    {json.dumps(c)}: {_json_value(v, exact)}"
                                     for c, v in zip(columns, r, strict=True)) + "\n  }"
               for r in rows]
    return "[\n" + ",\n".join(objects) + "\n]"


def render(columns: list[str], rows: list[tuple], fmt: str, *, title: str | None = None,
           exact: bool = False) -> str:
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
        from rich.console import Console
        from rich.table import Table
        from rich.text import Text

        table = Table(title=title, show_lines=False)
        for c in columns:
            table.add_column(c, no_wrap=True)
        for r in rows:
            # Text, not markup: a value like "[b]x" is printed as it is.
            table.add_row(*(Text(cell(v)) for v in r))
        # Wide enough never to fold a cell; the terminal wraps long lines itself.
        console = Console(file=io.StringIO(), width=1000, record=True)
        console.print(table)
        return console.export_text().rstrip("\n")
    raise ValueError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")

