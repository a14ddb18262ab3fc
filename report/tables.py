"""Render query results as a terminal table, CSV, JSON or Markdown.

- table: the boxed table a person reads, fitted to the terminal's width (`terminal_width`):
  text columns wrap inside their cells, numbers and dates never do; one format per kind of
  number (model/text.py); text from outside with its control characters escaped.
- markdown: the same cells, every text value Markdown-escaped (`model.text.md_text`).
- csv: every value at full precision; text cells neutralised for spreadsheets (`csv_text`).
- json: every value at full precision (`json.dumps` escapes controls and non-ASCII), NaN and
  Infinity as null (`model.text.json_text`: valid JSON always).

No rich here: the table is drawn in a few lines of Python (read-only commands stay light).
"""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
import unicodedata
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any, NamedTuple

from capcover.model.text import (
    csv_text,
    escape_controls,
    fmt_count,
    fmt_date,
    fmt_number,
    fmt_pct,
    fmt_ratio,
    fmt_seconds,
    fmt_time,
    fmt_usd,
    json_text,
    md_text,
)

FORMATS = ("table", "csv", "json", "markdown")
DEFAULT_WIDTH = 100  # when stdout is not a terminal and COLUMNS is not set
MIN_TEXT_WIDTH = 8  # a wrapping text column is never made narrower than this
TEXT_BREAKS = " -/_"  # text cells wrap after these (a space is dropped at the line's end)


class Shown(NamedTuple):
    """A cell a view formatted itself (e.g. a ratio with its band); `numeric` right-aligns it
    and keeps it from wrapping."""

    text: str
    numeric: bool = False


# -- one format per kind ---------------------------------------------------------------------

_COUNT_NAMES = re.compile(
    r"(_count|_loaded|_written|_requests|_retries|_sent|_affordable|_entered|_left)$"
    r"|^(attempts|channels|delivered|position|rank|gpus)$"
)


def kind_of(column: str) -> str:
    """The kind of number a column holds, from its name: money, ratio, count, share, seconds
    or number."""
    name = column.lower()
    if name.endswith("_usd"):
        return "money"
    if re.search(r"(^|_)ratio(_|$)", name) or name.endswith("_effect") or name == "log_change":
        return "ratio"
    if _COUNT_NAMES.search(name):
        return "count"
    if name.startswith("share_"):
        return "share"
    if name.endswith("_s"):
        return "seconds"
    return "number"


_NUMBER_FORMATS = {
    "money": fmt_usd,
    "ratio": fmt_ratio,
    "count": fmt_count,
    "share": fmt_pct,
    "seconds": fmt_seconds,
    "number": fmt_number,
}


def human(column: str, value: Any) -> str:
    """A cell as a person reads it: numbers by their column's kind, ISO dates and times to the
    second, text with its controls escaped."""
    if value is None:
        return ""
    if isinstance(value, Shown):
        return escape_controls(value.text)
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, datetime):
        return fmt_time(value)
    if isinstance(value, date):
        return fmt_date(value)
    if isinstance(value, Decimal):
        value = float(value)
    if isinstance(value, int | float):
        kind = kind_of(column)
        if isinstance(value, int) and kind == "number":
            return f"{value:,}"
        return _NUMBER_FORMATS[kind](value)
    if isinstance(value, list | tuple):
        return escape_controls(", ".join(str(v) for v in value))
    return escape_controls(str(value))


def _numeric(value: Any) -> bool:
    if isinstance(value, Shown):
        return value.numeric
    return isinstance(value, int | float | Decimal) and not isinstance(value, bool)


def _fixed(value: Any) -> bool:
    return isinstance(value, date | bool)


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    return value


def _exact(value: Any) -> str:
    """A cell exactly as queried: ints without separators, floats at full (shortest round-trip)
    precision, decimals with all their digits, text with its controls escaped."""
    if value is None:
        return ""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, str):
        return escape_controls(value)
    return str(_plain(value))


def _csv_value(value: Any, exact: bool) -> Any:
    if isinstance(value, str):
        return csv_text(value)
    if exact:
        return (
            "" if value is None else (str(value) if isinstance(value, Decimal) else _plain(value))
        )
    return _plain(value)


def _json_value(value: Any, exact: bool) -> str:
    if exact and isinstance(value, Decimal) and value.is_finite():
        return str(value)  # a JSON number with every digit DuckDB returned (no float rounding)
    return json_text(_plain(value))


