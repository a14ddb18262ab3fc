"""Every source's HTTP answer, and the Prefect API, against the fake API's fault modes
(docs/threat-model.md, "Sources over HTTP"): the CLASS of hostile or broken answers, tried on
each boundary rather than one example on one.

Boundaries: CoinGecko's categories and markets page, Vast.ai's bundles, RunPod's GraphQL,
gpuhunt's version file and catalog.zip (through the real clients and the one HTTP layer), and
the Prefect REST API that `capcover status` reads. Faults (fakeapi/faults.py): a dripping body
or dripping headers, an answer slower than the read timeout, a reset, a body cut off, a
Content-Length that lies either way, a gzip, deflate or doubly-gzipped answer and a
decompression bomb of each, a same-origin redirect, a cross-origin redirect, a redirect loop,
and a wrong Content-Type. Each either gives the same parsed answer as a clean one, or fails in
one line with a bounded number of attempts; nothing waits past its deadline, and a bomb is
refused with memory bounded by the cap.
"""

from __future__ import annotations

import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from capcover.fakeapi import (
    Drip,
    Encoded,
    FakeAPI,
    LyingLength,
    Redirect,
    Reply,
    Reset,
    Retyped,
    Slow,
    Truncated,
)
from capcover.fakeapi import gpuhunt as fake_hunt
from capcover.fakeapi.coingecko import AI, category_payload, market_pages
from capcover.fakeapi.faults import zero_bomb
from capcover.fakeapi.gpu import FakeRunPod, FakeVast
from capcover.flows.prefect_env import ApiSource
from capcover.ingest.client import HttpOptions
from capcover.ingest.coingecko import CoinGeckoClient
from capcover.ingest.errors import BadPayload, IngestError
from capcover.ingest.feeds import load_json
from capcover.ingest.gpuhunt import GpuhuntClient
from capcover.ingest.http import RetryPolicy
from capcover.ingest.runpod import RunPodClient
from capcover.ingest.vastai import VastAiClient

KEY = "CG-" + "adversarialSourceKey77"
CAP = 4 << 20  # the body cap in these tests: 4 MB


def _options(*, attempts: int = 3, deadline_s: float = 0.5, read_timeout_s: float = 0.3):
    return HttpOptions(
        connect_timeout_s=1.0,
        read_timeout_s=read_timeout_s,
        deadline_s=deadline_s,
        max_body_bytes=CAP,
        retry=RetryPolicy(budget_s=30, max_attempts=attempts, base_delay_s=0.001),
        sleep=lambda s: None,
    )


@dataclass
class Boundary:
    """One source's answer: where the fake serves it and how a client asks for it."""

    path: str  # the request path a fault is scripted on
    call: Callable[[HttpOptions], Any]  # ask through the real client; the parsed answer
    binary: bool = False


def _world(api: FakeAPI) -> dict[str, Boundary]:
    """Every source mounted on one fake: /cg (CoinGecko), /vast, /runpod, /gpuhunt."""
    api.add("/cg/coins/categories", category_payload())
    api.add("/cg/coins/markets", market_pages()[0], query={"page": "1"})
    FakeVast().install(api, "/vast")
    FakeRunPod().install(api, "/runpod")
    api.mount(fake_hunt.routes(("aws",)), "/gpuhunt")

    def cg(http: HttpOptions) -> CoinGeckoClient:
        return CoinGeckoClient(
            plan="demo", api_key=KEY, base_url=api.url_for("/cg"), rate_per_minute=60000, http=http
        )

    def categories(http: HttpOptions) -> Any:
        return load_json(cg(http).categories().record)

    def markets(http: HttpOptions) -> Any:
        return load_json(cg(http).markets_page(AI, 1).record)

    def vast(http: HttpOptions) -> Any:
        client = VastAiClient(
            base_url=api.url_for("/vast"), gpu_names=["H200"], rate_per_minute=60000, http=http
        )
        quotes, _bad = client.parse(client.fetch())
        return sorted(q.price_usd for q in quotes)

    def runpod(http: HttpOptions) -> Any:
        client = RunPodClient(base_url=api.url_for("/runpod"), rate_per_minute=60000, http=http)
        quotes, _bad = client.parse(client.fetch())
        return sorted((q.sku_label, q.tier, q.price_usd) for q in quotes)

    def hunt(http: HttpOptions) -> Any:
        client = GpuhuntClient(
            base_url=api.url_for("/gpuhunt"), providers=["aws"], rate_per_minute=60000, http=http
        )
        raws = client.fetch()
        if client.failed:  # a provider that fails is left out: the failure is the outcome
            raise IngestError(client.failed["aws"])
        quotes, _bad = client.parse(raws)
        return sorted((q.note, q.price_usd) for q in quotes)

    version = f"/gpuhunt/aws/{fake_hunt.VERSION}/catalog.zip"
    return {
        "coingecko_categories": Boundary("/cg/coins/categories", categories),
        "coingecko_markets": Boundary("/cg/coins/markets", markets),
        "vastai_bundles": Boundary("/vast/api/v0/bundles/", vast),
        "runpod_graphql": Boundary("/runpod/graphql", runpod),
        "gpuhunt_version": Boundary("/gpuhunt/aws/version", hunt),
        "gpuhunt_catalog": Boundary(version, hunt, binary=True),
    }


