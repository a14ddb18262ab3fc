"""RunPod gpuTypes over real HTTP: per-GPU-hour prices, a quote per price field with its tier
(on-demand, spot, committed terms), 0/null = not offered, availability said on each quote, a
real User-Agent, failures (429, empty result, renamed field, GraphQL error)."""

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from capcover.fakeapi import Reply
from capcover.fakeapi.gpu import RUNPOD_PATH, FakeRunPod
from capcover.ingest.client import HttpOptions
from capcover.ingest.errors import AuthError
from capcover.ingest.http import RetryPolicy
from capcover.ingest.quotes import collect
from capcover.ingest.runpod import SURFACES, RunPodClient, parse_raws
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
    h100 = {q.tier_label: q for q in quotes if q.sku_label.startswith("NVIDIA H100 80GB HBM3")}
    assert {t: (q.tier, q.price_usd) for t, q in h100.items()} == {
        "secure cloud, on-demand": ("on_demand", 3.29),
        "community cloud, on-demand": ("on_demand", 2.69),
        "secure cloud, spot": ("spot", 3.29),
        "community cloud, spot": ("spot", 2.69),
        "1-month term": ("committed_1m", 3.09),
        "3-month term": ("committed_3m", 2.99),
        "6-month term": ("committed_6m", 2.89),
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
    assert (q.listing_id, q.capacity_id, q.provider) == (
        "NVIDIA H100 80GB HBM3|secure",
        "NVIDIA H100 80GB HBM3|secure cloud",
        "runpod",
    )
    # A100 SXM 40GB has securePrice 0: not offered on Secure Cloud, so no secure quote.
    assert [q.tier_label for q in quotes if q.sku == "A100"] == [
        "community cloud, on-demand",
        "community cloud, spot",
    ]
    listed = sum(1 for t in fake.gpu_types for field, *_ in SURFACES if t.get(field))
    assert len(quotes) == listed == 49 and bad == []


def test_runpod_availability_fields_go_on_the_quotes(feed_api):
    feed_api.handle(RUNPOD_PATH, FakeRunPod(), method="POST")
    quotes, _ = parse_raws(client(feed_api).fetch())
    by = {(q.instance_name, q.tier_label): q for q in quotes}
    # B300: a communityPrice listed although communityCloud is false.
    b300 = by[("NVIDIA B300 SXM6 AC", "community cloud, on-demand")]
    assert (
        b300.unavailable_reason
        == "RunPod does not offer it on Community Cloud (communityCloud false)"
    )
    assert by[("NVIDIA B300 SXM6 AC", "secure cloud, on-demand")].unavailable_reason is None
    nvl = by[("NVIDIA H100 NVL", "secure cloud, on-demand")]
    assert nvl.unavailable_reason == "none in stock (lowestPrice.stockStatus null)"
    assert nvl.form_factor == "NVL"
    # RunPod's id of the SXM5 part tells the form factor where the display name does not.
    assert by[("NVIDIA B200", "secure cloud, on-demand")].form_factor == "SXM"
    assert by[("NVIDIA B200", "secure cloud, on-demand")].form_factor_v1 is None


def test_runpod_the_recorded_four_field_answer_still_parses(feed_api):
    from dataclasses import replace

    from capcover.fakeapi.gpu import RUNPOD_REFERENCE, feed_reference

    recorded = feed_reference(RUNPOD_REFERENCE)["data"]["gpuTypes"]
    feed_api.handle(RUNPOD_PATH, FakeRunPod(recorded), method="POST")
    raws = client(feed_api).fetch()
    quotes, bad = parse_raws(raws)
    assert bad == [] and len(quotes) == sum(
        1 for t in recorded for field, *_ in SURFACES if t.get(field)
    )
    # Today's query asks for the stock status: an answer without it is not known to be in stock.
    assert {q.unavailable_reason for q in quotes} == {
        "stock not told (no lowestPrice in the answer): not known to be in stock"
    }
    # Archived as the answer to the four-price query it was captured with, it replays as then.
    old_query = json.dumps(
        {"query": json.loads(raws[-1].request_body)["query"].split(" lowest")[0]}
    )
    assert "lowestPrice" not in old_query
    replayed, _ = parse_raws([replace(raws[-1], request_body=old_query)])
    assert all(q.unavailable_reason is None for q in replayed)


# What `lowestPrice` can be in an answer: only a non-empty stockStatus says "in stock".
STOCK = st.one_of(
    st.just("absent"),
    st.none(),
    st.sampled_from([[], "High", 0, True]),
    st.fixed_dictionaries(
        {},
        optional={
            "stockStatus": st.none() | st.text(max_size=8) | st.integers() | st.booleans(),
            "minVcpu": st.integers(0, 64),
        },
    ),
)


@settings(max_examples=150, deadline=None, derandomize=True)
@given(lowest=STOCK)
def test_runpod_a_price_without_a_stock_status_is_never_priced_as_in_stock(lowest):
    from datetime import UTC, datetime

    from capcover.ingest.models import RawResponse
    from capcover.ingest.runpod import ENDPOINT, GPU_TYPES_QUERY

    gpu = {
        "id": "NVIDIA H100 80GB HBM3",
        "displayName": "H100 SXM",
        "memoryInGb": 80,
        "secureCloud": True,
        "communityCloud": True,
        "securePrice": 3.29,
        "communityPrice": 2.69,
    }
    if lowest != "absent":
        gpu["lowestPrice"] = lowest
    body = json.dumps({"data": {"gpuTypes": [gpu]}})
    asked = json.dumps({"query": GPU_TYPES_QUERY})
    at = datetime(2026, 11, 20, tzinfo=UTC)
    raw = RawResponse("runpod", ENDPOINT, "POST", "u", {}, asked, 200, body, at, 1.0, 1)
    quotes, bad = parse_raws([raw])
    assert bad == [] and len(quotes) == 2
    status = lowest.get("stockStatus") if isinstance(lowest, dict) else None
    in_stock = isinstance(status, str) and status.strip() != ""
    for q in quotes:
        assert (q.unavailable_reason is None) == in_stock, (lowest, q.unavailable_reason)
        assert q.unavailable_reason is None or "\n" not in q.unavailable_reason


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


def test_runpod_a_bad_term_price_rejects_that_field_alone(feed_api):
    types = [
        {
            "id": "NVIDIA H200",
            "displayName": "H200 SXM",
            "memoryInGb": 141,
            "securePrice": 3.99,
            "communityPrice": None,
            "oneMonthPrice": True,
        }
    ]
    feed_api.handle(RUNPOD_PATH, FakeRunPod(types))
    quotes, bad = parse_raws(client(feed_api).fetch())
    assert [(q.tier, q.price_usd) for q in quotes] == [("on_demand", 3.99)]
    assert [b.record_key for b in bad] == ["NVIDIA H200|oneMonthPrice"]


def test_runpod_retries_a_429_then_succeeds(feed_api):
    feed_api.script(
        RUNPOD_PATH,
        Reply(raw="rate limited", status=429, content_type=TEXT, headers={"Retry-After": "0"}),
    )
    feed_api.handle(RUNPOD_PATH, FakeRunPod())
    c = client(feed_api)
    batch = collect(c)
    assert batch.error is None and len(batch.quotes) == 49
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
