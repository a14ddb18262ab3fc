"""How capcover shows things: one format per kind of number, and text from outside made inert
for each place it is shown. Pure: strings in, strings out.

Numbers (every human-readable output: tables, summaries, alerts, the HTML page):
    ratio   3 decimals                        1.157
    money   $ and B/M/T from a million up      $21.60B, $1.50M, $30,000, $2.49
    count   thousands separators               720,000
    time    ISO 8601 to the second, UTC as Z   2026-12-06T03:28:20Z
    date    ISO 8601                           2024-04-03
    parameter  a scenario's input as written   316,640; 184.06; 0.0806 (up to 6 decimals,
               never rounded for reading: v_report_parameters' value column)

Text from outside (coin ids, symbols and names from CoinGecko, quote sources, labels and URLs
from feeds and quotes files, scenario names from a config file, error texts from servers) is
data wherever it is shown:
    terminal  control characters (C0, DEL, C1), bidi controls and line/paragraph separators
              are written as escapes (`\\x1b`, `\\u202e`), never sent raw
    csv       the same escapes, and a text cell starting with = + - @ (after spaces) gets a
              leading ' so a spreadsheet reads it as text, never as a formula
    markdown  every Markdown-active ASCII character is backslash-escaped and URL-like text is
              defanged (`http[:]//`, `www[.]`), so nothing in it becomes a link or markup
    html      escaped by the template (jinja2 autoescape) after the terminal escapes above;
              links only for http(s) URLs (`safe_href`)
JSON output needs nothing more for text: `json.dumps` escapes every control and non-ASCII
character. A number that is not finite (NaN, Infinity, which DuckDB's DOUBLE can hold) has no
JSON spelling (RFC 8259), so every `--format json` writer goes through `json_text`, which
writes it as `null`.
"""

from __future__ import annotations

import json
import math
import re
from datetime import UTC, date, datetime, timedelta

# C0 controls, DEL, C1 controls; the bidi embedding, override, isolate and mark characters
# (they reorder what a terminal or browser shows: "Trojan Source"); line and paragraph
# separators (a line break that a line-based reader does not expect).
_OTHER_CONTROLS = "\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029"
_CONTROL = re.compile(f"[\x00-\x1f{_OTHER_CONTROLS}]")
_CONTROL_BUT_NEWLINE = re.compile(f"[\x00-\x09\x0b-\x1f{_OTHER_CONTROLS}]")


