"""Depth: how many GPUs the sources show as rentable now (model/depth.py, gpu_depth, migration 063).

The class, not the example: Vast.ai books whose offer ids repeat across pages and whose
machines list several slices count each GPU once; RunPod's stock fields of any shape give a
count or none, never an error; RunPod seen directly and through gpuhunt's catalog counts once;
a feed that is down is absent and named, never a zero; the count on the fixtures comes from at
least three sources; rebuild and verify re-derive the table."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, time, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from capcover.cli.main import main
from capcover.config.settings import load_settings
from capcover.fakeapi import gpuhunt as hunt
from capcover.fakeapi.gpu import captured_h100_sxm_asks, vast_offer
from capcover.fakeapi.server import FakeAPI
from capcover.flows.rebuild import rebuild
from capcover.flows.sequence import run_daily
from capcover.ingest import gpuhunt, runpod, vastai
from capcover.ingest.archive import depth_of
from capcover.ingest.models import RawResponse
from capcover.ingest.quotes import QuoteBatch
from capcover.model.depth import (
    DEPTH_METHOD,
    MAX_GPUS_PER_MACHINE,
    MAX_GPUS_PER_TYPE,
    DepthRead,
    DepthSighting,
    combine,
)
from capcover.report.summary import summary_text
from capcover.warehouse.db import open_warehouse
from tests.conftest import category_payload
from tests.helpers import capcover

AT = datetime(2026, 12, 6, 7, 0, tzinfo=UTC)
RENTALS = {"h100-rent-1y", "h100-rent-1y-spot", "h100-rent-1y-contract"}


def vast_raw(offers: list[dict], gpu_name: str = "H100 SXM") -> RawResponse:
    """One bundles answer as the archive holds it (its query names the GPU)."""
    q = json.dumps(vastai.offer_query(gpu_name), separators=(",", ":"), sort_keys=True)
    return RawResponse(
        source="vastai",
        endpoint=vastai.ENDPOINT,
        method="GET",
        url="http://127.0.0.1/api/v0/bundles/",
        params={"q": q},
        request_body=None,
        status=200,
        body=json.dumps({"offers": offers}),
        fetched_at=AT,
        elapsed_ms=1.0,
        attempt=1,
    )


def runpod_raw(gpu_types: list) -> RawResponse:
    return RawResponse(
        source="runpod",
        endpoint=runpod.ENDPOINT,
        method="POST",
        url="http://127.0.0.1/graphql",
        params={},
        request_body=None,
        status=200,
        body=json.dumps({"data": {"gpuTypes": gpu_types}}),
        fetched_at=AT,
        elapsed_ms=1.0,
        attempt=1,
    )


# -- Vast.ai: each machine once, each offer id once ------------------------------------------


@st.composite
def vast_books(draw):
    """Machines of 1-8 GPUs listing slices (1, 2, 4, ... up to the machine), some not rentable
    or rented, spread over pages in price order with the price cursor's overlap: an offer may
    appear again on the next page. Returns (pages, expected GPUs)."""
    n = draw(st.integers(min_value=0, max_value=8))
    offers, expected, i = [], 0, 0
    for m in range(n):
        gpus = draw(st.sampled_from([1, 2, 4, 8]))
        largest = 0
        size = 1
        while size <= gpus:
            state = draw(st.sampled_from(["ok", "ok", "ok", "rented", "not rentable", "bid"]))
            extra = {"machine_id": 9000 + m, "gpu_frac": size / gpus}
            if state == "rented":
                extra["rented"] = True
            elif state == "not rentable":
                extra["rentable"] = False
            elif state == "bid":
                extra["is_bid"] = True
            price = round(draw(st.floats(min_value=0.5, max_value=4.0)) * size, 4)
            offers.append(vast_offer(i, "H100 SXM", size, price, **extra))
            if state in ("ok", "bid"):
                largest = max(largest, size)
            size *= 2
            i += 1
        expected += largest
    offers.sort(key=lambda o: (o["dph_total"], o["id"]))
    cut = draw(st.integers(min_value=1, max_value=5))
    pages = [offers[k : k + cut + 1] for k in range(0, len(offers), cut)] or [[]]
    pages.append([])  # the page that brings nothing new: the book was read to its end
    return pages, expected


@given(book=vast_books())
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_depth_vastai_counts_each_machine_once_whatever_the_pages_repeat(book):
    pages, expected = book
    read = vastai.depth_raws([vast_raw(p) for p in pages])
    (seen,) = read.sightings
    assert (seen.sku, seen.form_factor, seen.source) == ("H100", "SXM", "vastai")
    assert seen.gpus_seen == expected
    assert "a floor" not in seen.basis  # the last page brought nothing new


def test_depth_vastai_book_still_growing_at_its_last_page_is_a_floor():
    offers = [vast_offer(k, "H100 SXM", 1, 1.0 + k / 100) for k in range(4)]
    read = vastai.depth_raws([vast_raw(offers[:2]), vast_raw(offers[1:])])
    (seen,) = read.sightings
    assert seen.gpus_seen == 4 and seen.offers_seen == 4
    assert seen.basis.endswith("a floor: the book still grew at the last page read")


def test_depth_vastai_a_name_asked_with_no_rentable_offer_counts_zero():
    rented = vast_offer(1, "H200", 8, 20.0, rented=True)
    pages = [vast_raw([rented], "H200"), vast_raw([rented], "H200"), vast_raw([], "B200")]
    read = vastai.depth_raws(pages)
    counts = {(s.sku, s.form_factor): (s.gpus_seen, s.basis) for s in read.sightings}
    assert counts[("H200", "unknown")] == (0, "no rentable offer among 1 offer(s) read")
    assert counts[("B200", "unknown")] == (0, "no rentable offer among 0 offer(s) read")


def test_depth_vastai_malformed_offers_count_nothing():
    bad = [
        vast_offer(1, "H100 SXM", 0, 1.0),  # zero GPUs
        {**vast_offer(2, "H100 SXM", 2, 2.0), "num_gpus": "2"},  # a string
        "not an offer",
        vast_offer(3, "H100 SXM", 2, 3.0, machine_id=None),  # no machine: its own
    ]
    (seen,) = vastai.depth_raws([vast_raw(bad)]).sightings
    assert (seen.gpus_seen, seen.offers_seen) == (2, 1)


@given(
    book=vast_books(),
    huge=st.lists(st.integers(min_value=MAX_GPUS_PER_MACHINE + 1, max_value=10**18), min_size=1),
)
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_depth_vastai_offer_larger_than_a_machine_is_not_counted(book, huge):
    """Red team D7: an offer whose num_gpus is more than one machine holds (the ceiling,
    model/depth.py) is quarantined by the quote parser and left out of the count, with the
    reason in the basis; the rest of the book counts as before."""
    pages, expected = book
    big = [vast_offer(500 + k, "H100 SXM", n, 2.0 * n) for k, n in enumerate(huge)]
    (seen,) = vastai.depth_raws([vast_raw(big), *(vast_raw(p) for p in pages)]).sightings
    assert seen.gpus_seen == expected
    assert f"{len(huge)} offer(s) left out: num_gpus above the {MAX_GPUS_PER_MACHINE} GPUs" in (
        seen.basis
    )
    for offer in big:
        with pytest.raises(ValueError, match=r"^num_gpus: \d+ is more than the 64 GPUs"):
            vastai.offer_to_quote(offer, vast_raw([offer]), AT)


# -- RunPod: its stock fields, whatever their shape -------------------------------------------

STOCK_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-5, max_value=10_000),
    st.integers(min_value=-5, max_value=10**18),  # red team D3: beyond any stock
    st.floats(allow_nan=True),
    st.text(max_size=5),
    st.lists(st.one_of(st.integers(min_value=-2, max_value=10**6), st.none(), st.text(max_size=2))),
)


@given(
    lowest=st.one_of(
        st.none(),
        st.text(max_size=3),
        st.fixed_dictionaries(
            {},
            optional={
                "stockStatus": st.one_of(st.none(), st.sampled_from(["High", "Medium", "Low"])),
                "maxUnreservedGpuCount": STOCK_VALUES,
                "availableGpuCounts": STOCK_VALUES,
            },
        ),
    )
)
@settings(max_examples=300, deadline=None)
def test_depth_runpod_stock_fields_give_a_count_or_none_never_an_error(lowest):
    gpus, basis = runpod.stock_of({"id": "NVIDIA H100 80GB HBM3", "lowestPrice": lowest})
    assert gpus is None or (type(gpus) is int and gpus >= 0)
    assert basis
    free = lowest.get("maxUnreservedGpuCount") if isinstance(lowest, dict) else None
    if type(free) is int and 0 <= free <= MAX_GPUS_PER_TYPE:
        assert gpus == free and "maxUnreservedGpuCount" in basis
    elif type(free) is int and free > MAX_GPUS_PER_TYPE:  # an implausible count: left out
        assert gpus is None or gpus <= MAX_GPUS_PER_MACHINE  # at most a pod-size floor
        assert f"maxUnreservedGpuCount {free} left out: above {MAX_GPUS_PER_TYPE:,}" in basis
    # Never a count beyond the ceilings (docs/methodology.md section 7).
    assert gpus is None or gpus <= MAX_GPUS_PER_TYPE
    sizes = lowest.get("availableGpuCounts") if isinstance(lowest, dict) else None
    if gpus is not None and "availableGpuCounts" in basis and isinstance(sizes, list):
        assert gpus <= MAX_GPUS_PER_MACHINE  # a pod is one machine
    if gpus is None and isinstance(lowest, dict) and isinstance(lowest.get("stockStatus"), str):
        assert f"stockStatus {lowest['stockStatus']}" in basis  # the word is recorded


def test_depth_runpod_fixture_counts_per_gpu_type():
    from capcover.fakeapi.gpu import RUNPOD_TERMS, feed_reference

    read = runpod.depth_raws([runpod_raw(feed_reference(RUNPOD_TERMS)["data"]["gpuTypes"])])
    got = {(s.sku, s.form_factor): s.gpus_seen for s in read.sightings}
    assert got[("H100", "SXM")] == 64  # maxUnreservedGpuCount
    assert got[("H100", "PCIe")] is None  # stockStatus Medium, no count: recorded, no number
    assert got[("H100", "NVL")] == 0  # none in stock
    assert got[("B300", "SXM")] == 2  # largest pod size in availableGpuCounts: a floor
    assert got[("H200", "SXM")] == 24


def test_depth_runpod_captured_answer_without_stock_fields_counts_nothing():
    from capcover.fakeapi.gpu import RUNPOD_REFERENCE, feed_reference

    gpu_types = feed_reference(RUNPOD_REFERENCE)["data"]["gpuTypes"]
    read = runpod.depth_raws([runpod_raw(gpu_types)])
    assert read.sightings and all(s.gpus_seen is None for s in read.sightings)


# -- RunPod direct and through gpuhunt: once ---------------------------------------------------


def _seen(source: str, gpus: int | None, form: str = "SXM") -> DepthSighting:
    return DepthSighting(source, "H100", form, gpus, 1, "test", AT)


@given(
    direct=st.one_of(st.none(), st.integers(min_value=0, max_value=500)),
    mirror=st.integers(min_value=0, max_value=500),
    vast=st.integers(min_value=0, max_value=500),
    runpod_up=st.booleans(),
)
def test_depth_runpod_direct_and_via_gpuhunt_count_once(direct, mirror, vast, runpod_up):
    reads = [DepthRead([_seen("vastai", vast)]), DepthRead([_seen("gpuhunt/runpod", mirror)])]
    failed = []
    if runpod_up:
        reads.append(DepthRead([_seen("runpod", direct)]))
    else:
        failed.append("runpod")
    depth = combine(reads, failed)
    total, sources = depth.seen("H100", "SXM")
    if runpod_up:
        # The direct feed answered and lists it: the catalog mirror is left out of the total.
        assert total == vast + (direct or 0)
        assert "gpuhunt/runpod" not in (sources or "")
        (mirrored,) = [s for s in depth.sightings if s.source == "gpuhunt/runpod"]
        assert not mirrored.counted and "direct feed wins" in mirrored.basis
    else:
        assert total == vast + mirror and sources == "vastai, gpuhunt/runpod"
        assert depth.missing == ("runpod",)


def test_depth_gpuhunt_runpod_counts_where_the_direct_feed_lists_another_form_factor():
    depth = combine([DepthRead([_seen("runpod", 5, "SXM"), _seen("gpuhunt/runpod", 3, "PCIe")])])
    assert depth.seen("H100", "PCIe") == (3, "gpuhunt/runpod")
    assert depth.seen("H100", "any") == (8, "runpod, gpuhunt/runpod")


# -- gpuhunt: a listing, not stock --------------------------------------------------------------


def _catalog(provider: str, rows: list[dict[str, str]]) -> RawResponse:
    import base64

    body = gpuhunt.BINARY_MARKER + base64.b64encode(hunt.catalog_zip(provider, rows)).decode()
    return RawResponse(
        source="gpuhunt",
        endpoint=f"/{provider}/v1/catalog.zip",
        method="GET",
        url=f"http://127.0.0.1/{provider}/v1/catalog.zip",
        params={},
        request_body=None,
        status=200,
        body=body,
        fetched_at=AT,
        elapsed_ms=1.0,
        attempt=1,
    )


def _row(instance: str, location: str, gpus: int, spot: str = "False", flags: str = "") -> dict:
    return {
        "instance_name": instance,
        "location": location,
        "price": str(2.0 * gpus),
        "cpu": "8",
        "memory": "64",
        "gpu_count": str(gpus),
        "gpu_name": "H100",
        "gpu_memory": "80.0",
        "spot": spot,
        "disk_size": "",
        "gpu_vendor": "nvidia",
        "flags": flags,
        "cpu_arch": "x86",
        "provider_data": "{}",
    }


def test_depth_gpuhunt_counts_one_instance_per_type_and_location():
    rows = [
        # RunPod's pod sizes of one GPU type at one location: the largest, once
        *[_row("NVIDIA H100 80GB HBM3", "US-KS-2", n) for n in range(1, 9)],
        _row("NVIDIA H100 80GB HBM3", "EU-RO-1", 2),
        _row("NVIDIA H100 80GB HBM3", "EU-RO-1", 2, spot="True"),  # the same instance, spot
        _row("NVIDIA H100 80GB HBM3", "US-TX-3", 8, flags="runpod-cluster"),  # a cluster price
    ]
    read = gpuhunt.depth_raws([_catalog("runpod", rows)])
    (seen,) = read.sightings
    assert (seen.source, seen.sku, seen.form_factor) == ("gpuhunt/runpod", "H100", "SXM")
    assert (seen.gpus_seen, seen.offers_seen) == (8 + 2, 2)
    assert "a listing, not stock" in seen.basis


def test_depth_gpuhunt_provider_without_its_catalog_is_named_missing():
    version = RawResponse(
        source="gpuhunt",
        endpoint="/nebius/version",
        method="GET",
        url="http://127.0.0.1/nebius/version",
        params={},
        request_body=None,
        status=503,
        body="",
        fetched_at=AT,
        elapsed_ms=1.0,
        attempt=1,
    )
    read = gpuhunt.depth_raws([version, _catalog("aws", [_row("p5.48xlarge", "us-east-1", 8)])])
    assert read.missing == {"gpuhunt/nebius": "no catalog this run"}
    assert [s.source for s in read.sightings] == ["gpuhunt/aws"]


def test_depth_of_a_failed_feed_is_absent_and_named():
    ok = QuoteBatch("vastai", [vast_raw([vast_offer(1, "H100 SXM", 4, 8.0)])])
    down = QuoteBatch("runpod", [], error="runpod /graphql: connection failed")
    depth = depth_of([ok, down])
    assert depth.seen("H100", "SXM") == (4, "vastai")
    assert depth.missing == ("runpod",)
    assert [s.source for s in depth.sightings] == ["vastai"]  # no zero row for runpod


# -- the daily run, rebuild and verify on the fixtures -------------------------------------------


@pytest.fixture
def every_feed(fake_cg, env, monkeypatch):
    """Settings for a daily run over every feed: Vast.ai, RunPod and gpuhunt's catalogs."""
    fake_cg.serve(categories=category_payload(updated_at=datetime.now(UTC).isoformat()))
    with FakeAPI() as api:
        api.mount(hunt.routes(), "/gpuhunt")
        monkeypatch.setenv("CAPCOVER_GPUHUNT_BASE_URL", api.url_for("/gpuhunt"))
        monkeypatch.setenv("CAPCOVER_GPUHUNT_PROVIDERS", ",".join(hunt.PROVIDERS))
        monkeypatch.setenv("CAPCOVER_GPUHUNT_RATE_PER_MINUTE", "60000")
        yield load_settings()


