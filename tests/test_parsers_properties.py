"""Property: whatever a source sends, every parser ends in typed records, quarantine rows, or
ONE clean `IngestError` (one line) — never an unhandled exception.

Inputs are arbitrary JSON (huge integers, NaN/inf, unicode, wrong types), arbitrary text, very
deep nesting, and real payloads with one field replaced by anything. Runs are derandomised
(the same examples every run, so CI never flakes) and kept small.
"""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from capcover.fakeapi.gpu import feed_reference, vast_offer
from capcover.ingest.coingecko import build_snapshot, coingecko_errors, parse_error_envelope
from capcover.ingest.errors import IngestError, StatusError, StatusReply
from capcover.ingest.fx import ExchangeRates, parse_exchange_rates
from capcover.ingest.history import parse_market_chart
from capcover.ingest.models import (
    Category,
    CoinMarket,
    HistoryPoint,
    Quarantined,
    Quote,
    RawResponse,
)
from capcover.ingest.quotes import parse_curated_entries
from capcover.ingest.runpod import parse_raws as parse_runpod
from capcover.ingest.vastai import parse_raws as parse_vastai
from tests.conftest import AI, category_payload, market_pages, reference
from tests.helpers import raw_get

FAST = settings(
    max_examples=50,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.sampled_from([10**400, -(10**400), 2**63, 0, -1])
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=12)
    | st.sampled_from(
        [
            "2024-04-03T06:40:12Z",
            "9999-12-31T23:59:59Z",
            "",
            "Ünïcødé ✓",
            "\u0000",
            "1e400",
            "NaN",
            "\n<html>",
        ]
    )
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
DEEP = [
    "[" * 100_000,
    "[" * 50_000 + "]" * 50_000,
    '{"a":' * 50_000 + "1" + "}" * 50_000,
    "1" * 5000,
    "<html>down</html>",
    "",
    "\ufeff[]",
    "[1, 2",
    "NaN",
    "[Infinity]",
]
bodies = st.sampled_from(DEEP) | values.map(lambda v: json.dumps(v)) | st.text(max_size=40)
FETCHED = datetime(2024, 4, 3, 7, 0, tzinfo=UTC)


def raw(source: str, endpoint: str, body: str, params=None) -> RawResponse:
    return raw_get(source, endpoint, body, params=params, fetched_at=FETCHED)


def ends_cleanly(call, *types: type) -> None:
    """`call()` returns records of `types` (nested in lists/tuples) or raises one clean
    IngestError: anything else fails the property."""
    try:
        result = call()
    except IngestError as exc:
        text = str(exc)
        assert text and "\n" not in text and len(text) < 1000, text
        return
    for item in _leaves(result):
        assert isinstance(item, types), type(item)


def _leaves(result):
    if isinstance(result, list | tuple):
        for part in result:
            yield from _leaves(part)
    elif result is not None:
        yield result


def mutate(record: dict, data) -> dict:
    """`record` with one field (existing or new) set to an arbitrary value."""
    out = copy.deepcopy(record)
    key = data.draw(st.sampled_from(sorted(out)) | st.text(max_size=6), label="field")
    out[key] = data.draw(values, label="value")
    return out


# -- CoinGecko ----------------------------------------------------------------------------------


def _snapshot(cat_body: str, market_body: str):
    raws = [
        raw("coingecko", "/coins/categories", cat_body),
        raw("coingecko", "/coins/markets", market_body, {"category": AI, "page": "1"}),
    ]
    snap = build_snapshot(raws, [AI])
    return [*snap.categories, *snap.constituents[AI], *snap.quarantined]


@FAST
@given(body=bodies)
@example(body="[" * 100_000)
def test_properties_categories_any_body(body):
    ok_markets = json.dumps(market_pages(10)[0])
    ends_cleanly(lambda: _snapshot(body, ok_markets), Category, CoinMarket, Quarantined)


@FAST
@given(data=st.data())
def test_properties_categories_one_field_replaced(data):
    cats = category_payload()
    cats[1] = mutate(cats[1], data)
    body = json.dumps(cats)
    ends_cleanly(
        lambda: _snapshot(body, json.dumps(market_pages(10)[0])), Category, CoinMarket, Quarantined
    )


@FAST
@given(body=bodies)
def test_properties_markets_any_body(body):
    ends_cleanly(
        lambda: _snapshot(json.dumps(category_payload()), body), Category, CoinMarket, Quarantined
    )


@FAST
@given(data=st.data())
def test_properties_markets_one_field_replaced(data):
    page = market_pages(10)[0]
    page[3] = mutate(page[3], data)
    ends_cleanly(
        lambda: _snapshot(json.dumps(category_payload()), json.dumps(page)),
        Category,
        CoinMarket,
        Quarantined,
    )


@FAST
@given(body=bodies)
def test_properties_market_chart_any_body(body):
    ends_cleanly(
        lambda: parse_market_chart(raw("coingecko", "/coins/x/market_chart", body), "x"),
        HistoryPoint,
    )


