"""Every decoded size bounded (docs/threat-model.md, "Decoded sizes"): archives, CSV and JSON
of every shape hypothesis can draw go through the bounded decoders (ingest/decode.py) and come
out exactly as the standard library reads them, or are refused in one line, with memory bounded
by the cap whatever they expand to. The issue's example (a small catalog.zip expanding to 1.2
GB) goes through the gpuhunt parser itself, and one provider's broken catalog leaves the others
counting.
"""

from __future__ import annotations

import base64
import csv
import io
import json
import struct
import tracemalloc
import zipfile
from dataclasses import replace
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from capcover.fakeapi import gpuhunt as fake_hunt
from capcover.ingest import decode
from capcover.ingest.errors import BadPayload
from capcover.ingest.feeds import load_json
from capcover.ingest.gpuhunt import parse_raws
from capcover.ingest.models import RawResponse

PROPERTY = settings(
    derandomize=True,
    deadline=None,
    max_examples=200,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

METHODS = [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA]


def _zip(members: dict[str, bytes], method: int) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=method) as zf:
        for name, data in members.items():
            info = zipfile.ZipInfo(name, date_time=(2024, 4, 3, 0, 0, 0))
            info.compress_type = method
            zf.writestr(info, data)
    return buf.getvalue()


def _lie_about_size(archive: bytes, size: int) -> bytes:
    """The archive with every recorded uncompressed size replaced by `size`."""
    data = bytearray(archive)
    at = data.find(b"PK\x01\x02")
    while at >= 0:  # central directory entries: uncompressed size at +24
        struct.pack_into("<I", data, at + 24, size)
        at = data.find(b"PK\x01\x02", at + 4)
    at = data.find(b"PK\x03\x04")
    while at >= 0:  # local headers: at +22
        struct.pack_into("<I", data, at + 22, size)
        at = data.find(b"PK\x03\x04", at + 4)
    return bytes(data)


@PROPERTY
@given(
    content=st.binary(max_size=2048) | st.integers(0, 400_000).map(lambda n: b"a" * n),
    method=st.sampled_from(METHODS),
    cap=st.integers(1, 300_000),
    others=st.integers(0, 3),
    lie=st.sampled_from([None, 0, 10, 2**31]),
    named=st.booleans(),
)
def test_decode_bounds_any_zip_gives_the_member_or_one_line(
    content, method, cap, others, lie, named
):
    members = {f"other{i}.csv": b"x" for i in range(others)}
    if named:
        members["aws.csv"] = content
    archive = _zip(members or {"readme.txt": b""}, method)
    if lie is not None:
        archive = _lie_about_size(archive, lie)
    try:
        got = decode.zip_member(archive, "aws.csv", where="probe", max_bytes=cap)
    except BadPayload as exc:
        assert str(exc).startswith("probe: ") and "\n" not in str(exc)
        honest = lie is None or lie == len(content)
        assert not (named and honest and len(content) <= cap), str(exc)
        return
    assert named and got == content and len(got) <= cap


def test_decode_bounds_too_many_members_is_refused_before_reading_them():
    archive = _zip({f"m{i}.csv": b"" for i in range(decode.MAX_MEMBERS + 1)}, zipfile.ZIP_STORED)
    with pytest.raises(BadPayload, match=r"declares 65 members \(at most 64\)"):
        decode.zip_member(archive, "m0.csv", where="probe")