def _depth_table(db) -> dict[tuple, tuple]:
    with open_warehouse(db, read_only=True) as wh:
        return {
            (sku, form, source): (gpus, counted)
            for sku, form, source, gpus, counted in wh.query(
                "SELECT sku, form_factor, source, gpus_seen, counted FROM gpu_depth"
            )
        }


def test_depth_daily_run_fills_rentable_gpus_seen_from_three_sources(every_feed):
    result = run_daily(every_feed)
    table = _depth_table(every_feed.db)
    h100_sxm = {src: v for (sku, form, src), v in table.items() if (sku, form) == ("H100", "SXM")}
    # Vast.ai's captured book: 8 machines, each once at its largest rentable slice (1, 1, 2,
    # 4, 2, 2, 8, 8 GPUs); the bid's machine counts too, the rented offer and the de-verified
    # host do not.
    machines: dict[int, int] = {}
    for o in captured_h100_sxm_asks():
        machines[o["machine_id"]] = max(machines.get(o["machine_id"], 0), o["num_gpus"])
    assert sum(machines.values()) == 28
    assert h100_sxm["vastai"] == (28 + 1, True)
    assert h100_sxm["runpod"] == (64, True)  # maxUnreservedGpuCount
    assert h100_sxm["gpuhunt/runpod"][1] is False  # RunPod's own feed answered: once
    catalogs = {s for s in h100_sxm if s.startswith("gpuhunt/") and h100_sxm[s][1]}
    assert len(catalogs) >= 2
    rows = {r.scenario: r for r in result.reports}
    rent = rows["h100-rent-1y"]
    expected = sum(g for g, counted in h100_sxm.values() if counted and g is not None)
    assert rent.rentable_gpus_seen == expected
    sources = rent.rentable_gpus_sources.split(", ")
    assert sources[:2] == ["vastai", "runpod"] and len(sources) >= 3
    assert rent.rentable_gpus_missing is None and rent.rentable_gpus_method == DEPTH_METHOD
    assert {r.scenario for r in result.reports if r.rentable_gpus_method} == RENTALS
    # Purchases leave them NULL.
    purchase = rows["h100-purchase"]
    assert (purchase.rentable_gpus_seen, purchase.rentable_gpus_method) == (None, None)
    text = summary_text(result, every_feed.db)
    assert f"720,000 H100 needed; {expected:,} rentable now (vastai, runpod, gpuhunt/" in text