@FAST
@given(data=st.data())
def test_properties_market_chart_one_series_replaced(data):
    chart = reference("cgdocs_openapi__coins_id_market_chart.json")["payload"]
    chart = mutate(chart, data)
    if isinstance(chart.get("market_caps"), list) and chart["market_caps"]:
        chart["market_caps"][0] = data.draw(values, label="pair")
    body = json.dumps(chart)
    ends_cleanly(
        lambda: parse_market_chart(raw("coingecko", "/coins/x/market_chart", body), "x"),
        HistoryPoint,
    )


@FAST
@given(status=st.sampled_from([400, 401, 403, 404, 429, 500, 503]), body=bodies)
@example(status=401, body=json.dumps({"status": {"error_code": float("nan")}}))
@example(status=401, body=json.dumps({"status": {"error_code": True, "error_message": [1]}}))
def test_properties_error_envelopes(status, body):
    code, message = parse_error_envelope(status, body)
    assert code is None or (isinstance(code, int) and not isinstance(code, bool))
    assert message is None or (isinstance(message, str) and "\n" not in message)
    error = coingecko_errors(StatusReply("coingecko", "/x", status, body, 1))
    assert isinstance(error, StatusError) and "\n" not in str(error)


@FAST
@given(body=bodies)
def test_properties_exchange_rates_any_body(body):
    ends_cleanly(
        lambda: parse_exchange_rates(raw("coingecko", "/exchange_rates", body)), ExchangeRates
    )


@FAST
@given(data=st.data())
def test_properties_exchange_rates_one_rate_replaced(data):
    rates = {"rates": {"usd": {"value": 68000.0}, "eur": {"value": 63000.0}}}
    rates["rates"] = mutate(rates["rates"], data)
    body = json.dumps(rates)
    ends_cleanly(
        lambda: parse_exchange_rates(raw("coingecko", "/exchange_rates", body)), ExchangeRates
    )


# -- GPU feeds ----------------------------------------------------------------------------------


@FAST
@given(body=bodies)
def test_properties_vastai_any_body(body):
    ends_cleanly(
        lambda: parse_vastai([raw("vastai", "/api/v0/bundles/", body)]), Quote, Quarantined
    )


@FAST
@given(data=st.data())
def test_properties_vastai_one_field_replaced(data):
    offers = [vast_offer(i, "H100 SXM", 1, 2.0 + i) for i in range(3)]
    offers[1] = mutate(offers[1], data)
    body = json.dumps({"offers": offers})
    ends_cleanly(
        lambda: parse_vastai([raw("vastai", "/api/v0/bundles/", body)]), Quote, Quarantined
    )


@FAST
@given(body=bodies)
def test_properties_runpod_any_body(body):
    ends_cleanly(lambda: parse_runpod([raw("runpod", "/graphql", body)]), Quote, Quarantined)


@FAST
@given(data=st.data())
def test_properties_runpod_one_field_replaced(data):
    types = feed_reference("runpod_graphql_gputypes_2026-08-22.json")["data"]["gpuTypes"][:3]
    types[0] = mutate(types[0], data)
    body = json.dumps({"data": {"gpuTypes": types}})
    ends_cleanly(lambda: parse_runpod([raw("runpod", "/graphql", body)]), Quote, Quarantined)


# -- the curated quotes file --------------------------------------------------------------------

toml_literals = (
    st.sampled_from(
        [
            "true",
            "0",
            "-1",
            "1e400",
            "nan",
            "inf",
            "99999999999999999999",
            '""',
            '"x"',
            '"2031-01-01"',
            "2031-01-01",
            "2024-04-01T00:00:00",
            "07:30:00",
            "[]",
            "[1, 2]",
            "{}",
            "{a = 1}",
            '"EUR"',
            '"Ünïcødé"',
            "1979-05-27T07:32:00-08:00",
        ]
    )
    | st.integers(min_value=-(10**20), max_value=10**20).map(str)
    | st.floats(allow_nan=False, allow_infinity=False).map(repr)
)
ENTRY = {
    "observed": "2024-04-01",
    "source": '"a"',
    "sku_label": '"Nvidia H100"',
    "sku": '"H100"',
    "price": "25000",
    "currency": '"USD"',
    "gpu_count": "1",
    "kind": '"purchase"',
}


@FAST
@given(data=st.data())
def test_properties_curated_one_value_replaced(data):
    entry = dict(ENTRY)
    key = data.draw(st.sampled_from(sorted(entry) + ["usd_per_unit", "memory_gb"]))
    entry[key] = data.draw(toml_literals)
    head = data.draw(st.sampled_from(["version = 1", "version = true", "quote = 5", ""]))
    text = head + "\n[[quote]]\n" + "\n".join(f"{k} = {v}" for k, v in entry.items()) + "\n"
    ends_cleanly(lambda: parse_curated_entries(text, read_at=FETCHED), Quote, Quarantined)


@FAST
@given(
    text=st.text(max_size=60)
    | st.sampled_from(["[[quote]]\n" * 3, "quote = [1, 2]", "[[quote]]\nobserved = 07:00:00"])
)
def test_properties_curated_any_text(text):
    ends_cleanly(lambda: parse_curated_entries(text, read_at=FETCHED), Quote, Quarantined)
