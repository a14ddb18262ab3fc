"""The one HTTP layer: retries honour Retry-After within a budget; errors carry the status."""

import pytest
from werkzeug import Response

from ingest.coingecko import CoinGeckoClient
from ingest.errors import AuthError, BadPayload, PlanLimited, RateLimited
from ingest.http import RetryPolicy
from tests.conftest import reference


def _client(server, budget=5.0, plan="public", key=None):
    sleeps = []
    client = CoinGeckoClient(plan=plan, api_key=key, base_url=server.url_for("/api/v3"),
                             rate_per_minute=60000, retry=RetryPolicy(budget_s=budget),
                             sleep=sleeps.append)
    return client, sleeps


def test_http_429_with_retry_after_then_200_is_retried_once(httpserver):
    body = reference("error_429_rate_limit.json")["payload"]
    httpserver.expect_ordered_request("/api/v3/coins/categories").respond_with_json(
        body, status=429, headers={"Retry-After": "1"})
    httpserver.expect_ordered_request("/api/v3/coins/categories").respond_with_json([])
    client, sleeps = _client(httpserver)
    raw = client.categories()
    assert raw.status == 200
    assert client.session.stats.requests == 2
    assert sleeps and sleeps[0] >= 1.0  # the server's wait was honoured


def test_http_retry_after_beyond_budget_fails_fast_with_clear_message(httpserver):
    body = reference("error_429_rate_limit.json")["payload"]
    httpserver.expect_request("/api/v3/coins/categories").respond_with_json(
        body, status=429, headers={"Retry-After": "119"})
    client, sleeps = _client(httpserver, budget=10)
    with pytest.raises(RateLimited, match=r"HTTP 429.*server asked to wait 119 s") as info:
        client.categories()
    assert info.value.status == 429
    assert client.session.stats.requests == 1 and sleeps == []


def test_http_error_envelopes_map_to_typed_errors(httpserver):
    httpserver.expect_request("/api/v3/coins/categories").respond_with_json(
        reference("error_401_10002_missing_key.json")["payload"], status=401)
    client, _ = _client(httpserver)
    with pytest.raises(AuthError) as info:
        client.categories()
    assert info.value.status == 401 and info.value.error_code == 10002


def test_http_10012_nested_envelope_is_plan_limited(httpserver):
    httpserver.expect_request("/api/v3/coins/categories").respond_with_json(
        reference("error_10012_history_beyond_365d.json")["payload"], status=401)
    client, _ = _client(httpserver)
    with pytest.raises(PlanLimited, match="error 10012"):
        client.categories()


def test_http_html_with_200_is_a_bad_payload(httpserver):
    httpserver.expect_request("/api/v3/coins/categories").respond_with_response(
        Response("<html><body>Just a moment...</body></html>", status=200,
                 content_type="text/html"))
    client, _ = _client(httpserver)
    client.categories()
    with pytest.raises(BadPayload, match="/coins/categories: expected JSON, got an HTML page"):
        client.fetch_sector(["artificial-intelligence"])