def test_depth_feed_down_is_absent_and_named_never_zero(every_feed, monkeypatch):
    monkeypatch.setenv("CAPCOVER_RUNPOD_BASE_URL", "http://127.0.0.1:9")  # nothing listens
    monkeypatch.setenv("CAPCOVER_HTTP_RETRY_BUDGET_S", "0")
    result = run_daily(load_settings())
    assert result.sources_failed == ["runpod"]
    table = _depth_table(every_feed.db)
    assert not [k for k in table if k[2] == "runpod"]  # no row: absent, not zero
    assert table[("H100", "SXM", "gpuhunt/runpod")][1] is True  # the catalog counts instead
    rent = next(r for r in result.reports if r.scenario == "h100-rent-1y")
    assert rent.rentable_gpus_missing == "runpod"
    assert "runpod" not in rent.rentable_gpus_sources.split(", ")
    assert "not counted: runpod (no answer this run)" in summary_text(result, every_feed.db)


def test_depth_rebuild_and_verify_rederive_the_table(every_feed, capsys):
    run_daily(every_feed)
    before = _depth_table(every_feed.db)
    with open_warehouse(every_feed.db, read_only=True) as wh:
        report = wh.query("SELECT * FROM report_daily ORDER BY scenario")
    rebuild(every_feed)
    assert _depth_table(every_feed.db) == before
    with open_warehouse(every_feed.db, read_only=True) as wh:
        assert wh.query("SELECT * FROM report_daily ORDER BY scenario") == report
    assert main(["verify"]) == 0
    (line,) = capsys.readouterr().out.splitlines()
    assert f"gpu_depth {len(before):,}" in line
    # A count changed by hand is named.
    with open_warehouse(every_feed.db) as wh:
        wh.query(
            "UPDATE gpu_depth SET gpus_seen = gpus_seen + 1"
            " WHERE sku = 'H100' AND form_factor = 'SXM' AND source = 'vastai'"
        )
    assert main(["verify"]) == 1
    out = capsys.readouterr().out
    assert (
        " H100 SXM vastai: the re-derivation from the raw archive differs: gpus_seen 30 vs 29"
        in out
    )


