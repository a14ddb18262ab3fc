"""Failures isolated to their unit (docs/threat-model.md, "Units of failure"): a category of any
size pages to its end (no ceiling a real category can reach; 10,000 and 12,345 coins included),
a server that repeats its pages is stopped on the first repeat (the shortfall named) and one
that never ends by a guard, one gpuhunt provider's broken catalog or one curated file's mistake
leaves the others counting, and RunPod's surfaces price only where the GPU is offered.
"""

from __future__ import annotations

import copy
import math
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from capcover.fakeapi import FakeAPI, Reply
from capcover.fakeapi import gpuhunt as fake_hunt
from capcover.fakeapi.coingecko import AI, API, category_payload, coin
from capcover.flows.sequence import run_daily
from capcover.ingest.client import HttpOptions
from capcover.ingest.coingecko import PER_PAGE, CoinGeckoClient
from capcover.ingest.errors import BadPayload, PartialFailure
from capcover.ingest.models import RawResponse
from capcover.ingest.quotes import parse_curated_raws
from capcover.ingest.runpod import gpu_type_to_quotes
from capcover.model.prices import QuotePoint, price_stats
from capcover.model.tiers import market_of
from capcover.warehouse.db import open_warehouse

NOW = datetime(2024, 4, 3, 6, 45, tzinfo=UTC)


def _template() -> dict:
    return coin(1, 1e6)


def _paged(api: FakeAPI, n_coins: int) -> None:
    """A category of exactly `n_coins` constituents, 250 a page, then empty pages."""
    template = _template()

    def markets(req):
        page = int(req.query.get("page", "1"))
        start = (page - 1) * PER_PAGE
        ids = range(start + 1, min(start + PER_PAGE, n_coins) + 1)
        return Reply(
            [
                {**template, "id": f"ai-coin-{i:05d}", "market_cap": 1e9 / i, "market_cap_rank": i}
                for i in ids
            ]
        )

    api.add(API + "/coins/categories", category_payload())
    api.handle(API + "/coins/markets", markets)


def _client(api: FakeAPI) -> CoinGeckoClient:
    return CoinGeckoClient(
        base_url=api.url_for(API),
        rate_per_minute=100_000,
        http=HttpOptions(sleep=lambda s: None),
    )


@pytest.mark.parametrize("n_coins", [1, 249, 250, 251, 10_000, 12_345])
def test_isolation_a_category_of_any_size_pages_to_its_end(n_coins):
    with FakeAPI() as api:
        _paged(api, n_coins)
        snap, _records = _client(api).fetch_sector([AI])
        pages = api.count(API + "/coins/markets")
    assert len(snap.constituents[AI]) == n_coins
    # Every coin, and no more than one request past the last page: paging ends at the first
    # empty page (a short page is not the last: CoinGecko has sent 50 rows for 250 asked).
    assert math.ceil(n_coins / PER_PAGE) <= pages <= n_coins // PER_PAGE + 2


@settings(derandomize=True, deadline=None, max_examples=8)
@given(n_coins=st.integers(1, 15_000))
def test_isolation_paging_ends_one_page_past_the_last_for_any_count(n_coins):
    with FakeAPI() as api:
        _paged(api, n_coins)
        snap, _records = _client(api).fetch_sector([AI])
        pages = api.count(API + "/coins/markets")
    assert len(snap.constituents[AI]) == n_coins
    assert math.ceil(n_coins / PER_PAGE) <= pages <= n_coins // PER_PAGE + 2


def test_isolation_a_server_that_repeats_its_pages_is_stopped_at_the_first_repeat():
    with FakeAPI() as api:
        full = [
            {**_template(), "id": f"ai-coin-{i:05d}", "market_cap": 1e6} for i in range(PER_PAGE)
        ]
        api.add(API + "/coins/categories", category_payload())
        api.add(API + "/coins/markets", full)  # every page: the same 250 coins
        snap, _records = _client(api).fetch_sector([AI])  # never paged forever: stopped at once
        assert api.count(API + "/coins/markets") == 2
    # The coins read are kept once, and the shortfall is named on one line (the run's summary
    # shows it: tests/test_sector_union.py).
    assert len(snap.constituents[AI]) == PER_PAGE
    (note,) = snap.paging_notes
    assert "\n" not in note
    assert note.startswith(f"'{AI}': paging stopped at page 2 before an empty page")


def test_isolation_a_server_sending_a_new_coin_a_page_is_stopped_by_the_page_guard(monkeypatch):
    from capcover.ingest import coingecko

    monkeypatch.setattr(coingecko, "MAX_PAGES", 30)  # the guard, scaled down for a test
    with FakeAPI() as api:
        template = _template()

        def markets(req):  # one new coin on every page, forever
            page = int(req.query.get("page", "1"))
            return Reply([{**template, "id": f"ai-coin-{page:06d}", "market_cap": 1e6}])

        api.add(API + "/coins/categories", category_payload())
        api.handle(API + "/coins/markets", markets)
        with pytest.raises(BadPayload) as info:
            _client(api).fetch_sector([AI])
        assert api.count(API + "/coins/markets") == 30
    assert str(info.value) == (
        f"coingecko /coins/markets: category '{AI}' still sends coins after 30 pages (30 rows), "
        "more pages than CoinGecko's coins need — refusing to page forever"
    )


