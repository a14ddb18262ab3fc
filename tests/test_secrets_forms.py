"""Secrets in every form they can take (docs/threat-model.md, "Secrets"): the CLASS of keys
(any printable key, any surrounding whitespace, any odd character inside) and the CLASS of
encodings a server or a library can give them (escaped, percent-encoded, HTML references,
base64 at any alignment, hex, another letter case, cut short), through every path: the scrubber
itself, the HTTP layer, a whole daily run into the warehouse, `runs.message`, stderr,
`capcover status`, the quarantine and the published Parquet.

The oracles here decode with their own code (the standard library where it has a decoder), never
with the scrubber's, so a form the scrubber does not know shows up as a failure.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import functools
import html
import json
import logging
import os
import re
import unicodedata
import urllib.parse
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from uuid import UUID
from zoneinfo import ZoneInfo

import duckdb
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from capcover.cli.main import main
from capcover.config import secrets
from capcover.config.errors import ConfigError
from capcover.config.settings import load_settings
from capcover.fakeapi import Reply
from capcover.fakeapi.coingecko import AI, API, category_payload, market_pages
from capcover.flows.sequence import run_daily
from capcover.ingest.client import HttpOptions
from capcover.ingest.coingecko import CoinGeckoClient
from capcover.ingest.errors import AuthError, IngestError
from capcover.ingest.http import RetryPolicy
from capcover.warehouse.db import open_warehouse

PRINTABLE = st.characters(min_codepoint=0x21, max_codepoint=0x7E)
# Any key capcover accepts: printable ASCII, no spaces, 8..64 characters. A key sharing four
# characters with the marker "[redacted]" could be re-formed by the marker itself; no real key
# does, and none is drawn.
ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ("capcover", "cli", "config", "fakeapi", "flows", "ingest", "model", "notify", "report")


@functools.cache
def _shipped_text() -> str:
    """Every text capcover ships (its code, SQL, TOML, fixtures, templates), lowercased: the
    words its own outputs are made of (table and column names, migration file names,
    scenario names, messages)."""
    texts = []
    for room in (*SHIPPED, "warehouse"):
        for path in sorted((ROOT / room).rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                texts.append(path.read_bytes().decode("utf-8", "replace"))
    # and the words of the Python reprs the warehouse dump below prints its rows with
    when = datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=ZoneInfo("Etc/UTC"))
    texts.append(repr([(when.date(), when, Decimal("1.5"), UUID(int=1), None, True, False)]))
    return "\n".join(texts).lower()


def _not_program_text(key: str) -> bool:
    """Whether no 8-character run of `key` is a piece of capcover's own text. Hypothesis draws
    strings from the constants of every module it has seen loaded (in a full run: "run_scen"
    of `run_scenarios`), and such a "key" stands in the program's own output (a migration's
    file name) without ever having been echoed. A real key is random; none is a run of
    capcover's text."""
    low = key.lower()
    shipped = _shipped_text()
    return not any(low[i : i + 8] in shipped for i in range(len(low) - 7))


# Any key capcover accepts: printable ASCII, no spaces, 8..64 characters. A key sharing four
# characters with the marker "[redacted]" could be re-formed by the marker itself; no real key
# does, and none is drawn.
KEYS = st.text(PRINTABLE, min_size=8, max_size=64).filter(
    lambda k: (
        len(set(k)) >= secrets.MIN_DISTINCT
        and not any("[redacted]"[i : i + 4] in k.lower() for i in range(7))
        and _not_program_text(k)
    )
)
MARKER = "[redacted]"


def test_secrets_forms_keys_drawn_are_never_pieces_of_capcovers_own_text():
    """The keys a full run once drew from hypothesis' pool of module constants, which stand in
    capcover's own output without being echoed, are not drawn; random keys still are."""
    for word in ("run_scen", "053_run_scenarios", "sector_market_cap_usd", "datetime.date("):
        assert not _not_program_text(word)
    assert _not_program_text("Q7#kz!Pw2@mR") and _not_program_text("CG-" + "x7Rq2Lm9Vt4Wn8Ks")


# -- encodings: what a server, a library or a log can make of a key --------------------------