@pytest.mark.parametrize("days_late", [1, 2])
def test_depth_and_quotes_fetched_after_the_report_day_say_so_and_count_nothing_on_it(
    fake_cg, every_feed, days_late
):
    """CoinGecko's figures are of an earlier day than the run's fetch (an update at 23:58 read
    at 00:20, or a stalled feed): the report is dated that day. The quotes the run fetched are
    dated the fetch day and price a later report, not this one, and the skip reason says so;
    the GPUs it counts now are not put on the earlier day's rows (red team D4). Rebuild and
    verify re-derive the same."""
    now = datetime.now(UTC)
    day = (now - timedelta(days=days_late)).date()
    late = datetime.combine(day, time(23, 58), tzinfo=UTC)
    fake_cg.clear()
    fake_cg.serve(categories=category_payload(updated_at=late.isoformat()))
    result = run_daily(every_feed)
    assert result.as_of_date == day
    skipped = dict(result.skipped)
    for name, market in (("h100-rent-1y", "on_demand"), ("h100-rent-1y-spot", "spot")):
        assert skipped[name].startswith(f"no {market} rental_hourly quote for H100 SXM")
        assert f"in the 7 days up to {day}" in skipped[name]
        assert (
            f"this run's own quotes are dated {now.date()}, the day it fetched them, after "
            f"CoinGecko's figures of {day} 23:58 UTC: they price a later report"
        ) in skipped[name]
    assert not [
        n for n, why in skipped.items() if "rent" not in n and "this run's own quotes" in why
    ]  # purchase scenarios: their quotes never come from the feeds
    assert all(r.rentable_gpus_method is None for r in result.reports)
    assert all(r.price_as_of is None or r.price_as_of <= day for r in result.reports)
    with open_warehouse(every_feed.db, read_only=True) as wh:
        assert wh.scalar("SELECT count(*) FROM gpu_depth") == 0
        report = wh.query("SELECT * FROM report_daily ORDER BY scenario")
    rebuild(every_feed)
    with open_warehouse(every_feed.db, read_only=True) as wh:
        assert wh.query("SELECT * FROM report_daily ORDER BY scenario") == report
        assert wh.scalar("SELECT count(*) FROM gpu_depth") == 0
    assert main(["verify"]) == 0