def _json(columns: Sequence[str], rows: Sequence[Sequence[Any]], exact: bool) -> str:
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
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    fmt: str,
    *,
    title: str | None = None,
    exact: bool = False,
    labels: Mapping[str, str] | None = None,
    width: int | None = None,
) -> str:
    """Rows as text in `fmt`. JSON and CSV keep full precision; tables and Markdown format each
    kind of number for reading unless `exact` (then every value exactly as queried). `labels`
    name the columns in tables and Markdown (default: the column names); `width` is the width a
    table must fit (None: `terminal_width()`; 0: no limit)."""
    if fmt == "json":
        return _json(columns, rows, exact)
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow([csv_text(c) for c in columns])
        writer.writerows([[_csv_value(v, exact) for v in r] for r in rows])
        return buf.getvalue().rstrip("\n")
    heads = [(labels or {}).get(c, c) for c in columns]
    if fmt == "markdown":
        lines = ["| " + " | ".join(md_text(h) for h in heads) + " |", "|" + "---|" * len(heads)]
        lines += [
            "| " + " | ".join(_md_cell(c, v, exact) for c, v in zip(columns, r, strict=True)) + " |"
            for r in rows
        ]
        return "\n".join(lines)
    if fmt == "table":
        cells = [
            [_exact(v) if exact else human(c, v) for c, v in zip(columns, r, strict=True)]
            for r in rows
        ]

        def every(test: Any, i: int) -> bool:
            return any(test(r[i]) for r in rows) and all(r[i] is None or test(r[i]) for r in rows)

        return draw_table(
            [escape_controls(h) for h in heads],
            cells,
            title=escape_controls(title) if title else None,
            numeric=[every(_numeric, i) for i in range(len(columns))],
            fixed=[every(_fixed, i) for i in range(len(columns))],
            width=terminal_width() if width is None else width,
        )
    raise ValueError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")


def _md_cell(column: str, value: Any, exact: bool) -> str:
    if isinstance(value, Shown) and value.numeric:  # a number a view formatted
        return value.text.replace("|", "\\|")
    if isinstance(value, str | Shown):  # text from outside (maybe inside a view's cell)
        return md_text(value if isinstance(value, str) else value.text)
    text = _exact(value) if exact else human(column, value)
    return text.replace("|", "\\|")  # a number, a date: nothing in it is markup


# -- the terminal ----------------------------------------------------------------------------


def terminal_width() -> int:
    """The width tables and paragraphs fit: $COLUMNS, else the terminal's, else 100 when the
    output is not a terminal (at least 20)."""
    return max(20, shutil.get_terminal_size((DEFAULT_WIDTH, 24)).columns)


def char_width(ch: str) -> int:
    """Columns a character takes in a terminal: 0 for combining and format characters, 2 for
    East Asian wide and full-width ones, else 1."""
    if unicodedata.combining(ch) or unicodedata.category(ch) in ("Mn", "Me", "Cf"):
        return 0
    return 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1


def text_width(text: str) -> int:
    if text.isascii():
        return len(text)
    return sum(char_width(ch) for ch in text)


def _split(word: str, width: int) -> list[str]:
    """`word` in pieces no wider than `width` (a character wider than it stands alone)."""
    pieces, piece, used = [], "", 0
    for ch in word:
        w = char_width(ch)
        if piece and used + w > width:
            pieces.append(piece)
            piece, used = "", 0
        piece += ch
        used += w
    return pieces + [piece] if piece else pieces


def wrap(text: str, width: int, *, breaks: str = " ") -> list[str]:
    """`text` in lines no wider than `width`: broken after a space (dropped at the line's end)
    or after any other character of `breaks`, and inside a word longer than a line."""
    if width <= 0 or text_width(text) <= width:
        return [text]
    br = "".join(re.escape(b) for b in breaks)
    lines: list[str] = []
    line = ""
    for piece in re.findall(rf"[^{br}]*[{br}]|[^{br}]+", text):
        if text_width(line + piece.rstrip(" ")) <= width:
            line += piece
            continue
        if line.strip(" "):
            lines.append(line.rstrip(" "))
        line = piece.lstrip(" ") if line.strip(" ") else (line + piece).lstrip(" ")
        if text_width(line.rstrip(" ")) > width:
            *full, line = _split(line, width)
            lines += full
    if line.strip(" ") or not lines:
        lines.append(line.rstrip(" "))
    return lines