def _u_escape(text: str, which: list[bool] | None = None, upper: bool = False) -> str:
    fmt = "\\u{:04X}" if upper else "\\u{:04x}"
    return "".join(
        fmt.format(ord(c)) if (which is None or which[i % len(which)]) else c
        for i, c in enumerate(text)
    )


def _percent(text: str, which: list[bool] | None = None) -> str:
    return "".join(
        f"%{ord(c):02X}" if (which is None or which[i % len(which)]) else c
        for i, c in enumerate(text)
    )


def _html(text: str, which: list[bool] | None = None) -> str:
    return "".join(
        (f"&#{ord(c)};" if i % 2 else f"&#x{ord(c):x};")
        if (which is None or which[i % len(which)])
        else html.escape(c)
        for i, c in enumerate(text)
    )


@st.composite
def encoded(draw, key: str) -> tuple[str, str, str]:
    """(encoding name, the text a server sends, the part of the key that must not survive)."""
    which = draw(st.lists(st.booleans(), min_size=1, max_size=8))
    kind = draw(
        st.sampled_from(
            [
                "raw",
                "upper",
                "lower",
                "json_dumps",
                "json_u_all",
                "json_u_some",
                "json_u_upper",
                "repr_of_json_u",
                "python_repr_newline",
                "python_x",
                "percent_all",
                "percent_some",
                "percent_twice",
                "quote_plus",
                "html_all",
                "html_some",
                "base64",
                "base64_urlsafe",
                "hex",
                "hex_upper",
                "truncated",
                # the red team's S-05: forms a feed could produce beyond the 21 above
                "base32",
                "utf16_hex",
                "utf32_hex",
                "nfkc_fullwidth",
                "nfkc_math_bold",
                "nfkc_json_u",
                "nfkc_truncated",
                "reversed",
                "rot13",
            ]
        )
    )
    part = key
    if kind == "raw":
        text = key
    elif kind == "upper":
        text = key.upper()
    elif kind == "lower":
        text = key.lower()
    elif kind == "json_dumps":
        text = json.dumps(key)[1:-1]
    elif kind == "json_u_all":
        text = _u_escape(key)
    elif kind == "json_u_some":
        text = _u_escape(key, which)
    elif kind == "json_u_upper":
        text = _u_escape(key, upper=True)
    elif kind == "repr_of_json_u":
        text = repr(_u_escape(key, which))[1:-1]
    elif kind == "python_repr_newline":
        text = repr(key + "\n")
    elif kind == "python_x":
        text = "".join(
            f"\\x{ord(c):02x}" if which[i % len(which)] else c for i, c in enumerate(key)
        )
    elif kind == "percent_all":
        text = _percent(key)
    elif kind == "percent_some":
        text = _percent(key, which)
    elif kind == "percent_twice":
        text = urllib.parse.quote(urllib.parse.quote(key, safe=""), safe="")
    elif kind == "quote_plus":
        text = urllib.parse.quote_plus(key)
    elif kind == "html_all":
        text = _html(key)
    elif kind == "html_some":
        text = _html(key, which)
    elif kind in ("base64", "base64_urlsafe"):
        prefix = draw(st.binary(max_size=5))
        raw = prefix + key.encode() + draw(st.binary(max_size=3))
        enc = base64.urlsafe_b64encode if kind == "base64_urlsafe" else base64.b64encode
        text = enc(raw).decode()
    elif kind == "hex":
        text = key.encode().hex()
    elif kind == "hex_upper":
        text = key.encode().hex().upper()
    elif kind == "base32":
        prefix = draw(st.binary(max_size=6))
        text = base64.b32encode(prefix + key.encode() + draw(st.binary(max_size=4))).decode()
    elif kind in ("utf16_hex", "utf32_hex"):
        codec = ("utf-16" if kind == "utf16_hex" else "utf-32") + draw(
            st.sampled_from(["-be", "-le"])
        )
        text = key.encode(codec).hex()
        text = text.upper() if which[0] else text
    elif kind in ("nfkc_fullwidth", "nfkc_json_u", "nfkc_truncated"):
        if kind == "nfkc_truncated":
            assume(len(key) > secrets.WINDOW)
            start = draw(st.integers(0, len(key) - secrets.WINDOW))
            part = key[
                start : start
                + secrets.WINDOW
                + draw(st.integers(0, len(key) - start - secrets.WINDOW))
            ]
        text = "".join(
            chr(ord(c) + 0xFEE0) if which[i % len(which)] else c for i, c in enumerate(part)
        )
        text = _u_escape(text) if kind == "nfkc_json_u" else text
    elif kind == "nfkc_math_bold":  # MATHEMATICAL BOLD letters and digits fold to ASCII
        bold = {**{chr(65 + i): chr(0x1D400 + i) for i in range(26)},
                **{chr(97 + i): chr(0x1D41A + i) for i in range(26)},
                **{chr(48 + i): chr(0x1D7CE + i) for i in range(10)}}  # fmt: skip
        text = "".join(bold.get(c, c) for c in key)
    elif kind == "reversed":
        text = key[::-1]
    elif kind == "rot13":
        text = codecs.encode(key, "rot13")
    else:  # truncated: an echo that keeps only a run of at least WINDOW characters
        assume(len(key) > secrets.WINDOW)
        start = draw(st.integers(0, len(key) - secrets.WINDOW))
        end = draw(st.integers(start + secrets.WINDOW, len(key)))
        part = key[start:end]
        text = part
    return kind, text, part


