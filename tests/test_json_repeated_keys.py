"""A JSON object that names a key twice is malformed (red team H-23): RFC 8259 leaves its
meaning open and Python keeps the last value silently, so `{"market_cap": 2.5e10,
"market_cap": 9e13}` once became a $9e13 sector. The bounded decoder (ingest/decode.py) finds
it in any object at any depth; a category record fails the run in one line, a coin record is
quarantined alone, and every other JSON feed (Vast.ai, RunPod, exchange rates, market charts)
refuses the answer. Also here: a coin whose id held a secret is quarantined, not merged with
another coin whose id scrubbed to the same text (red team S-16)."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from capcover.cli.main import main
from capcover.config.settings import load_settings
from capcover.fakeapi import Reply
from capcover.fakeapi.coingecko import category_payload, market_pages
from capcover.ingest.decode import RepeatedKey, loads, repeated_key
from capcover.warehouse.db import open_warehouse

KEYS = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=6)
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(KEYS, inner, max_size=4),
    max_leaves=12,
)


def _with_repeat(value: object, key: str, path: list[int]) -> str:
    """`value` as JSON text with one object, chosen by `path`, naming `key` twice."""
    if isinstance(value, dict) and (not path or not value):
        body = ", ".join(f"{json.dumps(k)}: {json.dumps(v)}" for k, v in value.items())
        extra = f"{json.dumps(key)}: 1, {json.dumps(key)}: 2"
        return "{" + (body + ", " if body else "") + extra + "}"
    if isinstance(value, dict):
        keys = list(value)
        pick = keys[path[0] % len(keys)]
        inner = ", ".join(
            f"{json.dumps(k)}: " + (_with_repeat(v, key, path[1:]) if k == pick else json.dumps(v))
            for k, v in value.items()
        )
        return "{" + inner + "}"
    if isinstance(value, list) and value and path:
        pick = path[0] % len(value)
        items = [
            _with_repeat(v, key, path[1:]) if i == pick else json.dumps(v)
            for i, v in enumerate(value)
        ]
        return "[" + ", ".join(items) + "]"
    return "[" + _with_repeat({}, key, []) + "]"


@given(value=JSON, key=KEYS, path=st.lists(st.integers(0, 10), max_size=6))
def test_json_repeated_keys_any_object_at_any_depth_is_refused(value, key, path):
    text = _with_repeat(value, key, path)

    with pytest.raises(RepeatedKey, match="names the key .* twice"):
        loads(text)
    assert loads(json.dumps(value)) == value  # the same value without the repeat reads as is


@given(
    items=st.lists(JSON, max_size=5),
    key=KEYS,
    at=st.integers(0, 5),
    path=st.lists(st.integers(0, 10), max_size=4),
)
def test_json_repeated_keys_marks_only_the_record_that_repeats(items, key, at, path):
    at = at % (len(items) + 1)
    records = [*items[:at], {"id": "bad"}, *items[at:]]
    parts = [json.dumps(r) for r in records]
    parts[at] = _with_repeat(records[at], key, path)

    decoded = loads("[" + ", ".join(parts) + "]", records=True)

    assert [repeated_key(r) is not None for r in decoded] == [i == at for i in range(len(records))]
    with pytest.raises(RepeatedKey):  # outside the records it is the whole answer's fault
        loads('{"data": [' + ", ".join(parts) + "]}", records=True)


def _run(capsys) -> tuple[int, str]:
    code = main(["run"])
    return code, capsys.readouterr().err


def test_json_repeated_keys_in_the_category_fail_the_run_in_one_line(env, fake_cg, capsys):
    fake_cg.serve()
    body = json.dumps(category_payload(cap=2.5e10))
    body = body.replace(
        '"market_cap": 25000000000.0', '"market_cap": 25000000000.0, "market_cap": 9e13'
    )
    assert body.count('"market_cap"') >= 2
    fake_cg.script("/coins/categories", Reply(raw=body))

    code, err = _run(capsys)

    assert code == 1 and err.count("\n") == 1, err
    assert "names the key 'market_cap' twice" in err
    with open_warehouse(load_settings().db, read_only=True) as wh:
        assert wh.query("SELECT count(*) FROM category_snapshots") == [(0,)]


def test_json_repeated_keys_in_a_coin_quarantine_that_coin_alone(env, fake_cg, capsys):
    pages = market_pages()
    victim = pages[0][3]["id"]
    fake_cg.serve(pages=pages)
    body = json.dumps(pages[0]).replace(f'"id": "{victim}"', f'"id": "{victim}", "market_cap": 1e3')
    fake_cg.script("/coins/markets", Reply(raw=body), page=1)

    code, err = _run(capsys)

    assert code == 0, err
    with open_warehouse(load_settings().db, read_only=True) as wh:
        stored = {r[0] for r in wh.query("SELECT coin_id FROM coin_snapshots")}
        reasons = wh.query("SELECT record_key, reason FROM quarantine WHERE source = 'coingecko'")
    assert victim not in stored and len(stored) == len({c["id"] for p in pages for c in p}) - 1
    assert reasons == [(victim, "names the key 'market_cap' twice: malformed, its value unknown")]


@pytest.mark.parametrize("feed", ["vastai", "runpod"])
def test_json_repeated_keys_in_a_gpu_feed_fail_that_feed_alone(
    env, fake_cg, fake_feeds, capsys, feed
):
    fake_cg.serve()
    original = fake_feeds.vast if feed == "vastai" else fake_feeds.runpod

    def repeating(request):  # the feed's real answer, with its first object's first key twice
        body = original(request).body().decode()
        at = body.index("{", 1) if body.startswith("[") else body.index("{")
        key_end = body.index(":", at)
        key = body[at + 1 : key_end]
        return Reply(raw=body[: at + 1] + f"{key}: null, " + body[at + 1 :])

    setattr(fake_feeds, "vast" if feed == "vastai" else "runpod", repeating)

    code, err = _run(capsys)

    assert code == 0, err
    with open_warehouse(load_settings().db, read_only=True) as wh:
        (failed,) = wh.query("SELECT sources_failed FROM runs ORDER BY run_seq DESC LIMIT 1")[0]
        errors = [m for (m,) in wh.query("SELECT message FROM runs")]
    assert feed in (failed or "").split(","), (failed, errors)


def test_json_repeated_keys_a_coin_whose_id_held_a_secret_is_quarantined(
    env, fake_cg, capsys, monkeypatch
):
    key = "test-key-not-real-9876543210"  # made up: not a CoinGecko key
    monkeypatch.setenv("CAPCOVER_COINGECKO_PLAN", "demo")
    monkeypatch.setenv("CAPCOVER_COINGECKO_API_KEY", key)
    pages = market_pages()
    first, second = pages[0][0]["id"], pages[0][2]["id"]
    pages[0][0] = {**pages[0][0], "id": key}
    pages[0][2] = {**pages[0][2], "id": key.lower().replace("-", "%2D")}
    fake_cg.serve(pages=pages)

    code, err = _run(capsys)

    assert code == 0, err
    with open_warehouse(load_settings().db, read_only=True) as wh:
        stored = {r[0] for r in wh.query("SELECT coin_id FROM coin_snapshots")}
        held = wh.query(
            "SELECT reason FROM quarantine WHERE source = 'coingecko' ORDER BY record_json"
        )
    assert not any("redacted" in s for s in stored) and first not in stored and second not in stored
    assert held == [("its id held a secret (scrubbed)",)] * 2