def wrap_paragraph(text: str, width: int | None = None, *, indent: str = "") -> str:
    """A paragraph of free text fitted to `width` (default: the terminal's); continuation lines
    start with `indent`. Controls are escaped first, so the width is the one shown."""
    text = escape_controls(text, keep_newlines=True)
    width = terminal_width() if width is None else width
    if width <= 0:
        return text
    out = []
    for line in text.split("\n"):
        lead = line[: len(line) - len(line.lstrip(" "))]
        first, *rest = wrap(line.strip(" "), max(10, width - len(lead) - len(indent)))
        out.append(lead + first)
        out += [lead + indent + r for r in rest]
    return "\n".join(out)


def _fit(natural: list[int], waves: list[list[int]], width: int) -> list[int]:
    """Column widths whose table is at most `width` wide: each wave of floors in turn, a
    column at a time from the widest one still above its floor (the table stays wider when
    the last floors are)."""
    widths = list(natural)
    excess = sum(w + 3 for w in widths) + 1 - width
    for floor in waves:
        while excess > 0:
            give = [i for i, w in enumerate(widths) if w > floor[i]]
            if not give:
                break
            i = max(give, key=lambda i: (widths[i], i))
            widths[i] -= 1
            excess -= 1
    return widths


def draw_table(
    heads: list[str],
    cells: list[list[str]],
    *,
    title: str | None = None,
    numeric: list[bool] | None = None,
    fixed: list[bool] | None = None,
    width: int = 0,
) -> str:
    """A boxed table (heavy header, light body): `numeric` columns right-aligned, `numeric`
    and `fixed` ones (dates) never wrapped; with `width` > 0, text columns (then headers) wrap
    so that every line fits it when it can, and wrapped rows are separated by a rule."""
    numeric = numeric or [False] * len(heads)
    keep = [n or f for n, f in zip(numeric, fixed or [False] * len(heads), strict=True)]
    natural = [
        max([text_width(h), *(text_width(r[i]) for r in cells)]) for i, h in enumerate(heads)
    ]
    widths = natural
    if width > 0:
        # Text columns give first, down to their header's longest word (at most 16), then to
        # MIN_TEXT_WIDTH; numbers and dates never wrap, their headers give last.
        longest = [
            max((text_width(p) for p in re.split(r"(?<=[ _])", h)), default=1) for h in heads
        ]
        cells_w = [max((text_width(r[i]) for r in cells), default=0) for i in range(len(heads))]
        soft = [
            max(longest[i], cells_w[i])
            if keep[i]
            else min(natural[i], max(MIN_TEXT_WIDTH, min(longest[i], 16)))
            for i in range(len(heads))
        ]
        hard = [
            max(longest[i], cells_w[i]) if keep[i] else min(natural[i], MIN_TEXT_WIDTH)
            for i in range(len(heads))
        ]
        last = [max(1, cells_w[i]) if keep[i] else hard[i] for i in range(len(heads))]
        widths = _fit(natural, [soft, hard, last], width)
    head_lines = [wrap(h, w, breaks=" _") for h, w in zip(heads, widths, strict=True)]
    row_lines = [
        [wrap(v, w, breaks=TEXT_BREAKS) for v, w in zip(r, widths, strict=True)] for r in cells
    ]
    total = sum(w + 3 for w in widths) + 1

    def line(edge: str, parts: list[list[str]], k: int, align: list[bool]) -> str:
        out = []
        for part, w, right in zip(parts, widths, align, strict=True):
            text = part[k] if k < len(part) else ""
            pad = " " * (w - text_width(text))
            out.append(f" {pad}{text} " if right else f" {text}{pad} ")
        return edge + edge.join(out) + edge

    def rule(left: str, bar: str, mid: str, right: str) -> str:
        return left + mid.join(bar * (w + 2) for w in widths) + right

    lines = []
    if title:
        for t in wrap(title, total):
            left = max(0, (total - text_width(t)) // 2)
            lines.append(" " * left + t)
    lines.append(rule("\u250f", "\u2501", "\u2533", "\u2513"))
    depth = max((len(h) for h in head_lines), default=1)
    lines += [line("\u2503", head_lines, k, [False] * len(heads)) for k in range(depth)]
    lines.append(rule("\u2521", "\u2501", "\u2547", "\u2529"))
    ruled = any(len(c) > 1 for r in row_lines for c in r)
    for n, r in enumerate(row_lines):
        if ruled and n:
            lines.append(rule("\u251c", "\u2500", "\u253c", "\u2524"))
        lines += [line("\u2502", r, k, numeric) for k in range(max(len(c) for c in r))]
    lines.append(rule("\u2514", "\u2500", "\u2534", "\u2518"))
    return "\n".join(lines)
