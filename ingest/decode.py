"""Bounded decoders: every size counted after decompression and decoding, against the body cap.

The HTTP layer caps a body at CAPCOVER_HTTP_MAX_BODY_MB once its Content-Encoding (gzip,
deflate, several of them) is undone, reading 64 KB at a time (ingest/transport.py). What a body
holds is decoded again here, and bounded again:

- `zip_member`: one member of a zip archive (gpuhunt's catalog.zip), streamed with a cap on
  the bytes it expands to, whatever its header claims: a 154 KB zip that expands to 1.2 GB is
  refused after reading `max_bytes` of it, never held whole. Archives with more than
  `MAX_MEMBERS` entries (each costs memory when the directory is read) are refused first;
- `csv_rows`: rows of a CSV text, streamed (one row in memory at a time), at most `MAX_ROWS`
  rows, at most `MAX_FIELDS` fields a row and the csv module's 128 KB per field;
- `loads`: JSON with at most `MAX_JSON_VALUES` values (a 50 MB body of `[{},{},...]` would
  otherwise be 16 million dicts, over a GB) and at most `MAX_JSON_DEPTH` levels of nesting,
  and no object that names a key twice (`{"market_cap": 2.5e10, "market_cap": 9e13}`: RFC 8259
  leaves its meaning open, and Python would silently keep the last). With `records=True` a
  repeated key inside an item of a top-level list marks only that item (`repeated_key`), so a
  parser can quarantine the one record; anywhere else it refuses the whole text.

Every refusal is a one-line `BadPayload` naming where (its `where` argument) and the bound.
"""

from __future__ import annotations

import csv
import io
import json
import struct
import zipfile
from collections.abc import Iterator
from typing import Any

from capcover.ingest.errors import BadPayload

DEFAULT_MAX_BYTES = 50 * 1024 * 1024  # the default of CAPCOVER_HTTP_MAX_BODY_MB
CHUNK = 64 * 1024
MAX_MEMBERS = 64  # gpuhunt's catalog.zip holds one
MAX_ROWS = 1_000_000  # the largest gpuhunt catalog has tens of thousands
MAX_FIELDS = 256  # gpuhunt's CSV has 15 columns
MAX_JSON_VALUES = 1_000_000  # the largest real answer (a multi-year market chart) has ~40,000
MAX_JSON_DEPTH = 64  # real answers nest 4 levels deep


class JsonTooLarge(ValueError):
    """A JSON text over MAX_JSON_VALUES values or MAX_JSON_DEPTH levels; the message says
    which (callers that report `json.loads` errors report it the same way)."""


class RepeatedKey(JsonTooLarge):
    """A JSON object names one key twice: malformed, whichever value was meant (reported the
    same way as JsonTooLarge: its message says what)."""


class _Repeats(dict[str, Any]):
    """A decoded JSON object that named some key more than once (`repeated`, the first)."""

    repeated: str = ""


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) == len(pairs):
        return obj
    seen: set[str] = set()
    marked = _Repeats(obj)
    for key, _ in pairs:
        if key in seen:
            marked.repeated = key
            break
        seen.add(key)
    return marked


