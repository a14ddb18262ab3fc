"""Vast.ai offers over real HTTP, in the shapes of the live capture (machine_id, host_id, the
`verification` string, multi-slice machines): pagination whatever the server's page size,
per-GPU prices, tiers and availability said on each quote, failures (429, empty result,
renamed field)."""

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from capcover.fakeapi import Reply
from capcover.fakeapi.gpu import (
    VAST_PATH,
    FakeVast,
    captured_h100_sxm_asks,
    vast_book,
    vast_market,
    vast_offer,
)
from capcover.ingest.client import HttpOptions
from capcover.ingest.errors import BadPayload
from capcover.ingest.http import RetryPolicy
from capcover.ingest.quotes import Excluded, collect, split_outcomes
from capcover.ingest.vastai import PAGE_CAP, VastAiClient, offer_query, parse_raws, row_outcomes
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


def test_vastai_query_sends_no_verified_filter():
    q = offer_query("H100 SXM")
    # The live field is the string `verification`; a `verified` filter dropped cheap hosts.
    assert "verified" not in q and "verification" not in q
    assert q["type"] == "on-demand"
    assert q["rentable"] == {"eq": True} and q["rented"] == {"eq": False}
    assert q["limit"] == PAGE_CAP == 64 and q["order"] == [["dph_total", "asc"]]


def test_vastai_pages_until_a_page_brings_nothing_new(feed_api):
    fake = serve(feed_api, FakeVast(vast_book(70)))
    c = client(feed_api, gpu_names=["H100 SXM"])
    outcomes = row_outcomes(c.fetch())
    quotes, bad, left_out = split_outcomes(outcomes)
    # 64, then the 6 after the cursor (the offer read at its price excluded), then none.
    assert len(fake.queries) == 3
    assert "dph_total" not in fake.queries[0] and "id" not in fake.queries[0]
    book = sorted(vast_book(70), key=lambda o: o["dph_total"])
    assert fake.queries[1]["dph_total"] == {"gte": book[63]["dph_total"]}
    assert fake.queries[1]["id"] == {"notin": [book[63]["id"]]}
    assert len(quotes) == 70 and len({q.listing_id for q in quotes}) == 70 and bad == []
    assert left_out == []
    assert c.truncated == {}


@pytest.mark.parametrize("page_cap", [50, 17, 2])
def test_vastai_reads_the_whole_book_whatever_the_page_size(feed_api, page_cap):
    # A server that caps pages lower than the 64 asked for must not look like the last page.
    serve(feed_api, FakeVast(vast_book(120), page_cap=page_cap))
    c = client(feed_api, gpu_names=["H100 SXM"], max_pages=200)
    quotes, _ = parse_raws(c.fetch())
    assert len(quotes) == 120 and c.truncated == {}


def test_vastai_a_book_still_growing_at_max_pages_is_named(feed_api):
    serve(feed_api, FakeVast(vast_book(120), page_cap=10))
    c = client(feed_api, gpu_names=["H100 SXM"], max_pages=3)
    quotes, _ = parse_raws(c.fetch())
    assert len(quotes) == 30  # 10 + 10 + 10: the cheapest offers
    assert c.truncated == {"H100 SXM": 30}


def test_vastai_divides_instance_price_by_gpu_count(feed_api):
    serve(feed_api, FakeVast([vast_offer(1, "H200", 8, 23.2)]))
    quotes, _ = parse_raws(client(feed_api, gpu_names=["H200"]).fetch())
    (q,) = quotes
    assert (q.price_raw, q.gpu_count_basis, q.price_unit) == (23.2, 8, "USD/instance-hour")
    assert q.price_usd == pytest.approx(2.9)
    assert (q.kind, q.sku, q.sku_label, q.source) == ("rental_hourly", "H200", "H200", "vastai")
    assert q.memory_gb == 80.0  # 81559 MiB in the captured offer -> nominal GB
    assert (q.region, q.tier, q.tier_label, q.condition) == (
        "US",
        "on_demand",
        "on-demand",
        "verified",
    )
    assert (q.provider, q.machine_id, q.host_id, q.capacity_id) == (
        "vastai",
        "1001",
        "700001",
        "machine 1001",
    )


