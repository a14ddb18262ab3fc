"""The one HTTP layer: retries honour Retry-After within a budget; errors carry the status."""

import pytest
from werkzeug import Response

from capcover.ingest.client import HttpOptions
from capcover.ingest.coingecko import CoinGeckoClient
from capcover.ingest.errors import AuthError, BadPayload, PlanLimited, RateLimited
from capcover.ingest.http import RetryPolicy
from tests.conftest import reference


def _client(server, budget=5.0, plan="public", key=None):
    sleeps = []
    client = CoinGeckoClient(
        plan=plan,
        api_key=key,
        base_url=server.url_for("/api/v3"),
        rate_per_minute=60000,
        http=HttpOptions(retry=RetryPolicy(budget_s=budget), sleep=sleeps.append),
    )
    return client, sleeps


def test_http_429_with_retry_after_then_200_is_retried_once(httpserver):
    body = reference("error_429_rate_limit.json")["payload"]
    httpserver.expect_ordered_request("/api/v3/coins/categories").respond_with_json(
        body, status=429, headers={"Retry-After": "1"}
    )
    httpserver.expect_ordered_request("/api/v3/coins/categories").respond_with_json([])
    client, sleeps = _client(httpserver)
    raw = client.categories().record
    assert raw.status == 200
    assert client.session.stats.requests == 2
    assert sleeps and sleeps[0] >= 1.0  # the server's wait was honoured


def test_http_retry_after_beyond_budget_fails_fast_with_clear_message(httpserver):
    body = reference("error_429_rate_limit.json")["payload"]
    httpserver.expect_request("/api/v3/coins/categories").respond_with_json(
        body, status=429, headers={"Retry-After": "119"}
    )
    client, sleeps = _client(httpserver, budget=10)
    with pytest.raises(RateLimited, match=r"HTTP 429.*server asked to wait 119 s") as info:
        client.categories()
    assert info.value.status == 429
    assert client.session.stats.requests == 1 and sleeps == []


def test_http_error_envelopes_map_to_typed_errors(httpserver):
    httpserver.expect_request("/api/v3/coins/categories").respond_with_json(
        reference("error_401_10002_missing_key.json")["payload"], status=401
    )
    client, _ = _client(httpserver)
    with pytest.raises(AuthError) as info:
        client.categories()
    assert info.value.status == 401 and info.value.error_code == 10002


def test_http_10012_nested_envelope_is_plan_limited(httpserver):
    httpserver.expect_request("/api/v3/coins/categories").respond_with_json(
        reference("error_10012_history_beyond_365d.json")["payload"], status=401
    )
    client, _ = _client(httpserver)
    with pytest.raises(PlanLimited, match="error 10012"):
        client.categories()


def test_http_html_with_200_is_a_bad_payload(httpserver):
    httpserver.expect_request("/api/v3/coins/categories").respond_with_response(
        Response("<html><body>Just a moment...</body></html>", status=200, content_type="text/html")
    )
    client, _ = _client(httpserver)
    client.categories()
    with pytest.raises(BadPayload, match="/coins/categories: expected JSON, got an HTML page"):
        client.fetch_sector(["artificial-intelligence"])


# -- the client owns the status mapping, the layer shares the loop -----------------------------

import json  # noqa: E402
from datetime import UTC, datetime  # noqa: E402

from pycoingecko import CoinGeckoAPI  # noqa: E402

from capcover.config.settings import load_settings  # noqa: E402
from capcover.flows.clients import Clients  # noqa: E402
from capcover.ingest.errors import NotFound, StatusError  # noqa: E402
from capcover.ingest.http import HttpSession  # noqa: E402
from capcover.ingest.runpod import RunPodClient  # noqa: E402
from capcover.ingest.vastai import VastAiClient  # noqa: E402


def test_http_vastai_401_advises_a_vastai_setting_not_coingecko(httpserver):
    httpserver.expect_request("/api/v0/bundles/").respond_with_json({"error": "nope"}, status=401)
    client = VastAiClient(
        base_url=httpserver.url_for("/"),
        gpu_names=["H100 SXM"],
        rate_per_minute=60000,
        http=HttpOptions(sleep=lambda s: None),
    )
    with pytest.raises(
        AuthError,
        match=r"^vastai /api/v0/bundles/: HTTP 401: .*"
        r"CAPCOVER_VASTAI_BASE_URL",
    ) as info:
        client.fetch()
    assert "COINGECKO" not in str(info.value) and info.value.attempts == 1
    # The refused answer travels with the error, to be archived.
    assert [r.status for r in info.value.raws] == [401]


