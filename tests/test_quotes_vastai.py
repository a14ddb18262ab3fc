"""Vast.ai offers over real HTTP: pagination past the 64-offer cap, per-GPU prices, bids and
unverified offers left out, failures (429, empty result, renamed field)."""

import json

import pytest

from capcover.fakeapi import Reply
from capcover.fakeapi.gpu import VAST_PATH, FakeVast, vast_market, vast_offer
from capcover.ingest.client import HttpOptions
from capcover.ingest.errors import BadPayload
from capcover.ingest.http import RetryPolicy
from capcover.ingest.quotes import collect
from capcover.ingest.vastai import PAGE_CAP, VastAiClient, offer_query, parse_raws
from tests.conftest import TEXT


def client(server, **kw) -> VastAiClient:
    return VastAiClient(
        base_url=server.url_for("/"),
        rate_per_minute=60000,
        http=HttpOptions(retry=RetryPolicy(budget_s=5, base_delay_s=0.01), sleep=lambda s: None),
        **kw,
    )


def serve(api, fake: FakeVast) -> FakeVast:
    api.handle(VAST_PATH, fake)
    return fake


def test_vastai_query_is_on_demand_verified_and_capped():
    q = offer_query("H100 SXM")
    assert q["type"] == "on-demand" and q["verified"] == {"eq": True}
    assert q["rentable"] == {"eq": True} and q["rented"] == {"eq": False}
    assert q["limit"] == PAGE_CAP == 64 and q["order"] == [["dph_total", "asc"]]


def test_vastai_pages_past_the_cap_with_a_price_cursor(feed_api):
    fake = serve(feed_api, FakeVast())
    c = client(feed_api, gpu_names=["H100 SXM"])
    quotes, bad = parse_raws(c.fetch())
    # 70 listed + a bid + an unverified + a malformed one: 73 offers, two pages.
    assert len(fake.queries) == 2
    assert "dph_total" not in fake.queries[0]
    assert fake.queries[1]["dph_total"]["gte"] == max(
        o["dph_total"]
        for o in sorted(
            [o for o in vast_market() if o["gpu_name"] == "H100 SXM"],
            key=lambda o: (o["dph_total"], o["id"]),
        )[:64]
    )
    assert len(quotes) == 70  # every verified on-demand offer once, overlap de-duplicated
    assert len({q.listing_id for q in quotes}) == 70
    assert [b.reason for b in bad] == ["num_gpus: not a positive integer: 0"]


def test_vastai_divides_instance_price_by_gpu_count(feed_api):
    serve(feed_api, FakeVast([vast_offer(1, "H200", 8, 23.2)]))
    quotes, _ = parse_raws(client(feed_api, gpu_names=["H200"]).fetch())
    (q,) = quotes
    assert (q.price_raw, q.gpu_count_basis, q.price_unit) == (23.2, 8, "USD/instance-hour")
    assert q.price_usd == pytest.approx(2.9)
    assert (q.kind, q.sku, q.sku_label, q.source) == ("rental_hourly", "H200", "H200", "vastai")
    assert q.memory_gb == 80.0  # 81559 MiB in the captured offer -> nominal GB
    assert q.region == "US" and q.tier == "on-demand" and q.condition == "verified"


def test_vastai_leaves_out_bids_unverified_and_rented(feed_api):
    serve(
        feed_api,
        FakeVast(
            [
                vast_offer(1, "H100 SXM", 1, 2.0),
                vast_offer(2, "H100 SXM", 1, 0.5, is_bid=True),
                vast_offer(3, "H100 SXM", 1, 0.6, verification="unverified"),
                vast_offer(4, "H100 SXM", 1, 0.7, rented=True),
            ]
        ),
    )
    quotes, bad = parse_raws(client(feed_api, gpu_names=["H100 SXM"]).fetch())
    assert [q.listing_id for q in quotes] == ["50000001"] and bad == []


def test_vastai_retries_a_429_then_succeeds(feed_api):
    feed_api.script(
        VAST_PATH, Reply({"error": "too many requests"}, status=429, headers={"Retry-After": "0"})
    )
    feed_api.add(VAST_PATH, {"offers": [vast_offer(1, "H100 SXM", 2, 4.0)]})
    c = client(feed_api, gpu_names=["H100 SXM"])
    batch = collect(c)
    assert batch.error is None and len(batch.quotes) == 1
    assert c.session.stats.retries == 1 and c.session.stats.rate_limited == 1
    assert [r.status for r in batch.raws] == [429, 200]  # both archived


def test_vastai_empty_result_is_a_failed_feed(feed_api):
    serve(feed_api, FakeVast([]))
    batch = collect(client(feed_api, gpu_names=["H100 SXM", "H200"]))
    assert batch.error == "parsed zero quotes" and batch.quotes == []
    assert len(batch.raws) == 2  # still archived


def test_vastai_renamed_field_fails_the_feed_with_a_clear_message(feed_api):
    offer = vast_offer(1, "H100 SXM", 1, 2.0)
    offer["dph"] = offer.pop("dph_total")
    feed_api.add(VAST_PATH, {"offers": [offer]})
    batch = collect(client(feed_api, gpu_names=["H100 SXM"]))
    assert "lack required field(s) dph_total" in batch.error
    assert "API changed shape" in batch.error


def test_vastai_non_json_answer_is_a_bad_payload(feed_api):
    feed_api.add(VAST_PATH, Reply(raw="<html>maintenance</html>", content_type=TEXT))
    c = client(feed_api, gpu_names=["H100 SXM"])
    with pytest.raises(BadPayload, match="HTML page"):
        c.fetch()


def test_vastai_parse_replays_the_archive_identically(feed_api):
    serve(feed_api, FakeVast())
    raws = client(feed_api, gpu_names=["H100 SXM", "H200"]).fetch()
    first = parse_raws(raws)
    again = parse_raws([r for r in raws])
    assert first == again
    assert all(json.loads(r.params["q"])["type"] == "on-demand" for r in raws)