def test_vastai_says_what_each_offer_is_instead_of_dropping_it(feed_api):
    serve(
        feed_api,
        FakeVast(
            [
                vast_offer(1, "H100 SXM", 1, 2.0),
                vast_offer(2, "H100 SXM", 1, 0.5, is_bid=True),
                vast_offer(3, "H100 SXM", 1, 0.6, verification="unverified"),
                vast_offer(4, "H100 SXM", 1, 0.7, rented=True),
                vast_offer(5, "H100 SXM", 1, 0.8, verification="deverified"),
                vast_offer(6, "H100 SXM", 1, 0.9, verification=None, verified=None),
                vast_offer(7, "H100 SXM", 1, 0.95, rentable=False),
            ]
        ),
    )
    quotes, bad = parse_raws(client(feed_api, gpu_names=["H100 SXM"]).fetch())
    by = {q.listing_id[-1]: q for q in quotes}
    assert bad == [] and sorted(by) == list("1234567")
    assert (by["1"].tier, by["1"].unavailable_reason) == ("on_demand", None)
    assert (by["2"].tier, by["2"].tier_label) == ("interruptible", "bid")
    assert (by["3"].condition, by["3"].unavailable_reason) == ("unverified", None)
    assert by["4"].unavailable_reason == "already rented"
    assert by["5"].unavailable_reason.startswith("host verification 'deverified'")
    assert by["6"].unavailable_reason.startswith("host verification None")
    assert by["7"].unavailable_reason == "not rentable"


def test_vastai_captured_book_keeps_machines_and_slices(feed_api):
    serve(feed_api, FakeVast())
    quotes, bad = parse_raws(client(feed_api, gpu_names=["H100 SXM"]).fetch())
    captured = [q for q in quotes if q.machine_id and int(q.listing_id) < 50_000_000]
    assert len(captured) == len(captured_h100_sxm_asks()) == 19
    assert len({q.machine_id for q in captured}) == 8
    slices = sorted(q.gpu_count_basis for q in captured if q.machine_id == "146215")
    assert slices == [1, 2, 4, 8]  # one machine, four slices: one capacity
    assert {q.capacity_id for q in captured if q.machine_id == "146215"} == {"machine 146215"}
    two_on_one_host = {q.machine_id for q in captured if q.host_id == "415248"}
    assert two_on_one_host == {"140072", "148032"}
    assert {q.condition for q in captured} == {"verified", "unverified"}
    assert [b.reason for b in bad] == ["num_gpus: not a positive integer: 0"]


def test_vastai_every_offer_has_an_outcome(feed_api):
    serve(feed_api, FakeVast())
    raws = client(feed_api, gpu_names=["H100 SXM", "H200"]).fetch()
    rows = {(i, j) for i, r in enumerate(raws) for j in range(len(json.loads(r.body)["offers"]))}
    outcomes = row_outcomes(raws)
    assert {o.row for o in outcomes} == rows and len(outcomes) == len(rows)
    assert all(not isinstance(o.result, Excluded) or o.result.reason for o in outcomes)


def test_vastai_retries_a_429_then_succeeds(feed_api):
    feed_api.script(
        VAST_PATH, Reply({"error": "too many requests"}, status=429, headers={"Retry-After": "0"})
    )
    feed_api.add(VAST_PATH, {"offers": [vast_offer(1, "H100 SXM", 2, 4.0)]})
    c = client(feed_api, gpu_names=["H100 SXM"])
    batch = collect(c)
    assert batch.error is None and len(batch.quotes) == 1
    assert c.session.stats.retries == 1 and c.session.stats.rate_limited == 1
    assert [r.status for r in batch.raws] == [429, 200, 200]  # all archived; page 2 = page 1


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
    assert len(vast_market()) > 19


offers = st.lists(
    st.tuples(
        st.integers(min_value=1, max_value=6),  # machine
        st.sampled_from([1, 2, 4, 8]),  # slice
        st.floats(min_value=0.5, max_value=5.0, allow_nan=False),  # per GPU
        st.sampled_from(["verified", "unverified", "deverified"]),
        st.booleans(),  # a bid
    ),
    min_size=1,
    max_size=40,
)