def test_depth_a_later_run_of_the_same_day_without_a_count_leaves_none_of_the_earlier(
    fake_cg, every_feed
):
    """A run fetching on its report's day counts depth; a rerun reporting the same day from a
    fetch on a later day replaces that day's rows without a count, and the day's gpu_depth
    rows go with them (the rows and their depth are always one run's)."""
    run_daily(every_feed)
    with open_warehouse(every_feed.db, read_only=True) as wh:
        assert wh.scalar("SELECT count(*) FROM gpu_depth") > 0
    stalled = datetime.now(UTC) - timedelta(days=1)
    fake_cg.clear()
    fake_cg.serve(categories=category_payload(updated_at=stalled.isoformat()))
    result = run_daily(every_feed)
    assert all(r.rentable_gpus_method is None for r in result.reports)
    with open_warehouse(every_feed.db, read_only=True) as wh:
        days = [d for (d,) in wh.query("SELECT DISTINCT day FROM gpu_depth")]
    assert stalled.date() not in days


def test_depth_no_feed_answered_so_no_skip_reason_blames_the_fetch_day(
    fake_cg, every_feed, monkeypatch
):
    """Every feed down on a run after midnight on figures of the day before: the run stored no
    quotes of its own, so no skip reason says its quotes price a later report (red team, third
    pass D2); nor does a purchase scenario's, whose quotes never come from the feeds."""
    for name in ("VASTAI", "RUNPOD", "GPUHUNT"):  # each answers 404: no quotes, but answers
        monkeypatch.setenv(f"CAPCOVER_{name}_BASE_URL", fake_cg.url_for(f"/gone-{name.lower()}"))
    monkeypatch.setenv("CAPCOVER_HTTP_RETRY_BUDGET_S", "0")
    day = datetime.now(UTC).date() - timedelta(days=1)
    fake_cg.clear()
    fake_cg.serve(categories=category_payload(updated_at=f"{day}T23:58:00Z"))
    result = run_daily(load_settings())
    assert {"vastai", "runpod"} <= set(result.sources_failed)
    skipped = dict(result.skipped)
    assert "h100-rent-1y" in skipped
    assert not [n for n, why in skipped.items() if "this run's own quotes" in why]