# -- gpuhunt: one provider's broken catalog, the others count -------------------------------


@pytest.mark.parametrize(
    "damage",
    [b"PK\x03\x04 truncated", b"", b"<html>404</html>"],
    ids=["truncated_zip", "empty_body", "html_page"],
)
def test_isolation_one_gpuhunt_provider_broken_in_a_run_leaves_the_others(
    fake_cg, env, monkeypatch, damage
):
    fake_cg.serve(categories=category_payload(updated_at=datetime.now(UTC).isoformat()))
    table = fake_hunt.routes(("aws", "verda", "gcp"))
    table[f"/verda/{fake_hunt.VERSION}/catalog.zip"] = (200, {}, damage)
    with FakeAPI() as hunt:
        hunt.mount(table, "/gpuhunt")
        monkeypatch.setenv("CAPCOVER_GPUHUNT_BASE_URL", hunt.url_for("/gpuhunt"))
        monkeypatch.setenv("CAPCOVER_GPUHUNT_PROVIDERS", "aws,verda,gcp")
        monkeypatch.setenv("CAPCOVER_GPUHUNT_RATE_PER_MINUTE", "60000")
        from capcover.config.settings import load_settings

        result = run_daily(load_settings())
    assert "gpuhunt" not in result.sources_failed
    with open_warehouse(env["CAPCOVER_DB"], read_only=True) as wh:
        sources = {s for (s,) in wh.query("SELECT DISTINCT source FROM gpu_quotes")}
        held = wh.query("SELECT record_key, reason FROM quarantine WHERE source = 'gpuhunt'")
    assert {"gpuhunt/aws", "gpuhunt/gcp"} <= sources and "gpuhunt/verda" not in sources
    assert [k for k, _ in held] == ["verda"] and "catalog zip" in held[0][1]


# -- curated files: each file a unit ----------------------------------------------------------


def test_isolation_a_broken_user_quotes_file_fails_the_feed_but_the_shipped_quotes_price(
    fake_cg, env, monkeypatch, tmp_path
):
    broken = tmp_path / "mine.toml"
    broken.write_text("version = [", encoding="utf-8")
    monkeypatch.setenv("CAPCOVER_QUOTES_FILE", str(broken))
    fake_cg.serve()
    from capcover.config.settings import load_settings

    result = run_daily(load_settings())
    assert "curated" in result.sources_failed  # said, and counted for stale_data alerts
    assert "mine.toml: not valid TOML" in result.feed_errors["curated"]
    priced = {r.scenario: r for r in result.reports}
    assert priced["h100-purchase"].price_sources  # the shipped file's quotes still price it


GOOD = """version = 3
[[quote]]
observed = 2024-04-01
source = "shipped"
sku_label = "H100 SXM"
sku = "H100"
price = 30000
"""

MISTAKES = [
    'version = 1\n[[quote]]\nobserved = 2024-04-01\nsource = "mine"\nsku_label = "H100"\n'
    'sku = "H100"\nprice = true\n',
    "this is not toml = = =",
    'quote = "not a table array"',
    'version = 1\n[[quote]]\nobserved = "someday"\nsource = "x"\nsku_label = "H100"\n'
    'sku = "H100"\nprice = 1\n',
]


def _file(name: str, body: str) -> RawResponse:
    return RawResponse(
        source="curated",
        endpoint=name,
        method="READ",
        url=f"file:///data/{name}",
        params={},
        request_body=None,
        status=200,
        body=body,
        fetched_at=NOW,
        elapsed_ms=0.0,
        attempt=1,
    )


@settings(derandomize=True, deadline=None, max_examples=60)
@given(
    files=st.lists(
        st.one_of(st.just(None), st.sampled_from(MISTAKES)), min_size=1, max_size=4
    ).filter(lambda f: None in f)
)
def test_isolation_a_broken_curated_file_leaves_the_other_files(files):
    raws = [_file(f"f{i}.toml", GOOD if body is None else body) for i, body in enumerate(files)]
    try:
        quotes, bad = parse_curated_raws(raws)
    except PartialFailure as exc:  # the feed fails loudly, with the good files' quotes
        assert len(files) > files.count(None) and "\n" not in str(exc)
        quotes, bad = exc.quotes, exc.quarantined
    else:
        assert files.count(None) == len(files)
    assert len(quotes) == files.count(None)  # every good file's quote
    held = [b for b in bad if b.record_key == "file"]
    assert len(held) == len(files) - files.count(None)
    assert all("\n" not in b.reason for b in held)