def finite_json(value: object) -> object:
    """`value` with every non-finite float in it (lists, tuples and dict values too) as None."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, list | tuple):
        return [finite_json(v) for v in value]
    if isinstance(value, dict):
        return {k: finite_json(v) for k, v in value.items()}
    return value


def json_text(value: object, *, indent: int | None = None) -> str:
    """`value` as valid JSON (RFC 8259): NaN and Infinity as null, anything json cannot write
    as its `str` (dates as ISO text)."""
    return json.dumps(finite_json(value), allow_nan=False, default=str, indent=indent)


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def escape_controls(text: str, *, keep_newlines: bool = False) -> str:
    """`text` with every control, bidi-control and separator character written as an escape
    (`\\x1b`, `\\u202e`); with `keep_newlines`, "\\n" stays a line break (for multi-line texts
    capcover composed itself; never for a single value from outside)."""
    pattern = _CONTROL_BUT_NEWLINE if keep_newlines else _CONTROL
    return pattern.sub(_escape, text)


def terminal_text(text: str) -> str:
    """A multi-line text for a terminal: its own line breaks kept, every other control made an
    escape (what `capcover` writes to stdout and stderr passes through this)."""
    return escape_controls(text, keep_newlines=True)


def has_controls(text: str) -> bool:
    return _CONTROL.search(text) is not None


# -- CSV -------------------------------------------------------------------------------------

_FORMULA_START = re.compile(r"\s*[=+\-@]")


def csv_text(text: str) -> str:
    """A text cell for CSV: controls escaped, and a leading ' when a spreadsheet would read
    the cell as a formula (it starts with = + - or @, spaces aside). Numbers are never passed
    here: -1.5 stays a number."""
    text = escape_controls(text)
    return "'" + text if _FORMULA_START.match(text) else text


# -- Markdown --------------------------------------------------------------------------------

# Every ASCII punctuation character may be backslash-escaped in CommonMark (and Python-Markdown
# as Apprise configures it); these are the ones that can start markup, a link, an autolink, an
# HTML tag, an entity, a table cell or a GFM extension (strikethrough, email autolinks).
_MD_ACTIVE = re.compile(r"([\\`*_{}\[\]()<>#+\-.!|~&@:=$])")
_URL_SCHEME = re.compile(r"(?i)\b([a-z][a-z0-9+.\-]*):(?=/)")
_WWW = re.compile(r"(?i)www\.")  # inside a word too (`_www.`): a linkifier may see it


def defang(text: str) -> str:
    """URL-like text made unclickable for linkifiers (GFM autolinks, chat clients): the colon
    after a scheme and the dot after `www` in brackets, as security tools write them."""
    text = _URL_SCHEME.sub(r"\1[:]", text).replace("://", "[:]//")  # a bare `://` too
    return _WWW.sub(lambda m: m.group()[:-1] + "[.]", text)


def md_text(text: str) -> str:
    """Text from outside for Markdown: rendered, it reads exactly as `defang(escape_controls(
    text))`, with no markup, no link, no HTML and no table cell break."""
    return _MD_ACTIVE.sub(r"\\\1", defang(escape_controls(text)))


# -- HTML ------------------------------------------------------------------------------------

_HTTP_URL = re.compile(r"https?://[^\s\"'<>`\\\x00-\x1f\x7f-\x9f]+", re.IGNORECASE)


def safe_href(url: object) -> str | None:
    """`url` when it may be a link on a page: an absolute http(s) URL and nothing else (no
    javascript:, data:, relative or protocol-relative URL, no spaces or controls anywhere);
    None otherwise (the page shows the text without a link)."""
    if not isinstance(url, str) or not _HTTP_URL.fullmatch(url):
        return None
    return url


# -- numbers ---------------------------------------------------------------------------------

MINUS = "-"


def fmt_ratio(value: float | None) -> str:
    """A coverage ratio (or a log change): 3 decimals."""
    if value is None:
        return ""
    if not math.isfinite(value):
        return str(value)
    return f"{value:.3f}"


def fmt_usd(value: float | None) -> str:
    """US dollars: $21.60B, $1.50M, $30,000, $2.49 (cents below a thousand); negative
    amounts as -$1.20M."""
    if value is None:
        return ""
    if not math.isfinite(value):
        return str(value)
    sign, v = ("-" if value < 0 else ""), abs(value)
    for scale, suffix in ((1e12, "T"), (1e9, "B"), (1e6, "M")):
        if round(v / scale, 2) >= 1:
            return f"{sign}${v / scale:,.2f}{suffix}"
    if round(v) >= 1000:
        return f"{sign}${v:,.0f}"
    return f"{sign}${v:,.2f}"


def fmt_count(value: float | None) -> str:
    """A count: whole, with thousands separators (a float count such as GPUs affordable is
    rounded down: 833,333.3 GPUs buy 833,333)."""
    if value is None:
        return ""
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)
        value = math.floor(value)
    return f"{value:,}"


def fmt_pct(value: float | None) -> str:
    """A share given as a fraction: 0.123 -> 12.3%."""
    return "" if value is None else f"{value * 100:.1f}%"


def fmt_seconds(value: float | None) -> str:
    return "" if value is None else f"{value:,.1f}"


def fmt_time(value: datetime) -> str:
    """ISO 8601 to the second; UTC as Z."""
    if value.tzinfo is not None and value.utcoffset() == timedelta(0):
        return value.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="seconds") + "Z"
    return value.isoformat(timespec="seconds")


def fmt_date(value: date) -> str:
    return value.isoformat()


def fmt_number(value: float) -> str:
    """Any other number: whole numbers with separators, others with at most 3 decimals."""
    if not math.isfinite(value):
        return str(value)
    if value == int(value) and abs(value) < 1e15:
        return f"{int(value):,}"
    return f"{value:,.3f}".rstrip("0").rstrip(".")


def fmt_parameter(value: float | None) -> str:
    """A scenario parameter (a throughput, a multiplier, a kWh price) as written, not rounded
    for reading: whole numbers with separators, others with up to 6 decimals (316,640; 184.06;
    0.0806)."""
    if value is None:
        return ""
    if not math.isfinite(value):
        return str(value)
    if float(value).is_integer():
        return f"{value:,.0f}"
    return f"{value:,.6f}".rstrip("0").rstrip(".")