def repeated_key(value: Any) -> str | None:
    """The first key some object within `value` (decoded by `loads(..., records=True)`)
    names twice, or None."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, _Repeats):
            return item.repeated
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return None


def _repeat_refused(key: str) -> RepeatedKey:
    return RepeatedKey(f"a JSON object that names the key {key!r} twice (malformed)")


def _mb(n: int) -> str:
    return f"{n / 2**20:g} MB"


# -- zip --------------------------------------------------------------------------------------

_EOCD = b"PK\x05\x06"


def _declared_members(data: bytes) -> int | None:
    """The entry count the end-of-central-directory record declares (None: none found)."""
    at = data.rfind(_EOCD, max(0, len(data) - 22 - 65535))
    if at < 0 or at + 22 > len(data):
        return None
    (total,) = struct.unpack_from("<H", data, at + 10)
    return int(total)


def zip_member(
    data: bytes,
    name: str,
    *,
    where: str,
    max_bytes: int = DEFAULT_MAX_BYTES,
    what: str = "zip archive",
) -> bytes:
    """Member `name` of the zip archive `data`, read `CHUNK` bytes at a time; BadPayload when
    the archive is not one (`what`: how the message names it), has too many members, lacks
    `name`, or the member expands past `max_bytes`."""
    declared = _declared_members(data)
    if declared is not None and declared > MAX_MEMBERS:
        raise BadPayload(
            f"{where}: zip archive declares {declared:,} members (at most {MAX_MEMBERS}) — "
            "refusing it"
        )
    parts: list[bytes] = []
    total = 0
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            if len(zf.infolist()) > MAX_MEMBERS:
                raise BadPayload(f"{where}: zip archive has more than {MAX_MEMBERS} members")
            info = zf.getinfo(name)
            if info.file_size > max_bytes:
                raise BadPayload(
                    f"{where}: {name} would expand to {_mb(info.file_size)}, over "
                    f"{_mb(max_bytes)} — refusing it (raise CAPCOVER_HTTP_MAX_BODY_MB if it is "
                    "real)"
                )
            with zf.open(info) as member:
                while chunk := member.read(CHUNK):
                    total += len(chunk)
                    if total > max_bytes:  # the header lied: stop here, never read it whole
                        raise BadPayload(
                            f"{where}: {name} expands past {_mb(max_bytes)} — refusing it "
                            "(raise CAPCOVER_HTTP_MAX_BODY_MB if it is real)"
                        )
                    parts.append(chunk)
    except BadPayload:
        raise
    except KeyError:
        raise BadPayload(f"{where}: not a {what} holding {name} (no such member)") from None
    except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, RuntimeError,
            OSError, EOFError, ValueError) as exc:  # fmt: skip
        raise BadPayload(f"{where}: not a {what} holding {name} ({type(exc).__name__})") from None
    return b"".join(parts)


# -- CSV --------------------------------------------------------------------------------------


def csv_rows(
    text: str, *, where: str, required: tuple[str, ...] = (), max_rows: int = MAX_ROWS
) -> Iterator[dict[str, str]]:
    """The rows of a CSV text with a header, as dicts, one at a time; BadPayload (raised when
    the bad row is reached) for a missing `required` column, a row of more than MAX_FIELDS
    fields, a field over the csv module's limit (128 KB), or more than `max_rows` rows."""
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader, None) or []
    except csv.Error as exc:
        raise BadPayload(f"{where}: not a readable CSV header ({exc})") from None
    if len(header) > MAX_FIELDS:
        raise BadPayload(f"{where}: CSV header has {len(header):,} columns (at most {MAX_FIELDS})")
    missing = [c for c in required if c not in header]
    if missing:
        raise BadPayload(f"{where}: CSV lacks column(s) {', '.join(missing)}")
    return _rows(reader, header, where, max_rows)


def _rows(reader: Any, header: list[str], where: str, max_rows: int) -> Iterator[dict[str, str]]:
    count = 0
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise BadPayload(f"{where}: CSV row {count + 2} is not readable ({exc})") from None
        count += 1
        if count > max_rows:
            raise BadPayload(f"{where}: CSV has more than {max_rows:,} rows — refusing it")
        if len(row) > MAX_FIELDS:
            raise BadPayload(f"{where}: CSV row {count + 1} has {len(row):,} fields")
        if not row:
            continue
        yield dict(zip(header, row + [""] * (len(header) - len(row)), strict=False))


# -- JSON -------------------------------------------------------------------------------------


def loads(text: str, *, records: bool = False) -> Any:
    """`json.loads(text)` within MAX_JSON_VALUES values and MAX_JSON_DEPTH levels, with no
    object naming a key twice; raises what json.loads raises (ValueError, RecursionError),
    JsonTooLarge or RepeatedKey (ValueErrors). With `records`, a repeated key inside an item of
    a top-level list is left for the caller to find (`repeated_key(item)`)."""
    # An upper bound of the values, counted before anything is built (commas and brackets
    # inside strings count too, which only errs on the safe side).
    values = text.count(",") + text.count("[") + text.count("{")
    if values > MAX_JSON_VALUES:
        raise JsonTooLarge(
            f"JSON with about {values:,} values, over {MAX_JSON_VALUES:,} (the largest real "
            "answer has ~40,000)"
        )
    payload = json.loads(text, object_pairs_hook=_object)
    depth, repeated = _depth(payload, records=records and isinstance(payload, list))
    if depth > MAX_JSON_DEPTH:
        raise JsonTooLarge(f"JSON nested {depth} levels deep, over {MAX_JSON_DEPTH}")
    if repeated is not None:
        raise _repeat_refused(repeated)
    return payload


def _depth(payload: Any, *, records: bool) -> tuple[int, str | None]:
    """Nesting depth of a decoded JSON value, without recursion, and the first repeated key
    of an object outside the top-level list's items when `records` (anywhere otherwise)."""
    deepest = 0
    repeated: str | None = None
    stack: list[tuple[Any, int]] = [(payload, 1)]
    while stack:
        value, level = stack.pop()
        if isinstance(value, dict):
            deepest = max(deepest, level)
            if isinstance(value, _Repeats) and repeated is None and not records:
                repeated = value.repeated
            stack.extend((v, level + 1) for v in value.values())
        elif isinstance(value, list):
            deepest = max(deepest, level)
            stack.extend((v, level + 1) for v in value)
    return deepest, repeated
