"""Plausibility at the boundary: nothing from the future, no category twice, no boolean taken for
a number. The parsers are pure, so each case is a response as the archive would hold it."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from capcover.fakeapi.gpu import feed_reference, vast_offer
from capcover.ingest.coingecko import build_snapshot
from capcover.ingest.errors import BadPayload
from capcover.ingest.fx import parse_exchange_rates
from capcover.ingest.history import parse_market_chart
from capcover.ingest.models import RawResponse
from capcover.ingest.quotes import parse_curated_raws
from capcover.ingest.runpod import parse_raws as parse_runpod
from capcover.ingest.vastai import parse_raws as parse_vastai
from tests.conftest import AI, category_payload, market_pages
from tests.helpers import raw_get

FETCHED = datetime(2024, 4, 3, 7, 0, tzinfo=UTC)  # just after the fixtures' updated_at


def raw(
    source: str,
    endpoint: str,
    payload,
    *,
    params=None,
    body: str | None = None,
    fetched_at: datetime = FETCHED,
) -> RawResponse:
    text = body if body is not None else json.dumps(payload)
    return raw_get(source, endpoint, text, params=params, fetched_at=fetched_at)


def sector(categories, pages=None) -> list[RawResponse]:
    pages = pages if pages is not None else market_pages()
    return [raw("coingecko", "/coins/categories", categories)] + [
        raw("coingecko", "/coins/markets", page, params={"category": AI, "page": str(n)})
        for n, page in enumerate(pages, start=1)
    ]


def test_plausibility_category_from_the_future_fails_the_run_in_one_line():
    future = (FETCHED + timedelta(hours=2)).isoformat()
    with pytest.raises(
        BadPayload,
        match=r"^coingecko /coins/categories: category "
        r"'artificial-intelligence' is malformed \(updated_at "
        r".* is 7200 s after the answer arrived",
    ) as info:
        build_snapshot(sector(category_payload(updated_at=future)), [AI])
    assert "\n" not in str(info.value) and "CAPCOVER_MAX_CLOCK_SKEW_S" in str(info.value)


def test_plausibility_category_within_the_skew_is_accepted():
    near = (FETCHED + timedelta(seconds=300)).isoformat()
    snap = build_snapshot(sector(category_payload(updated_at=near)), [AI])
    assert snap.categories[0].updated_at == FETCHED + timedelta(seconds=300)


def test_plausibility_skew_is_a_setting():
    near = (FETCHED + timedelta(seconds=300)).isoformat()
    with pytest.raises(BadPayload, match="allowed clock skew 60 s"):
        build_snapshot(sector(category_payload(updated_at=near)), [AI], max_skew_s=60)


def test_plausibility_coin_from_the_future_is_quarantined_with_the_reason():
    pages = market_pages()
    pages[0][5]["last_updated"] = "2099-01-01T00:00:00Z"
    snap = build_snapshot(sector(category_payload(), pages), [AI])
    (q,) = snap.quarantined
    assert q.record_key == pages[0][5]["id"]
    assert q.reason.startswith("last_updated 2099-01-01T00:00:00+00:00 is ")
    assert pages[0][5]["id"] not in {c.id for c in snap.constituents[AI]}


def test_plausibility_category_listed_twice_is_an_error():
    cats = category_payload()
    with pytest.raises(BadPayload, match=r"category 'artificial-intelligence' is listed twice"):
        build_snapshot(sector(cats + [dict(cats[1], market_cap=1.0)]), [AI])


def test_plausibility_boolean_market_cap_is_quarantined_never_one():
    pages = market_pages()
    pages[0][2]["market_cap"] = True
    snap = build_snapshot(sector(category_payload(), pages), [AI])
    (q,) = snap.quarantined
    assert q.record_key == pages[0][2]["id"] and "a boolean is not a number" in q.reason


def test_plausibility_boolean_category_cap_fails_the_run():
    cats = category_payload()
    cats[1]["market_cap"] = True
    with pytest.raises(BadPayload, match="a boolean is not a number"):
        build_snapshot(sector(cats), [AI])


def test_plausibility_boolean_in_market_chart_is_no_value():
    chart = {
        "prices": [[1711929600000, True]],
        "market_caps": [[1711929600000, True]],
        "total_volumes": [[1711929600000, 5.0]],
    }
    (point,) = parse_market_chart(raw("coingecko", "/coins/x/market_chart", chart), "x")
    assert point.market_cap_usd is None and point.price_usd is None
    assert point.volume_24h_usd == 5.0


def test_plausibility_boolean_exchange_rate_is_left_out():
    rates = {
        "rates": {"usd": {"value": 68000.0}, "eur": {"value": True}, "gbp": {"value": 54000.0}}
    }
    parsed = parse_exchange_rates(raw("coingecko", "/exchange_rates", rates))
    assert set(parsed.usd_per) == {"USD", "GBP"}


def test_plausibility_boolean_vastai_price_is_quarantined():
    offers = [vast_offer(1, "H100 SXM", 1, 2.0), vast_offer(2, "H100 SXM", 1, True)]
    quotes, bad = parse_vastai([raw("vastai", "/api/v0/bundles/", {"offers": offers})])
    assert [q.price_usd for q in quotes] == [2.0]
    assert [b.record_key for b in bad] == [str(offers[1]["id"])]


def test_plausibility_boolean_runpod_memory_is_not_one_gb():
    types = feed_reference("runpod_graphql_gputypes_2026-08-22.json")["data"]["gpuTypes"]
    gpu = next(t for t in types if t.get("securePrice"))
    gpu = dict(gpu, memoryInGb=True)
    quotes, _ = parse_runpod([raw("runpod", "/graphql", {"data": {"gpuTypes": [gpu]}})])
    assert quotes and all(q.memory_gb != 1.0 for q in quotes)


CURATED = """
version = 3

[[quote]]
observed = 2024-04-01
source = "a"
sku_label = "Nvidia H100"
sku = "H100"
price = 25000

[[quote]]
observed = 2031-01-01
source = "typo in the year"
sku_label = "Nvidia H100"
sku = "H100"
price = 99000
"""


def test_plausibility_curated_quote_from_the_future_is_quarantined():
    quotes, bad = parse_curated_raws([raw("curated", "quotes.toml", None, body=CURATED)])
    assert [q.price_usd for q in quotes] == [25000]
    (b,) = bad
    assert b.record_key == "#2" and b.reason.startswith("observed 2031-01-01T00:00:00+00:00 is")


def test_plausibility_curated_boolean_price_fails_the_file_in_one_line():
    text = CURATED.replace("price = 25000", "price = true")
    with pytest.raises(
        BadPayload,
        match=r"entry #1 \(Nvidia H100\): TypeError\('price: not a "
        r"number: True'\)",
    ) as info:
        parse_curated_raws([raw("curated", "quotes.toml", None, body=text)])
    assert "\n" not in str(info.value)