_ESC = re.compile(r"\\+(?:u([0-9a-fA-F]{4})|x([0-9a-fA-F]{2})|([\"\\/']))")


def _unescape(text: str) -> str:
    """JSON/Python/JS escapes undone, at any depth of backslashes (the oracle's own decoder)."""
    for _ in range(4):
        new = _ESC.sub(
            lambda m: chr(int(m.group(1) or m.group(2), 16)) if m.group(3) is None else m.group(3),
            text,
        )
        if new == text:
            break
        text = new
    return text


_B64 = re.compile(r"[A-Za-z0-9+/_-]{8,}")
_HEX = re.compile(r"[0-9a-fA-F]{16,}")


def _base64_views(text: str) -> list[bytes]:
    views = []
    for run in _B64.findall(text):
        run = run.replace("-", "+").replace("_", "/")
        for cut in range(4):
            chunk = run[cut:]
            chunk = chunk[: len(chunk) - len(chunk) % 4]
            try:
                views.append(base64.b64decode(chunk))
            except (binascii.Error, ValueError):
                pass
    return views


def _hex_views(text: str) -> list[bytes]:
    out = []
    for run in _HEX.findall(text):
        for cut in range(2):
            chunk = run[cut:]
            chunk = chunk[: len(chunk) - len(chunk) % 2]
            out.append(bytes.fromhex(chunk))
    return out


_B32 = re.compile(r"[A-Za-z2-7]{8,}")


def _base32_views(text: str) -> list[bytes]:
    views = []
    for run in _B32.findall(text):
        for cut in range(8):
            chunk = run[cut:].upper()
            chunk = chunk[: len(chunk) - len(chunk) % 8]
            try:
                views.append(base64.b32decode(chunk))
            except (binascii.Error, ValueError):
                pass
    return views


def visible(part: str, text: str) -> bool:
    """Whether `part` of a key can be read back from `text` by any decoder a reader has."""
    needle = part.lower()
    folded = unicodedata.normalize("NFKC", text)
    views = [
        text,
        folded,
        _unescape(folded),
        unicodedata.normalize("NFKC", _unescape(text)),
        text[::-1],
        codecs.encode(text, "rot13"),
        _unescape(text),
        urllib.parse.unquote(text),
        urllib.parse.unquote_plus(text),
        urllib.parse.unquote(urllib.parse.unquote(text)),
        html.unescape(text),
        _unescape(html.unescape(urllib.parse.unquote(text))),
    ]
    if any(needle in v.lower() for v in views):
        return True
    raw = part.encode()
    if any(raw in b for b in _base64_views(text) + _hex_views(text) + _base32_views(text)):
        return True
    wide = [part.encode(codec) for codec in ("utf-16-be", "utf-16-le", "utf-32-be", "utf-32-le")]
    return any(w in b for b in _hex_views(text) for w in wide)