@pytest.fixture(scope="module")
def bomb_zip() -> bytes:
    """A catalog.zip of ~1.2 MB whose aws.csv expands to 1.2 GB (a CSV header, then zeros),
    written a chunk at a time."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        info = zipfile.ZipInfo("aws.csv", date_time=(2024, 4, 3, 0, 0, 0))
        info.compress_type = zipfile.ZIP_DEFLATED
        with zf.open(info, "w") as fh:
            fh.write((",".join(fake_hunt.COLUMNS) + "\n").encode())
            block = b"0" * (16 << 20)
            for _ in range(75):  # 1.2 GB
                fh.write(block)
    return buf.getvalue()


def _catalog(provider: str, zipped: bytes) -> RawResponse:
    return RawResponse(
        source="gpuhunt",
        endpoint=f"/{provider}/{fake_hunt.VERSION}/catalog.zip",
        method="GET",
        url=f"http://127.0.0.1/gpuhunt/{provider}/{fake_hunt.VERSION}/catalog.zip",
        params={},
        request_body=None,
        status=200,
        body="base64:" + base64.b64encode(zipped).decode(),
        fetched_at=datetime(2024, 4, 3, 6, 0, tzinfo=UTC),
        elapsed_ms=1.0,
        attempt=1,
    )


def test_decode_bounds_a_small_catalog_zip_expanding_to_gigabytes_is_refused(bomb_zip):
    assert len(bomb_zip) < 2 << 20  # ~1.2 MB on the wire, under any body cap
    raw = _catalog("aws", bomb_zip)
    tracemalloc.start()
    try:
        with pytest.raises(BadPayload) as info:
            parse_raws([raw])
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert "aws.csv would expand to" in str(info.value) or "expands past 50 MB" in str(info.value)
    assert "\n" not in str(info.value)
    assert peak < 120 << 20  # the cap (50 MB) and the archive, never 1.2 GB


def test_decode_bounds_a_bomb_with_a_lying_header_is_read_no_further_than_the_cap(bomb_zip):
    lying = _lie_about_size(bomb_zip, 1000)  # the header says 1,000 bytes
    tracemalloc.start()
    try:
        with pytest.raises(BadPayload, match="not a catalog zip holding aws.csv"):
            parse_raws([_catalog("aws", lying)])
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 120 << 20


def test_decode_bounds_one_providers_broken_catalog_leaves_the_others(bomb_zip):
    good = _catalog("verda", fake_hunt.catalog_zip("verda"))
    broken = [
        _catalog("aws", bomb_zip),
        _catalog("azure", b"PK not a zip"),
        replace(_catalog("gcp", fake_hunt.catalog_zip("gcp")), body="not base64 marked"),
    ]
    quotes, bad = parse_raws([broken[0], good, broken[1], broken[2]])
    assert {q.source for q in quotes} == {"gpuhunt/verda"}
    assert sorted(b.record_key for b in bad) == ["aws", "azure", "gcp"]
    assert all("\n" not in b.reason for b in bad)


# -- CSV --------------------------------------------------------------------------------------

CELLS = st.text(st.characters(blacklist_categories=("Cs",)), max_size=30)


@PROPERTY
@given(
    header=st.lists(
        st.text("abcdefgh_", min_size=1, max_size=8), min_size=1, max_size=6, unique=True
    ),
    rows=st.lists(st.lists(CELLS, max_size=8), max_size=30),
    max_rows=st.integers(1, 40),
)
def test_decode_bounds_any_csv_reads_as_the_csv_module_does_or_one_line(header, rows, max_rows):
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows(rows)
    text = out.getvalue()
    expected = [
        dict(zip(header, r + [""] * (len(header) - len(r)), strict=False))
        for r in csv.reader(io.StringIO(text, newline=""))
        if r
    ][1:]
    try:
        got = list(decode.csv_rows(text, where="probe", max_rows=max_rows))
    except BadPayload as exc:
        assert "\n" not in str(exc) and str(exc).startswith("probe: ")
        assert len(rows) > max_rows
        return
    assert got == expected


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("a,b\n" + "x" * (200 << 10) + ",1\n", r"is not readable \(field larger than field limit"),
        ("a\n" + ",".join(["1"] * 300) + "\n", "has 300 fields"),
        (",".join(f"c{i}" for i in range(300)) + "\n", "CSV header has 300 columns"),
        ("a,b\n", None),
    ],
)
def test_decode_bounds_csv_field_and_row_sizes(text, words):
    if words is None:
        assert list(decode.csv_rows(text, where="probe", required=("a",))) == []
        with pytest.raises(BadPayload, match="lacks column"):
            decode.csv_rows(text, where="probe", required=("price",))
        return
    with pytest.raises(BadPayload, match=words):
        list(decode.csv_rows(text, where="probe"))


# -- JSON -------------------------------------------------------------------------------------

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(), inner, max_size=5),
    max_leaves=40,
)


@PROPERTY
@given(value=JSON)
def test_decode_bounds_any_json_reads_as_json_loads_does(value):
    text = json.dumps(value)
    assert decode.loads(text) == json.loads(text)


@PROPERTY
@given(depth=st.integers(1, 900), brace=st.booleans())
def test_decode_bounds_json_depth_is_bounded(depth, brace):
    text = ('{"a":' * depth + "1" + "}" * depth) if brace else ("[" * depth + "]" * depth)
    if depth <= decode.MAX_JSON_DEPTH:
        assert decode.loads(text) is not None
    else:
        with pytest.raises(decode.JsonTooLarge, match=f"JSON nested {depth} levels deep"):
            decode.loads(text)


@pytest.mark.parametrize("item", ["{}", "[]", "0", '""', "1.5"])
def test_decode_bounds_json_length_is_refused_before_anything_is_built(item):
    text = "[" + ",".join([item] * (decode.MAX_JSON_VALUES + 1)) + "]"
    tracemalloc.start()
    try:
        with pytest.raises(decode.JsonTooLarge, match="over 1,000,000"):
            decode.loads(text)
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1 << 20  # nothing was built: no list of a million objects


def test_decode_bounds_json_bounds_reach_every_feed_as_one_line():
    text = "[" + ",".join(["{}"] * (decode.MAX_JSON_VALUES + 1)) + "]"
    for source, endpoint in (("vastai", "/api/v0/bundles/"), ("runpod", "/graphql")):
        raw = replace(_catalog("x", b""), source=source, endpoint=endpoint, body=text)
        with pytest.raises(BadPayload) as info:
            load_json(raw)
        assert str(info.value).startswith(f"{source} {endpoint}: expected JSON, got JSON with")
        assert "\n" not in str(info.value)


@settings(derandomize=True, deadline=None, max_examples=50)
@given(value=JSON, extra=st.integers(1, 5))
def test_decode_bounds_a_value_count_above_the_bound_is_always_refused(value, extra):
    assume(isinstance(value, list))
    text = json.dumps(value)
    count = text.count(",") + text.count("[") + text.count("{")
    padded = "[" + "0," * (decode.MAX_JSON_VALUES - count + extra) + text + "]"
    with pytest.raises(decode.JsonTooLarge):
        decode.loads(padded)