@pytest.fixture
def world():
    with FakeAPI() as api:
        yield api, _world(api)


SOURCES = [
    "coingecko_categories",
    "coingecko_markets",
    "vastai_bundles",
    "runpod_graphql",
    "gpuhunt_version",
    "gpuhunt_catalog",
]


def _clean(api: FakeAPI, b: Boundary, http: HttpOptions) -> tuple[Any, int]:
    """A clean answer of `b` and the requests it took (Vast.ai's paging asks once more, for the
    page that brings no new offer)."""
    api.clear_log()
    answer = b.call(http)
    requests = api.count(b.path)
    api.clear_log()
    return answer, requests


def _one_line(exc: BaseException) -> str:
    text = str(exc)
    assert text and "\n" not in text and "Traceback" not in text
    return text


# -- answers that must come out the same as a clean one -----------------------------------


@pytest.mark.parametrize("source", SOURCES)
@pytest.mark.parametrize(
    "fault",
    [Encoded("gzip"), Encoded("deflate"), Encoded("gzip, gzip"), Retyped("text/html")],
    ids=["gzip", "deflate", "gzip_twice", "wrong_content_type"],
)
def test_adversarial_sources_encoded_or_mislabelled_answers_parse_the_same(world, source, fault):
    api, boundaries = world
    b = boundaries[source]
    clean, requests = _clean(api, b, _options())
    api.script(b.path, fault)
    assert b.call(_options()) == clean
    assert api.count(b.path) == requests  # no request more than a clean answer takes


@pytest.mark.parametrize("source", SOURCES)
def test_adversarial_sources_same_origin_redirect_is_followed(world, source):
    api, boundaries = world
    b = boundaries[source]
    clean, requests = _clean(api, b, _options())
    api.script(b.path, Redirect("", 307))  # the same URL again (307: method and body kept)
    assert b.call(_options()) == clean
    assert api.count(b.path) == requests + 1  # the redirect's one request more


# -- answers that must fail in one line, within their bound --------------------------------


def _fails(b: Boundary, http: HttpOptions, error: type[Exception] = IngestError) -> str:
    with pytest.raises(error) as info:
        b.call(http)
    return _one_line(info.value)


@pytest.mark.parametrize("source", SOURCES)
@pytest.mark.parametrize("headers", [False, True], ids=["body", "headers"])
def test_adversarial_sources_dripping_answer_is_cut_at_the_deadline(world, source, headers):
    api, boundaries = world
    b = boundaries[source]
    api.script(b.path, *[Drip(0.05, 1, headers=headers)] * 3)
    text = _fails(b, _options(attempts=2, deadline_s=0.4, read_timeout_s=5))
    assert "no complete answer within 0.4 s" in text
    assert api.count(b.path) == 2  # each attempt cut at its deadline, then the retry's
    assert api.dripped < 2 * 200  # the client hung up long before the end


@pytest.mark.parametrize("source", SOURCES)
def test_adversarial_sources_slow_answer_times_out_and_is_retried(world, source):
    api, boundaries = world
    b = boundaries[source]
    api.script(b.path, *[Slow(1.0)] * 3)
    text = _fails(b, _options(attempts=2, deadline_s=5, read_timeout_s=0.2))
    assert "read timeout after 0.2 s" in text and api.count(b.path) == 2