def test_depth_rebuild_and_verify_read_the_same_days_in_any_local_time_zone(every_feed):
    """Rebuild and verify date archived fetch times in UTC, whatever the machine's zone: in a
    zone whose calendar day differs from UTC's now, `verify` still agrees with the run and a
    rebuild changes nothing (red team, third pass D1: DuckDB hands times back in the local
    zone, and a 00:20 UTC fetch read in Los Angeles fell on the day before)."""
    run_daily(every_feed)
    with open_warehouse(every_feed.db, read_only=True) as wh:
        report = wh.query("SELECT * FROM report_daily ORDER BY scenario")
        depth = wh.query("SELECT * FROM gpu_depth ORDER BY ALL")
    assert depth
    # A zone whose date is not UTC's at this hour: UTC-12 before noon UTC, UTC+14 after.
    zone = "Etc/GMT+12" if datetime.now(UTC).hour < 12 else "Etc/GMT-14"
    env = {**os.environ, "TZ": zone}
    for argv in (["verify"], ["rebuild"], ["verify"]):
        done = capcover(*argv, env=env)
        assert done.returncode == 0, (argv, done.stdout[-2000:], done.stderr[-2000:])
    with open_warehouse(every_feed.db, read_only=True) as wh:
        assert wh.query("SELECT * FROM report_daily ORDER BY scenario") == report
        assert wh.query("SELECT * FROM gpu_depth ORDER BY ALL") == depth