PROPERTY = settings(
    derandomize=True,
    deadline=None,
    max_examples=600,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@PROPERTY
@given(data=st.data(), key=KEYS, before=st.text("abc XYZ.,:;", max_size=8))
def test_secrets_forms_scrub_removes_every_encoding_of_a_registered_key(data, key, before):
    kind, text, part = data.draw(encoded(key))
    message = f"{before}invalid key {text} (code 10002){before}"
    assume(not visible(part, f"{before}invalid key  (code 10002){before}"))
    # Some drawn forms are ambiguous (a raw backslash before an escape reads as an escaped
    # backslash): those hide the key from every decoder already and are not a leak.
    assume(visible(part, message))

    with secrets.isolated():
        secrets.register_key(key)
        clean = secrets.scrub(message)

    assert not visible(part, clean), (kind, text, clean)
    assert clean.startswith(before) and MARKER in clean


@PROPERTY
@given(data=st.data(), key=KEYS)
def test_secrets_forms_scrub_inside_a_json_body_keeps_it_json(data, key):
    kind, text, part = data.draw(encoded(key))
    escapes = kind.startswith(("json_u", "repr_of", "python_x")) or kind == "json_dumps"
    inner = text if escapes else json.dumps(text)[1:-1]
    body = '[{"id": "coin", "name": "' + inner + '", "market_cap": 1}]'
    try:
        json.loads(body)
    except ValueError:
        assume(False)  # e.g. repr's \x escapes are not JSON; the body would be refused anyway

    with secrets.isolated():
        secrets.register_key(key)
        clean = secrets.scrub(body)

    decoded = json.loads(clean)  # still JSON: the marker sits inside the string
    assert not visible(part, clean) and not visible(part, decoded[0]["name"]), (kind, clean)
    assert decoded[0]["id"] == "coin" and decoded[0]["market_cap"] == 1


def test_secrets_forms_texts_without_secrets_are_unchanged():
    secrets.register_key("CG-" + "unchangedTextProbe001")
    for text in ['{"a": "\\u00e9t\\u00e9"}', "50% off &amp; more", "x" * 1000, ""]:
        assert secrets.scrub(text) == text


# -- at load time: any surrounding whitespace is removed, anything odd inside refused ---------


@pytest.fixture
def clean_env(monkeypatch):
    for name in list(os.environ):
        if name.upper().startswith("CAPCOVER_"):
            monkeypatch.delenv(name)
    return monkeypatch


@settings(
    derandomize=True,
    deadline=None,
    max_examples=200,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(key=KEYS, before=st.text(" \t\r\n", max_size=3), after=st.text(" \t\r\n", max_size=3))
def test_secrets_forms_surrounding_whitespace_is_removed_at_load_time(
    clean_env, key, before, after
):
    os.environ["CAPCOVER_COINGECKO_API_KEY"] = before + key + after
    try:
        with secrets.isolated():
            loaded = load_settings().coingecko_api_key
            assert key in secrets.registered()
    finally:
        os.environ.pop("CAPCOVER_COINGECKO_API_KEY", None)
    assert loaded is not None and loaded.get_secret_value() == key


ODD = st.sampled_from(
    [" ", "\t", "\n", "\r", "\x0b", "\x0c", "\x01", "\x1b", "\x7f", "\u00a0", "\u200b"]
    + ["é", "\u2028"]
)


@settings(
    derandomize=True,
    deadline=None,
    max_examples=200,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(key=KEYS, odd=ODD, at=st.integers(1, 63))
def test_secrets_forms_odd_characters_inside_a_key_exit_2_without_echoing_it(
    tmp_path, clean_env, key, odd, at
):
    at = min(at, len(key) - 1)
    bad = key[:at] + odd + key[at:]
    path = tmp_path / "c.toml"
    path.write_text(f"coingecko_api_key = {json.dumps(bad)}\n", encoding="utf-8")
    os.environ["CAPCOVER_CONFIG"] = str(path)
    try:
        with pytest.raises(ConfigError) as info:
            load_settings()
    finally:
        os.environ.pop("CAPCOVER_CONFIG", None)
    text = str(info.value)
    assert text.startswith("CAPCOVER_COINGECKO_API_KEY: contains ") and "\n" not in text
    assert f"at character {at + 1} of {len(bad)}" in text
    for piece in (key[:at], key[at:]):  # neither side of the key, whatever its length
        assert len(piece) < 6 or piece not in text


@settings(
    derandomize=True,
    deadline=None,
    max_examples=100,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    token=KEYS.filter(lambda t: "," not in t and "/" not in t),
    odd=ODD.filter(lambda c: c.strip() and c != "é"),  # non-ASCII is fine in a URL
)
def test_secrets_forms_odd_characters_inside_an_alert_url_exit_2_without_echoing_it(
    clean_env, token, odd
):
    url = f"json://hooks.example.com/{token[:4]}{odd}{token[4:]}"
    os.environ["CAPCOVER_ALERT_URLS"] = f"json://ok.example.com/hook,{url}"
    try:
        with pytest.raises(ConfigError) as info:
            load_settings()
    finally:
        os.environ.pop("CAPCOVER_ALERT_URLS", None)
    text = str(info.value)
    assert text.startswith("CAPCOVER_ALERT_URLS: URL #2 of 2 contains ") and "\n" not in text
    assert "hooks.example.com" not in text and token[4:] not in text


# -- the HTTP layer: a key with a trailing newline is sent clean, never in an error -----------


@pytest.mark.parametrize("tail", ["\n", "\r\n", "\r", " \t"])
def test_secrets_forms_key_from_a_secret_file_is_sent_clean(fake_cg, env, monkeypatch, tail):
    key = "CG-" + "secretFileKey0000001"
    fake_cg.serve()
    monkeypatch.setenv("CAPCOVER_COINGECKO_PLAN", "demo")
    monkeypatch.setenv("CAPCOVER_COINGECKO_API_KEY", key + tail)
    run_daily(load_settings())
    assert {r.headers.get("x-cg-demo-api-key") for r in fake_cg.log} == {key}


# -- a whole daily run: the key echoed by the server in any form, through every output -------

PATHS = ("coin_name", "quarantined_record", "error_401")


def _pages_with(name_json: str, *, bad: bool) -> list[str]:
    """The reference pages as JSON text, one coin's name replaced by raw JSON text."""
    pages = market_pages()
    pages[0][0] = {**pages[0][0], "name": "@@NAME@@"}
    if bad:
        pages[0][1] = {**pages[0][1], "name": "@@NAME@@", "market_cap": -5}
    return [json.dumps(p).replace('"@@NAME@@"', '"' + name_json + '"') for p in pages]


def _dump_warehouse(db: Path) -> str:
    out = []
    with open_warehouse(db, read_only=True) as wh:
        tables = [t for (t,) in wh.query("SELECT table_name FROM duckdb_tables()")]
        for table in tables:
            out.append(repr(wh.query(f'SELECT * FROM "{table}"')))  # noqa: S608
    return "\n".join(out)


def _dump_parquet(folder: Path) -> str:
    out = []
    for file in sorted(folder.rglob("*.parquet")):
        out.append(repr(duckdb.sql(f"SELECT * FROM read_parquet('{file}')").fetchall()))  # noqa: S608
    return "\n".join(out)


@settings(
    derandomize=True,
    deadline=None,
    max_examples=40,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data(), key=KEYS, path=st.sampled_from(PATHS))
def test_secrets_forms_an_echoed_key_reaches_no_output_of_a_run(
    fake_cg, env, tmp_path_factory, capsys, caplog, data, key, path
):
    kind, text, part = data.draw(encoded(key))
    escapes = kind.startswith(("json_u", "repr_of")) or kind == "json_dumps"
    inner = text if escapes else json.dumps(text)[1:-1]
    try:
        json.loads('"' + inner + '"')
    except ValueError:
        assume(False)
    folder = tmp_path_factory.mktemp("run")
    db = folder / "capcover.duckdb"
    os.environ.update(
        {
            "CAPCOVER_DB": str(db),
            "CAPCOVER_COINGECKO_PLAN": "demo",
            "CAPCOVER_COINGECKO_API_KEY": key,
        }
    )
    fake_cg.clear()
    if path == "error_401":
        body = '{"status": {"error_code": 10002, "error_message": "bad key ' + inner + '"}}'
        fake_cg.add(API + "/coins/categories", Reply(raw=body, status=401))
    else:
        fake_cg.add(API + "/coins/categories", category_payload())
        pages = _pages_with(inner, bad=path == "quarantined_record")
        for n, page in enumerate([*pages, "[]"], start=1):  # paging ends on an empty page
            fake_cg.add(
                API + "/coins/markets",
                Reply(raw=page),
                query={"category": AI, "page": str(n)},
            )
    caplog.set_level(logging.DEBUG)
    texts: list[str] = []
    with secrets.isolated():
        _run_and_collect(fake_cg, db, folder, capsys, caplog, path, texts)
    for t in texts:
        assert not visible(part, t), (path, kind, text)
    assert fake_cg.log and all(r.headers.get("x-cg-demo-api-key") == key for r in fake_cg.log)
    if path != "error_401":
        with open_warehouse(db, read_only=True) as wh:
            names = [n for (n,) in wh.query("SELECT name FROM coin_snapshots")]
        assert any(MARKER in (n or "") for n in names)  # replaced, not dropped or left raw


def _run_and_collect(fake_cg, db, folder, capsys, caplog, path, texts) -> None:
    try:
        try:
            run_daily(load_settings())
        except AuthError as exc:
            assert path == "error_401"
            texts += [str(exc), repr(exc)]
        assert main(["status", "--format", "json"]) in (0, 1)
        # exit 1 and `[]` when nothing was quarantined (the empty-result rule, docs/cli.md)
        assert main(["sql", "SELECT * FROM quarantine", "--format", "json"]) in (0, 1)
        out = capsys.readouterr()
        texts += [out.out, out.err, caplog.text, _dump_warehouse(db)]
        texts.append(_dump_parquet(folder / "published"))
    finally:
        for name in ("CAPCOVER_DB", "CAPCOVER_COINGECKO_PLAN", "CAPCOVER_COINGECKO_API_KEY"):
            os.environ.pop(name, None)


def test_secrets_forms_key_echoed_in_a_401_is_not_in_runs_message_or_status(
    fake_cg, env, monkeypatch, capsys
):
    key = "CG-" + "echoedInStatusKey0042"
    monkeypatch.setenv("CAPCOVER_COINGECKO_PLAN", "demo")
    monkeypatch.setenv("CAPCOVER_COINGECKO_API_KEY", key)
    body = '{"status": {"error_code": 10002, "error_message": "key ' + _u_escape(key) + '"}}'
    fake_cg.add(API + "/coins/categories", Reply(raw=body, status=401))
    assert main(["run"]) == 1
    assert main(["status"]) == 1
    out = capsys.readouterr()
    with open_warehouse(env["CAPCOVER_DB"], read_only=True) as wh:
        (message,) = wh.query("SELECT message FROM runs")[0]
    assert "HTTP 401" in message and MARKER in message
    for text in (out.out, out.err, message):
        assert not visible(key, text)


def test_secrets_forms_log_records_are_scrubbed_for_every_logger():
    key = "CG-" + "loggedKeyProbe000777"
    secrets.register_key(key)
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    names = ("capcover", "urllib3.connectionpool", "prefect.flow_runs", "apprise")
    handler = Keep()
    loggers = [logging.getLogger(name) for name in names]
    saved = [(lg.disabled, lg.level) for lg in loggers]  # other tests configure these loggers
    try:
        for logger in loggers:
            logger.disabled = False
            logger.setLevel(logging.DEBUG)
            logger.addHandler(handler)
            logger.warning("header value %r refused", key + "\n")
        try:
            raise ValueError(f"bad {key}")
        except ValueError:
            loggers[0].exception("failed")
    finally:
        for logger, (disabled, level) in zip(loggers, saved, strict=True):
            logger.removeHandler(handler)
            logger.disabled, logger.level = disabled, level
    assert len(records) == len(names) + 1
    texts = [logging.Formatter().format(r) for r in records]
    assert all(MARKER in t and not visible(key, t) for t in texts), texts


def test_secrets_forms_http_error_text_never_holds_the_keys_repr():
    """requests refuses a header value with a newline and quotes its repr; had a key such a
    value (settings now strip it), the error text still holds no part of it."""
    key = "CG-" + "reprInErrorKey000123"
    client = CoinGeckoClient(
        plan="demo",
        api_key=key + "\n",
        base_url="http://127.0.0.1:9/api/v3",
        rate_per_minute=60000,
        http=HttpOptions(retry=RetryPolicy(budget_s=0), sleep=lambda s: None),
    )
    with pytest.raises(IngestError) as info:
        client.categories()
    assert "InvalidHeader" in str(info.value) or "header" in str(info.value).lower()
    assert not visible(key, str(info.value)) and not visible(key, repr(info.value))