def test_http_runpod_403_advises_a_runpod_setting(httpserver):
    httpserver.expect_request("/graphql").respond_with_data("forbidden", status=403)
    client = RunPodClient(base_url=httpserver.url_for("/"), rate_per_minute=60000)
    with pytest.raises(AuthError, match=r"CAPCOVER_RUNPOD_BASE_URL") as info:
        client.fetch()
    assert "COINGECKO" not in str(info.value)


def test_http_coingecko_401_advises_its_plan_and_key(httpserver):
    httpserver.expect_request("/api/v3/coins/categories").respond_with_json(
        reference("error_401_10002_missing_key.json")["payload"], status=401
    )
    client, _ = _client(httpserver)
    with pytest.raises(AuthError, match="CAPCOVER_COINGECKO_PLAN and CAPCOVER_COINGECKO_API_KEY"):
        client.categories()


def test_http_fetch_returns_the_response_and_every_attempts_record(httpserver):
    httpserver.expect_ordered_request("/x").respond_with_data("busy", status=503)
    httpserver.expect_ordered_request("/x").respond_with_json({"ok": 1})
    session = HttpSession(
        source="s",
        base_url=httpserver.url_for("/"),
        rate_per_minute=60000,
        retry=RetryPolicy(base_delay_s=0.01),
        sleep=lambda s: None,
    )
    exchange = session.fetch("GET", httpserver.url_for("/x"))
    assert exchange.response.json() == {"ok": 1}
    assert [(r.status, r.attempt) for r in exchange.records] == [(503, 1), (200, 2)]
    assert json.loads(exchange.record.body) == {"ok": 1}


def test_http_session_handed_to_pycoingecko_still_works(httpserver):
    """A wrapper that calls `session.get` itself gets the same loop and typed errors."""
    httpserver.expect_ordered_request("/api/v3/coins/categories").respond_with_json([{"id": "a"}])
    httpserver.expect_ordered_request("/api/v3/coins/bitcoin/").respond_with_json(
        reference("error_404_coin_not_found.json")["payload"], status=404
    )
    session = HttpSession(
        source="coingecko",
        base_url=httpserver.url_for("/api/v3"),
        rate_per_minute=60000,
        sleep=lambda s: None,
    )
    api = CoinGeckoAPI()
    api.api_base_url = session.base_url + "/"
    api.session = session
    assert api.get_coins_categories() == [{"id": "a"}]
    with pytest.raises(NotFound) as info:  # not pycoingecko's bare ValueError
        api.get_coin_by_id("bitcoin")
    assert isinstance(info.value, StatusError) and info.value.status == 404
    httpserver.expect_request("/api/v3/ping").respond_with_json({"gecko_says": "hi"})
    response = session.get(httpserver.url_for("/api/v3/ping"))
    assert response.capcover_record.status == response.status_code == 200


def test_http_clients_take_an_injected_clock_and_sleep(httpserver, tmp_path):
    httpserver.expect_ordered_request("/api/v3/coins/categories").respond_with_data("", 503)
    httpserver.expect_ordered_request("/api/v3/coins/categories").respond_with_json([])
    now = [datetime(2031, 5, 6, 7, 8, 9, tzinfo=UTC)]
    slept = []

    def sleep(seconds):
        slept.append(seconds)
        now[0] = now[0].fromtimestamp(now[0].timestamp() + seconds, UTC)

    settings = load_settings(
        environ=False,
        coingecko_base_url=httpserver.url_for("/api/v3"),
        coingecko_rate_per_minute=60000,
        db=tmp_path / "w.duckdb",
    )
    client = Clients(settings, sleep=sleep, clock=lambda: now[0]).coingecko()
    exchange = client.categories()
    raw = exchange.record
    first, second = exchange.records
    assert first.fetched_at == datetime(2031, 5, 6, 7, 8, 9, tzinfo=UTC)
    assert second is raw and raw.fetched_at == first.fetched_at.fromtimestamp(
        first.fetched_at.timestamp() + slept[0], UTC
    )