def test_isolation_every_curated_file_broken_fails_the_feed_in_one_line():
    with pytest.raises(BadPayload) as info:
        parse_curated_raws([_file("a.toml", MISTAKES[1]), _file("b.toml", MISTAKES[0])])
    assert "\n" not in str(info.value) and "a.toml" in str(info.value)


# -- RunPod: a surface counts only where the GPU is offered -----------------------------------
#
# A price RunPod lists for a surface whose flag (secureCloud, communityCloud) is false is no
# offer: the quote is kept for the record with its unavailable_reason, and the price method
# excludes it (rule `unavailable`, in price_decisions), so it never prices a day.

FLAG = st.sampled_from([True, False, None])  # None: the field absent (older answers)
PRICE = st.sampled_from([0, None, 0.5, 2.49, 11.0])


def _point(q) -> QuotePoint:
    """The stored quote as the price method reads it (warehouse/quotes.py points_of)."""
    return QuotePoint(
        q.sku,
        q.kind,
        q.source,
        q.price_usd,
        q.observed_at.date(),
        q.form_factor,
        market_of(q.tier),
        quote_id=q.listing_id,
        provider=q.provider,
        tier=q.tier,
        tier_label=q.tier_label,
        unavailable_reason=q.unavailable_reason,
        capacity_id=q.capacity_id,
        instance_name=q.instance_name,
    )


def _priced_by_surface(quotes) -> dict[str, bool]:
    """Surface -> whether the price method kept its on-demand quote for the H100 SXM."""
    book = price_stats([_point(q) for q in quotes])
    decisions = book.decisions("H100", "rental_hourly", "SXM", "on_demand", as_of=NOW.date())
    out = {}
    for d in decisions:
        surface = d.point.tier_label.split()[0]
        assert d.kept or d.rule == "unavailable", (d.rule, d.reason)
        out[surface] = d.kept
    return out


@settings(derandomize=True, deadline=None, max_examples=200)
@given(secure=FLAG, community=FLAG, secure_price=PRICE, community_price=PRICE)
def test_isolation_runpod_prices_count_only_where_the_gpu_is_offered(
    secure, community, secure_price, community_price
):
    gpu = {
        "id": "NVIDIA H100 80GB HBM3",
        "displayName": "H100 SXM",
        "memoryInGb": 80,
        "securePrice": secure_price,
        "communityPrice": community_price,
    }
    for name, flag in (("secureCloud", secure), ("communityCloud", community)):
        if flag is not None:
            gpu[name] = flag
    raw = _file("graphql", "{}")
    quotes = gpu_type_to_quotes(copy.deepcopy(gpu), raw)
    surfaces = (("secure", secure, secure_price), ("community", community, community_price))
    # Every listed price is recorded; those of a surface not offered say why.
    assert {q.tier_label.split()[0]: q.price_usd for q in quotes} == {
        surface: price for surface, _flag, price in surfaces if price
    }
    for q in quotes:
        surface = q.tier_label.split()[0]
        flag = dict((s, f) for s, f, _p in surfaces)[surface]
        assert q.unavailable_reason == (
            f"RunPod does not offer it on {surface.title()} Cloud ({surface}Cloud false)"
            if flag is False
            else None
        )
    # And the price method prices with the offered ones only.
    assert _priced_by_surface(quotes) == {
        surface: flag is not False for surface, flag, price in surfaces if price
    }


def test_isolation_runpod_community_false_gives_no_phantom_price(feed_api):
    from capcover.fakeapi.gpu import FakeRunPod
    from capcover.ingest.runpod import GPU_TYPES_QUERY, RunPodClient

    gpu = {
        "id": "NVIDIA H100 80GB HBM3",
        "displayName": "H100 SXM",
        "memoryInGb": 80,
        "secureCloud": True,
        "communityCloud": False,
        "securePrice": 2.99,
        "communityPrice": 1.99,  # listed, but not offered there
        "lowestPrice": {"stockStatus": "High"},  # in stock (an answer without it is not)
    }
    FakeRunPod([gpu]).install(feed_api, "/runpod")
    client = RunPodClient(base_url=feed_api.url_for("/runpod"), rate_per_minute=60000)
    quotes, _ = client.parse(client.fetch())
    assert [(q.tier_label, q.price_usd, q.unavailable_reason) for q in quotes] == [
        ("secure cloud, on-demand", 2.99, None),
        (
            "community cloud, on-demand",
            1.99,
            "RunPod does not offer it on Community Cloud (communityCloud false)",
        ),
    ]
    stat = price_stats([_point(q) for q in quotes]).get(
        "H100", "rental_hourly", "SXM", "on_demand", as_of=quotes[0].observed_at.date()
    )
    assert stat is not None and stat.median_usd == 2.99 and stat.quote_count == 1
    assert "communityCloud" in GPU_TYPES_QUERY and "secureCloud" in GPU_TYPES_QUERY
