"""The fake API itself (fakeapi/): static tables, scripted faults in order, replay matching, and
the payload copies it ships matching the reference files the tests read."""

import json
from pathlib import Path

import pytest
import requests

from capcover.fakeapi import FakeAPI, Reply, Reset, Truncated
from capcover.fakeapi.coingecko import CoinGecko
from capcover.fakeapi.fixtures import HERE as SHIPPED
from capcover.fakeapi.replay import ReplayServer

TESTS_FIXTURES = Path(__file__).parent / "fixtures"


def test_fakeapi_mounts_a_static_route_table_as_given():
    table = {
        "/v1/catalog.zip": (
            200,
            {"Content-Type": "application/zip", "ETag": '"v1"'},
            b"PK\x03\x04zip-bytes",
        ),
        "/v1/version": (200, {}, b"0.1.2"),
    }
    with FakeAPI() as api:
        api.mount(table, prefix="/gpuhunt")
        zipped = requests.get(api.url_for("/gpuhunt/v1/catalog.zip"), timeout=5)
        version = requests.get(api.url_for("/gpuhunt/v1/version"), timeout=5)
        missing = requests.get(api.url_for("/v1/version"), timeout=5)
    assert (zipped.status_code, zipped.content) == (200, b"PK\x03\x04zip-bytes")
    assert zipped.headers["Content-Type"] == "application/zip"
    assert zipped.headers["ETag"] == '"v1"'
    assert (version.content, missing.status_code) == (b"0.1.2", 404)


def test_fakeapi_scripted_actions_answer_in_order_then_the_routes_again():
    with CoinGecko.reference() as api:
        api.script("/coins/markets", Reply({"error": "busy"}, status=503), page=2)
        api.script("/coins/markets", Reply({"error": "down"}, status=500))
        url = api.base_url + "/coins/markets"
        page2 = requests.get(url, params={"page": 2}, timeout=5)  # the page-2 script first
        page1 = requests.get(url, params={"page": 1}, timeout=5)  # then the endpoint's
        again = requests.get(url, params={"page": 2}, timeout=5)  # queues empty: the route
    assert [page2.status_code, page1.status_code, again.status_code] == [503, 500, 200]
    assert [c["id"] for c in again.json()][:2] == ["ai-coin-250", "ai-coin-251"]
    assert api.attempts("/coins/markets") == 3 and len(api.log) == 3


def test_fakeapi_reset_and_truncated_fail_on_the_client():
    with FakeAPI() as api:
        api.add("/x", {"ok": True})
        api.script("/x", Reset(), Truncated())
        with pytest.raises(requests.ConnectionError):
            requests.get(api.url_for("/x"), timeout=5)
        with pytest.raises(requests.exceptions.ChunkedEncodingError):
            requests.get(api.url_for("/x"), timeout=5)
        assert requests.get(api.url_for("/x"), timeout=5).json() == {"ok": True}


def test_fakeapi_replay_prefers_the_most_specific_query():
    snapshot = {
        "routes": [
            {"path": "/api/v3/coins/markets", "query": {"category": "ai"}, "body": []},
            {
                "path": "/api/v3/coins/markets",
                "query": {"category": "ai", "page": 1},
                "body": [{"id": "a"}],
            },
            {"method": "POST", "path": "/graphql", "body": '{"data": {}}'},
        ]
    }
    with ReplayServer(snapshot) as url:
        first = requests.get(
            url + "/api/v3/coins/markets", params={"category": "ai", "page": 1}, timeout=5
        )
        past_end = requests.get(
            url + "/api/v3/coins/markets", params={"category": "ai", "page": 2}, timeout=5
        )
        graphql = requests.post(url + "/graphql", json={"query": "{}"}, timeout=5)
        get_graphql = requests.get(url + "/graphql", timeout=5)
    assert first.json() == [{"id": "a"}] and past_end.json() == []
    assert graphql.json() == {"data": {}} and get_graphql.status_code == 404


@pytest.mark.parametrize(
    "name", sorted(str(p.relative_to(SHIPPED)) for p in SHIPPED.rglob("*.json"))
)
def test_fakeapi_shipped_payloads_are_the_reference_files(name):
    shipped = json.loads((SHIPPED / name).read_text(encoding="utf-8"))
    assert shipped == json.loads((TESTS_FIXTURES / name).read_text(encoding="utf-8"))
