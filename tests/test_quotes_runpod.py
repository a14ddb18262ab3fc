"""RunPod gpuTypes over real HTTP: per-GPU-hour prices, 0/null = not offered, spot left out,
a real User-Agent, failures (429, empty result, renamed field, GraphQL error)."""

import pytest

from capcover.fakeapi import Reply
from capcover.fakeapi.gpu import RUNPOD_PATH, FakeRunPod
from capcover.ingest.client import HttpOptions
from capcover.ingest.errors import AuthError
from capcover.ingest.http import RetryPolicy
from capcover.ingest.quotes import collect
from capcover.ingest.runpod import RunPodClient, parse_raws
from tests.conftest import TEXT


def client(server) -> RunPodClient:
    return RunPodClient(
        base_url=server.url_for("/"),
        rate_per_minute=60000,
        http=HttpOptions(retry=RetryPolicy(budget_s=5, base_delay_s=0.01), sleep=lambda s: None),
    )


def test_runpod_quotes_each_offered_surface_per_gpu_hour(feed_api):
    fake = FakeRunPod()
    feed_api.handle(RUNPOD_PATH, fake, method="POST")
    quotes, bad = parse_raws(client(feed_api).fetch())
    h100 = {q.tier: q for q in quotes if q.sku == "H100"}
    assert {t: q.price_usd for t, q in h100.items()} == {
        "secure cloud, on-demand": 3.29,
        "community cloud, on-demand": 2.69,
    }
    q = h100["secure cloud, on-demand"]
    assert (q.kind, q.price_unit, q.gpu_count_basis, q.form_factor, q.memory_gb) == (
        "rental_hourly",
        "USD/GPU-hour",
        1,
        "SXM",
        80.0,
    )
    assert q.sku_label == "NVIDIA H100 80GB HBM3 (H100 SXM)"
    # A100 SXM 40GB has securePrice 0: not offered on Secure Cloud, so one quote only.
    assert [q.tier for q in quotes if q.sku == "A100"] == ["community cloud, on-demand"]
    assert len(quotes) == 16 and bad == []


def test_runpod_sends_a_real_user_agent(feed_api):
    fake = FakeRunPod()
    feed_api.handle(RUNPOD_PATH, fake, method="POST")
    client(feed_api).fetch()
    assert fake.user_agents and fake.user_agents[0].startswith("capcover/")


def test_runpod_cdn_403_is_a_clear_failure(feed_api):
    feed_api.add(
        RUNPOD_PATH, Reply(raw="<html>403 Forbidden</html>", status=403, content_type="text/html")
    )
    with pytest.raises(AuthError, match="HTTP 403"):
        client(feed_api).fetch()


def test_runpod_null_and_zero_prices_are_not_offered_and_bad_ones_quarantined(feed_api):
    types = [
        {
            "id": "NVIDIA H100 NVL",
            "displayName": "H100 NVL",
            "memoryInGb": 94,
            "securePrice": None,
            "communityPrice": 0,
        },
        {
            "id": "NVIDIA H100 PCIe",
            "displayName": "H100 PCIe",
            "memoryInGb": 80,
            "securePrice": 2.39,
            "communityPrice": "cheap",
        },
        {
            "id": "NVIDIA H200",
            "displayName": "H200 SXM",
            "memoryInGb": 141,
            "securePrice": 3.99,
            "communityPrice": None,
        },
    ]
    feed_api.handle(RUNPOD_PATH, FakeRunPod(types))
    quotes, bad = parse_raws(client(feed_api).fetch())
    assert [(q.sku, q.price_usd) for q in quotes] == [("H200", 3.99)]
    assert len(bad) == 1 and bad[0].record_key == "NVIDIA H100 PCIe"
    assert "communityPrice" in bad[0].reason


def test_runpod_retries_a_429_then_succeeds(feed_api):
    feed_api.script(
        RUNPOD_PATH,
        Reply(raw="rate limited", status=429, content_type=TEXT, headers={"Retry-After": "0"}),
    )
    feed_api.handle(RUNPOD_PATH, FakeRunPod())
    c = client(feed_api)
    batch = collect(c)
    assert batch.error is None and len(batch.quotes) == 16
    assert c.session.stats.retries == 1


def test_runpod_empty_result_is_a_failed_feed(feed_api):
    feed_api.handle(RUNPOD_PATH, FakeRunPod([]))
    batch = collect(client(feed_api))
    assert batch.error == "parsed zero quotes" and len(batch.raws) == 1


def test_runpod_renamed_field_fails_the_feed(feed_api):
    types = [
        {
            "id": "NVIDIA H200",
            "displayName": "H200 SXM",
            "memoryInGb": 141,
            "secureCloudPrice": 3.99,
            "communityPrice": 3.59,
        }
    ]
    feed_api.handle(RUNPOD_PATH, FakeRunPod(types))
    batch = collect(client(feed_api))
    assert "lack required field(s) securePrice" in batch.error


def test_runpod_graphql_error_fails_the_feed(feed_api):
    feed_api.add(RUNPOD_PATH, {"errors": [{"message": 'Cannot query field "securePrice"'}]})
    batch = collect(client(feed_api))
    assert batch.error.startswith("runpod /graphql: GraphQL error: Cannot query field")