@pytest.mark.parametrize("source", SOURCES)
@pytest.mark.parametrize(
    "fault", [Reset(), Truncated(), LyingLength(500)], ids=["reset", "cut_off", "length_longer"]
)
def test_adversarial_sources_broken_connection_is_retried_then_one_line(world, source, fault):
    api, boundaries = world
    b = boundaries[source]
    api.script(b.path, *[fault] * 3)
    text = _fails(b, _options(attempts=3, deadline_s=5, read_timeout_s=2))
    assert "connection failed" in text and "gave up after 3 attempt" in text
    assert api.count(b.path) == 3


@pytest.mark.parametrize("source", SOURCES)
def test_adversarial_sources_length_shorter_than_the_body_is_refused(world, source):
    api, boundaries = world
    b = boundaries[source]
    api.script(b.path, LyingLength(-40))
    text = _fails(b, _options())
    assert api.count(b.path) == 1  # complete as HTTP goes: not retried, refused by the parser
    assert any(w in text for w in ("invalid JSON", "not a catalog zip", "not a version string"))


@pytest.mark.parametrize("source", SOURCES)
@pytest.mark.parametrize("encoding", ["gzip", "deflate", "gzip, gzip"])
def test_adversarial_sources_decompression_bomb_is_refused_with_bounded_memory(
    world, source, encoding
):
    api, boundaries = world
    b = boundaries[source]
    api.script(b.path, Encoded(encoding, bomb_mb=256))  # 64 x the cap once decoded
    zero_bomb(256, encoding)  # built (and cached) before memory is traced: the fake's own
    tracemalloc.start()
    try:
        text = _fails(b, _options())  # BadPayload; gpuhunt names it as the provider's failure
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert "response body over 4 MB once decoded" in text
    assert api.count(b.path) == 1  # refused, not retried
    assert peak < 3 * CAP  # read 64 KB at a time: never the whole 256 MB


@pytest.mark.parametrize("source", SOURCES)
def test_adversarial_sources_redirect_loop_fails_after_five(world, source):
    api, boundaries = world
    b = boundaries[source]
    api.script(b.path, *[Redirect(b.path)] * 10)
    text = _fails(b, _options())
    assert "more than 5 redirects" in text and api.count(b.path) == 6


def test_adversarial_sources_cross_origin_redirect_drops_the_key(world):
    api, boundaries = world
    with FakeAPI() as other:
        other.add("/cg/coins/categories", category_payload())
        api.script("/cg/coins/categories", Redirect(other.url_for("/cg/coins/categories")))
        assert boundaries["coingecko_categories"].call(_options())
        assert api.log[-1].headers.get("x-cg-demo-api-key") == KEY
        assert "x-cg-demo-api-key" not in other.log[0].headers
        assert KEY not in str(dict(other.log[0].headers))


@pytest.mark.parametrize("source", ["coingecko_categories", "vastai_bundles", "runpod_graphql"])
def test_adversarial_sources_html_under_a_json_type_is_refused_as_html(world, source):
    api, boundaries = world
    b = boundaries[source]
    api.script(b.path, Reply(raw="<html><body>blocked</body></html>"))  # application/json
    assert "an HTML page" in _fails(b, _options(), BadPayload)


# -- transient faults in any order: retried within the attempts, never a wrong answer -------

TRANSIENT = st.sampled_from(
    [Reset(), Truncated(), LyingLength(300), Slow(0.6), Reply({"error": "busy"}, status=503)]
)