def test_depth_rows_published_before_depth_stay_without_a_count(every_feed):
    run_daily(every_feed)
    # As a warehouse migrated from before 063 holds them: rental rows without a count.
    with open_warehouse(every_feed.db) as wh:
        wh.query(
            "UPDATE report_daily SET rentable_gpus_seen = NULL, rentable_gpus_sources = NULL,"
            " rentable_gpus_missing = NULL, rentable_gpus_method = NULL"
        )
    rebuild(every_feed)
    with open_warehouse(every_feed.db, read_only=True) as wh:
        assert wh.scalar("SELECT count(rentable_gpus_method) FROM report_daily") == 0
        assert wh.scalar("SELECT count(*) FROM gpu_depth") > 0  # the table is re-derived
    # The re-derivation matches the stored rows (only the snapshot published before the edit
    # above holds the counts).
    from capcover.flows.verify import verify

    found = verify(every_feed).differences
    assert found and all("the published snapshot differs" in d for d in found)


def test_depth_explain_and_wide_report_show_it(every_feed, capsys):
    run_daily(every_feed)
    with open_warehouse(every_feed.db) as wh:  # a previous report to explain against
        wh.query(
            "INSERT INTO report_daily SELECT * REPLACE (report_date - 1 AS report_date)"
            " FROM report_daily"
        )
    assert main(["explain", "--scenario", "h100-rent-1y", "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    total = [r for r in data["depth"] if r["source"] == "total"]
    assert len(total) == 1 and total[0]["gpus_seen"] > 0
    assert total[0]["basis"].startswith("counted: vastai, runpod, gpuhunt/")
    assert {r["source"] for r in data["depth"]} >= {"vastai", "runpod", "gpuhunt/runpod"}
    assert main(["report", "--scenario", "h100-rent-1y", "--wide", "--format", "csv"]) == 0
    out = capsys.readouterr().out
    assert "rentable_gpus_seen" in out.splitlines()[0]
    assert main(["report", "--scenario", "h100-rent-1y"]) == 0
    assert "rentable" not in capsys.readouterr().out  # the default view stays narrow


def test_depth_html_report_says_it_beside_the_gpu_count(every_feed, tmp_path):
    result = run_daily(every_feed)
    rent = next(r for r in result.reports if r.scenario == "h100-rent-1y")
    page = tmp_path / "r.html"
    assert main(["report", "--html", str(page)]) == 0
    html = page.read_text(encoding="utf-8")
    said = f"720,000 H100 needed;\n{rent.rentable_gpus_seen:,} rentable now (vastai, runpod, "
    assert said in html
    assert html.count('class="meta depth"') == len(RENTALS)  # rental cards only
