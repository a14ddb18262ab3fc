"""Never silent for long (#23.3) and concurrent sources (#24.1), at the HTTP layer and in the
daily run: an unreachable host is tried a bounded number of times, not for the whole retry
budget; a host that failed is not tried again by every other request to it in the same run
(one breaker per host); a wait longer than 2 s is announced in one line; the run's sources are
fetched at the same time. Unreachable hosts are closed local ports, never the internet; the
assertions are on attempts and outcomes, never on seconds."""

import socket
import threading

import pytest
import requests
import urllib3

from capcover.fakeapi import FakeAPI, Reply
from capcover.fakeapi.coingecko import CoinGecko
from capcover.fakeapi.gpu import FakeRunPod
from capcover.flows.clients import Clients
from capcover.flows.sequence import run_daily
from capcover.ingest.errors import ConnectionFailed, RateLimited
from capcover.ingest.http import (
    ANNOUNCE_AFTER_S,
    HttpSession,
    Network,
    RetryPolicy,
    _unreachable,
    announce_on_terminal,
)
from capcover.ingest.vastai import VastAiClient
from tests.conftest import reference


def closed_port() -> str:
    """http://127.0.0.1:<a port nothing listens on> (connections are refused at once)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def _session(source: str, base_url: str, network: Network, sleeps: list) -> HttpSession:
    return HttpSession(
        source=source,
        base_url=base_url,
        retry=RetryPolicy(budget_s=120),  # a long budget: fail-fast must not depend on it
        sleep=sleeps.append,
        network=network,
    )


def test_reachability_refused_port_gets_two_attempts_not_the_whole_budget():
    network, sleeps = Network(announce=None), []
    session = _session("coingecko", closed_port(), network, sleeps)
    with pytest.raises(ConnectionFailed, match=r"connection failed \(refused\).*gave up after 2"):
        session.get(session.base_url + "/coins/categories")
    assert session.stats.requests == 2 and len(sleeps) == 1  # one short backoff between them
    assert sleeps[0] < ANNOUNCE_AFTER_S
    assert list(network.unreachable()) == [session.base_url.removeprefix("http://")]


def test_reachability_breaker_fails_every_later_request_to_the_host_at_once():
    network, sleeps = Network(announce=None), []
    base = closed_port()
    first = _session("gpuhunt", base, network, sleeps)
    with pytest.raises(ConnectionFailed):
        first.get(base + "/aws/version")
    others = [_session("gpuhunt", base, network, sleeps) for _ in range(8)]
    for n, session in enumerate(others):
        with pytest.raises(ConnectionFailed, match=r"unreachable in this run.*not tried again"):
            session.get(base + f"/provider-{n}/version")
        assert session.stats.requests == 0
    host = base.removeprefix("http://")
    assert network.sent[host] == 2  # nine requests to a dead host: two attempts in all


def test_reachability_breaker_is_per_host_and_per_run():
    dead, sleeps = closed_port(), []
    network = Network(announce=None)
    with pytest.raises(ConnectionFailed):
        _session("a", dead, network, sleeps).get(dead + "/x")
    with FakeAPI() as alive:
        alive.add("/ok", Reply({"ok": True}))
        ok = _session("b", alive.url, network, sleeps).fetch("GET", alive.url_for("/ok"))
        assert ok.record.status == 200  # another host of the same run is not affected
    fresh = _session("a", dead, Network(announce=None), sleeps)
    with pytest.raises(ConnectionFailed, match="gave up after 2"):
        fresh.get(dead + "/x")  # a new run tries the host again
    assert fresh.stats.requests == 2


@pytest.mark.parametrize(
    "exc, unreachable",
    [
        (requests.exceptions.ConnectTimeout("connect timed out"), True),
        (
            requests.exceptions.ConnectionError(
                urllib3.exceptions.MaxRetryError(
                    None, "/x", urllib3.exceptions.NameResolutionError("h", None, OSError("x"))
                )
            ),
            True,
        ),
        (
            requests.exceptions.ConnectionError(
                urllib3.exceptions.MaxRetryError(
                    None, "/x", urllib3.exceptions.NewConnectionError(None, "refused")
                )
            ),
            True,
        ),
        (
            requests.exceptions.ConnectionError(
                urllib3.exceptions.ProtocolError("Connection aborted.", ConnectionResetError())
            ),
            False,
        ),
        (requests.exceptions.ReadTimeout("read timed out"), False),
    ],
)
def test_reachability_classifies_dns_refused_and_connect_timeout_as_unreachable(exc, unreachable):
    # A reset or a stalled read reached the server: retried within the budget as before.
    assert _unreachable(exc) is unreachable


def test_reachability_long_retry_after_is_announced_in_one_line(httpserver):
    body = reference("error_429_rate_limit.json")["payload"]
    httpserver.expect_ordered_request("/x").respond_with_json(
        body, status=429, headers={"Retry-After": "3"}
    )
    httpserver.expect_ordered_request("/x").respond_with_json({"ok": 1})
    lines, sleeps = [], []
    session = _session("coingecko", httpserver.url_for("/"), Network(announce=lines.append), sleeps)
    assert session.fetch("GET", httpserver.url_for("/x")).record.status == 200
    assert sleeps == [3.0]
    (line,) = lines
    assert line.startswith("capcover: coingecko /x: waiting 3 s") and "Retry-After" in line


def test_reachability_short_waits_are_not_announced(httpserver):
    httpserver.expect_ordered_request("/x").respond_with_data("", status=503)
    httpserver.expect_ordered_request("/x").respond_with_json({"ok": 1})
    lines, sleeps = [], []
    session = _session("coingecko", httpserver.url_for("/"), Network(announce=lines.append), sleeps)
    session.fetch("GET", httpserver.url_for("/x"))
    assert len(sleeps) == 1 and sleeps[0] < ANNOUNCE_AFTER_S and lines == []


def test_reachability_pacer_wait_over_two_seconds_is_announced(httpserver):
    from datetime import UTC, datetime

    from capcover.ingest.client import HttpOptions

    httpserver.expect_request("/api/v0/bundles/").respond_with_json({"offers": []})
    lines, sleeps = [], []
    now = [datetime(2031, 5, 6, tzinfo=UTC)]  # a clock that moves only when slept on

    def sleep(seconds):
        sleeps.append(seconds)
        now[0] = datetime.fromtimestamp(now[0].timestamp() + seconds, UTC)

    client = VastAiClient(  # Vast.ai's documented pace: calls spread 2 s apart
        base_url=httpserver.url_for("/"),
        gpu_names=["H100 SXM", "H200"],
        http=HttpOptions(sleep=sleep, clock=lambda: now[0], network=Network(announce=lines.append)),
    )
    client.fetch()
    assert len(sleeps) == 1 and sleeps[0] > ANNOUNCE_AFTER_S
    (line,) = lines
    assert "vastai /api/v0/bundles/: waiting 2 s" in line and "evenly spaced" in line


def test_reachability_default_announce_is_silent_off_a_terminal(capsys, monkeypatch):
    monkeypatch.delenv("CAPCOVER_VERBOSE", raising=False)
    announce_on_terminal("capcover: x: waiting 5 s — why")
    out, err = capsys.readouterr()
    assert out == "" and err == ""  # pytest's captured stderr is not a terminal


def test_reachability_verbose_announces_off_a_terminal_too(capsys, monkeypatch):
    monkeypatch.setenv("CAPCOVER_VERBOSE", "1")
    announce_on_terminal("capcover: x: waiting 5 s — why")
    out, err = capsys.readouterr()
    assert out == "" and err == "capcover: x: waiting 5 s — why\n"


def test_reachability_429_past_the_budget_still_fails_with_its_status(httpserver):
    body = reference("error_429_rate_limit.json")["payload"]
    httpserver.expect_request("/x").respond_with_json(
        body, status=429, headers={"Retry-After": "119"}
    )
    sleeps = []
    session = HttpSession(
        source="coingecko",
        base_url=httpserver.url_for("/"),
        retry=RetryPolicy(budget_s=10),
        sleep=sleeps.append,
        network=Network(announce=None),
    )
    with pytest.raises(RateLimited, match="server asked to wait 119 s"):
        session.get(httpserver.url_for("/x"))
    assert sleeps == [] and session.stats.requests == 1


# -- the daily run ---------------------------------------------------------------------------


@pytest.fixture
def settings_for(tmp_path):
    def make(fake: CoinGecko, **over):
        from benchmarks.common import capcover_settings

        return capcover_settings(
            fake, tmp_path / "w.duckdb", **{"http_retry_budget_s": 120, **over}
        )

    return make


def test_reachability_run_with_gpuhunt_unreachable_for_every_provider_counts_the_others(
    settings_for,
):
    with CoinGecko.generated({"artificial-intelligence": 260}) as fake:
        dead = closed_port()
        settings = settings_for(fake, gpuhunt_base_url=dead + "/v3")
        clients = Clients(settings, announce=None)
        result = run_daily(settings, clients=clients)
    assert result.sources_failed == ["gpuhunt"]
    error = result.feed_errors["gpuhunt"]
    assert "no provider's catalog could be fetched" in error and "refused" in error
    # Nine providers on one dead host: two attempts in all, then the breaker answered.
    assert clients.network.sent[dead.removeprefix("http://")] == 2
    assert len(result.reports) >= 4  # the run stands on the other sources
    from capcover.warehouse.db import open_warehouse

    with open_warehouse(settings.db, read_only=True) as wh:
        loaded = {
            s for (s,) in wh.query("SELECT DISTINCT split_part(source, '/', 1) FROM gpu_quotes")
        }
        runs = wh.query("SELECT status, sources_failed FROM runs")
    assert {"vastai", "runpod"} <= loaded and "gpuhunt" not in loaded
    assert runs == [("ok", "gpuhunt")]


def test_reachability_run_against_an_unreachable_coingecko_fails_in_one_line_after_two_attempts(
    settings_for,
):
    with CoinGecko.generated({"artificial-intelligence": 260}) as fake:
        dead = closed_port()
        settings = settings_for(fake, coingecko_base_url=dead + "/api/v3")
        clients = Clients(settings, announce=None)
        with pytest.raises(ConnectionFailed) as info:
            run_daily(settings, clients=clients)
    assert "\n" not in str(info.value) and "refused" in str(info.value)
    assert clients.network.sent[dead.removeprefix("http://")] == 2


class _Meeting(CoinGecko):
    """CoinGecko whose categories answer waits (at most 10 s) for another host's request."""

    other_asked = threading.Event()
    waiting = threading.Event()

    def _categories(self, req):
        self.waiting.set()
        if not self.other_asked.wait(10):
            return Reply({}, status=503)
        return super()._categories(req)


def test_reachability_sources_are_fetched_at_the_same_time(settings_for):
    # RunPod (its own host) answers only once CoinGecko's categories request is in flight,
    # and CoinGecko answers only once RunPod's request arrived: fetched one after the other,
    # neither would answer (each waits at most 10 s, then says 503 and the run fails).
    _Meeting.other_asked, _Meeting.waiting = threading.Event(), threading.Event()
    with _Meeting.generated({"artificial-intelligence": 260}) as fake, FakeAPI() as runpod:
        runpod_feed = FakeRunPod()

        def graphql(req):
            _Meeting.other_asked.set()
            return runpod_feed(req) if _Meeting.waiting.wait(10) else Reply({}, status=503)

        runpod.handle("/graphql", graphql, method="POST")
        settings = settings_for(fake, runpod_base_url=runpod.url, http_retry_budget_s=0)
        result = run_daily(settings, clients=Clients(settings, announce=None))
    assert result.sources_failed == [] and result.reports
    assert runpod.count("/graphql") == 1 and fake.attempts("/coins/categories") == 1