@settings(
    derandomize=True,
    deadline=None,
    max_examples=60,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(source=st.sampled_from(SOURCES), faults=st.lists(TRANSIENT, max_size=4))
def test_adversarial_sources_any_transient_faults_end_in_the_clean_answer_or_one_line(
    world, source, faults
):
    api, boundaries = world
    b = boundaries[source]
    api.clear_log()
    with api._lock:
        api._script.clear()
    clean, requests = _clean(api, b, _options(attempts=4, deadline_s=5, read_timeout_s=0.3))
    api.script(b.path, *faults)
    http = _options(attempts=4, deadline_s=5, read_timeout_s=0.3)
    if len(faults) < 4:
        assert b.call(http) == clean
        assert api.count(b.path) == len(faults) + requests  # each fault costs one retry
    else:
        _fails(b, http)
        assert api.count(b.path) == 4


# -- the Prefect API that `capcover status` reads ------------------------------------------

DEPLOYMENT = {"id": "7f0c2a55-1a0e-4b6b-9a55-0d5b0f8a3b11", "paused": False}
RUNS = [{"expected_start_time": "2030-01-02T00:20:00+00:00"}]


@pytest.fixture
def prefect_api(monkeypatch):
    import prefect.settings  # noqa: F401 - see below

    from capcover.flows import serve

    # Prefect keeps the settings it found when first imported, for the whole process: it is
    # imported here under the session's own environment, never this fixture's fake API (a
    # later test's Prefect flow would report to it).
    monkeypatch.setattr(serve, "API_DEADLINE_S", 1.0)  # the bound under test, made short
    with FakeAPI() as api:
        api.add("/api/deployments/name/capcover-daily/daily", DEPLOYMENT)
        api.add("/api/flow_runs/filter", RUNS, method="POST")
        api.add("/api/health", True)
        monkeypatch.setenv("PREFECT_API_URL", api.url_for("/api"))
        yield api


@pytest.mark.parametrize(
    "fault",
    # Each drip outlasts the 1 s bound even on the 4-byte answer of /api/health.
    [Drip(0.4, 1), Drip(0.05, 1, headers=True), Slow(30), Redirect("/api/health")],
    ids=["drip_body", "drip_headers", "silent", "redirect_elsewhere"],
)
@pytest.mark.parametrize("path", ["/api/deployments/name/capcover-daily/daily", "/api/health"])
def test_adversarial_sources_prefect_api_waits_are_bounded(prefect_api, fault, path):
    from capcover.flows import serve
    from capcover.ingest.wait import WaitExpired, call_within

    prefect_api.script(path, *[fault] * 4)
    settings_like = type("S", (), {"schedule_cron": "20 0 * * *", "schedule_timezone": "UTC"})
    # The API as flows.prefect_env.prefect_api finds it (asked outside the bound: finding it
    # reads Prefect's settings, no server); the waits on the server are what is bounded.
    api = ApiSource(prefect_api.url_for("/api"), "PREFECT_API_URL")
    if path == "/api/health" and isinstance(fault, Redirect):
        # Redirected four times to itself, then healthy: an answer within the bound.
        assert call_within(serve.API_DEADLINE_S * 3, lambda: serve.check_server(api)) == api.url
        assert prefect_api.count("/api/health") == 5
        return
    if path == "/api/health":
        # serve's check: a dripping server is no server (one line, exit 2 from the command)
        with pytest.raises(serve.PrefectUnavailable) as info:
            call_within(serve.API_DEADLINE_S * 3, lambda: serve.check_server(api))
        _one_line(info.value)
        return
    try:
        found = call_within(
            serve.API_DEADLINE_S * 3, lambda: serve.next_scheduled(settings_like, api)
        )
    except WaitExpired:  # pragma: no cover - the failure this test exists for
        pytest.fail("capcover status waited past its deadline on the Prefect API")
    assert found.at is not None  # fell back to the cron schedule, and says why
    if isinstance(fault, Redirect):
        assert "no deployment" in found.source or "gave no complete answer" in found.source
    else:
        assert f"gave no complete answer within {serve.API_DEADLINE_S:g} s" in found.source


def test_adversarial_sources_prefect_api_answer_is_used_when_clean(prefect_api, monkeypatch):
    from capcover.flows import serve

    # What is under test is that a clean answer is used, not the bound (the fault tests above
    # hold that): the lookup imports Prefect's client inside the deadline, which on a loaded
    # 2-core machine took more than the real 5 s, so the bound is set far out of the way here.
    monkeypatch.setattr(serve, "API_DEADLINE_S", 120.0)
    settings_like = type("S", (), {"schedule_cron": "20 0 * * *", "schedule_timezone": "UTC"})
    found = serve.next_scheduled(settings_like)
    assert found.at is not None and found.at.year == 2030
    assert "deployment capcover-daily/daily" in found.source