@settings(max_examples=100, deadline=None)
@given(offers)
def test_vastai_each_machine_votes_once_whatever_its_slices(book):
    from datetime import UTC, date, datetime

    from capcover.ingest.http import RawResponse
    from capcover.model.prices import MaxAge, QuotePoint, Selection, price_v3

    listed = [
        vast_offer(
            i,
            "H100 SXM",
            gpus,
            round(per_gpu * gpus, 6),
            machine_id=machine,
            verification=state,
            is_bid=bid,
        )
        for i, (machine, gpus, per_gpu, state, bid) in enumerate(book)
    ]
    at = datetime(2026, 11, 20, tzinfo=UTC)
    raw = RawResponse(
        "vastai", "/api/v0/bundles/", "GET", "u", {}, None, 200,
        json.dumps({"offers": listed}), at, 0.0, 1,
    )  # fmt: skip
    quotes, bad = parse_raws([raw])
    assert bad == [] and len(quotes) == len(listed)
    points = [
        QuotePoint(
            q.sku, q.kind, q.source, q.price_usd, q.observed_date, q.form_factor, None,
            quote_id=q.listing_id or "", provider=q.provider, tier=q.tier,
            unavailable_reason=q.unavailable_reason, capacity_id=q.capacity_id,
        )
        for q in quotes
    ]  # fmt: skip
    sel = Selection("H100", "rental_hourly", "SXM", "on_demand")
    stat = price_v3(points, sel, as_of=date(2026, 11, 20), max_age=MaxAge())
    eligible = {m for m, _, _, state, bid in book if state != "deverified" and not bid}
    if not eligible:
        assert stat is None
        return
    kept = [d.point for d in stat.decisions if d.kept]
    assert len(kept) == len({p.capacity_id for p in kept}) == len(eligible)
    for p in kept:  # each machine at its cheapest price per GPU among its eligible slices
        machine = int(p.capacity_id.split()[1])
        cheapest = min(
            round(g * x, 6) / g
            for m, g, x, state, bid in book
            if m == machine and state != "deverified" and not bid
        )
        assert p.price_usd == cheapest


# -- paging past ties: a (price, id) cursor (red team D06, #20) --------------------------------


def test_vastai_a_wall_of_asks_at_one_price_longer_than_a_page_is_read_to_its_end(feed_api):
    wall = [vast_offer(k, "H100 SXM", 1, 2.00) for k in range(60)]
    dearer = [vast_offer(100 + k, "H100 SXM", 1, 3.00) for k in range(5)]
    fake = serve(feed_api, FakeVast(dearer + wall, page_cap=10))
    c = client(feed_api, gpu_names=["H100 SXM"])
    quotes, bad, left_out = split_outcomes(row_outcomes(c.fetch()))
    assert sorted(q.listing_id for q in quotes) == sorted(str(o["id"]) for o in wall + dearer)
    assert bad == [] and left_out == [] and c.truncated == {}
    # every page after the first skips exactly the asks already read at its floor price
    assert [len(q.get("id", {}).get("notin", [])) for q in fake.queries] == [
        0,
        10,
        20,
        30,
        40,
        50,
        60,
        5,
    ]


@settings(max_examples=60, deadline=None, derandomize=True)
@given(
    prices=st.lists(st.sampled_from([0.5, 1.25, 2.0, 2.0000001, 7.5]), min_size=0, max_size=90),
    page_cap=st.integers(1, 12),
    order=st.randoms(use_true_random=False),
)
def test_vastai_any_book_with_ties_is_read_each_offer_exactly_once(prices, page_cap, order):
    from capcover.fakeapi.server import FakeAPI

    book = [vast_offer(k, "H100 SXM", 1, p) for k, p in enumerate(prices)]
    order.shuffle(book)  # the order of ties within a price is the server's, undocumented
    with FakeAPI() as api:
        serve(api, FakeVast(book, page_cap=page_cap))
        c = client(api, gpu_names=["H100 SXM"], max_pages=len(book) + 2)
        raws = c.fetch()
    if not book:
        assert row_outcomes(raws) == []
        return
    quotes, bad, left_out = split_outcomes(row_outcomes(raws))
    assert sorted(q.listing_id for q in quotes) == sorted(str(o["id"]) for o in book)
    assert bad == [] and left_out == [] and c.truncated == {}
