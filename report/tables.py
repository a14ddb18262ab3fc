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


def render(columns: list[str], rows: list[tuple], fmt: str, *, title: str | None = None) -> str:
    """Rows as text in `fmt`. JSON and CSV keep full precision; tables round for reading."""
    if fmt == "json":
        return json.dumps([dict(zip(columns, map(_plain, r), strict=True)) for r in rows],
                          indent=2, default=str)
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows([[_plain(v) for v in r] for r in rows])
        return buf.getvalue().rstrip("\n")
    if fmt == "markdown":
        lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
        lines += ["| " + " | ".join(_cell(v).replace("|", "\\|") for v in r) + " |" for r in rows]
        return "\n".join(lines)
    if fmt == "table":
        from rich.console import Console
        from rich.table import Table

        table = Table(title=title, show_lines=False)
        for c in columns:
            table.add_column(c, no_wrap=True)
        for r in rows:
            table.add_row(*(_cell(v) for v in r))
        # Wide enough never to fold a cell; the terminal wraps long lines itself.
        console = Console(file=io.StringIO(), width=1000, record=True)
        console.print(table)
        return console.export_text().rstrip("\n")
    raise ValueError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")

