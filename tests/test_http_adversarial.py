"""The real clients against hostile servers: each case names its outcome and attempt count.

Servers are built here: pytest-httpserver for well-formed HTTP, and `RawServer` (a socket
that writes whatever bytes a case scripts) for what no HTTP library would send. Nothing leaves
127.0.0.1.
"""

from __future__ import annotations

import gzip
import json
import socket
import threading
import time
from collections.abc import Callable

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Response

from capcover.ingest.client import HttpOptions
from capcover.ingest.coingecko import CoinGeckoClient
from capcover.ingest.errors import BadPayload, IngestError, RetryBudgetExhausted
from capcover.ingest.http import RetryPolicy
from capcover.ingest.runpod import RunPodClient
from capcover.ingest.vastai import VastAiClient
from tests.conftest import category_payload

KEY = "CG-" + "adversarialKeyUnderTest99"  # fake; split so secret scanners do not flag it
CATS = "/api/v3/coins/categories"


def coingecko(base_url: str, *, budget: float = 5.0, attempts: int = 8, **kw) -> CoinGeckoClient:
    """A keyed CoinGecko client; `kw` are HttpOptions fields (deadline_s, max_body_bytes, ...)."""
    http = HttpOptions(
        retry=RetryPolicy(budget_s=budget, max_attempts=attempts, base_delay_s=0.01),
        sleep=lambda s: None,
        **kw,
    )
    return CoinGeckoClient(
        plan="demo", api_key=KEY, base_url=base_url, rate_per_minute=60000, http=http
    )


class RawServer:
    """A TCP server on 127.0.0.1 that hands each connection to `handler(server, conn)`."""

    def __init__(self, handler: Callable[[RawServer, socket.socket], None]) -> None:
        self.handler = handler
        self.connections = 0
        self.sent = 0  # body bytes the handlers reported sending
        self._sock = socket.create_server(("127.0.0.1", 0))
        self.port = self._sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}/api/v3"
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._run, args=(conn,), daemon=True).start()

    def _run(self, conn: socket.socket) -> None:
        try:
            conn.recv(65536)  # the request; its content does not matter here
            self.handler(self, conn)
        except OSError:
            pass  # the client hung up: that is what several cases expect
        finally:
            conn.close()

    def close(self) -> None:
        self._sock.close()


@pytest.fixture
def raw_server():
    servers: list[RawServer] = []

    def start(handler):
        servers.append(RawServer(handler))
        return servers[-1]

    yield start
    for s in servers:
        s.close()


def _head(length: int | None = None, extra: str = "") -> bytes:
    lines = ["HTTP/1.1 200 OK", "Content-Type: application/json", "Connection: close"]
    if length is not None:
        lines.append(f"Content-Length: {length}")
    return ("\r\n".join(lines) + "\r\n" + extra + "\r\n").encode()


# -- redirects --------------------------------------------------------------------------------


@pytest.fixture
def second_server():
    server = HTTPServer(host="127.0.0.1", port=0)
    server.start()
    yield server
    server.clear()
    if server.is_running():
        server.stop()


def test_adversarial_cross_origin_redirect_never_carries_the_key(httpserver, second_server):
    """A redirect to another port (another origin) arrives without the API-key header."""
    second_server.expect_request(CATS).respond_with_json(category_payload())
    httpserver.expect_request(CATS).respond_with_response(
        Response(status=302, headers={"Location": second_server.url_for(CATS)})
    )
    client = coingecko(httpserver.url_for("/api/v3"))
    raw = client.categories().record
    assert raw.status == 200 and raw.attempt == 1
    ((first, _),) = httpserver.log
    ((second, _),) = second_server.log
    assert first.headers.get("x-cg-demo-api-key") == KEY  # sent to its own origin
    assert "x-cg-demo-api-key" not in second.headers
    assert KEY not in str(dict(second.headers)) + second.url
    assert client.session.stats.requests == 1


def test_adversarial_cross_host_redirect_never_carries_the_key(httpserver, second_server):
    """127.0.0.1 -> localhost: a different host name, the same rule."""
    target = f"http://localhost:{second_server.port}{CATS}"
    second_server.expect_request(CATS).respond_with_json(category_payload())
    httpserver.expect_request(CATS).respond_with_response(
        Response(status=307, headers={"Location": target})
    )
    coingecko(httpserver.url_for("/api/v3")).categories()
    ((second, _),) = second_server.log
    assert "x-cg-demo-api-key" not in second.headers


def test_adversarial_same_origin_redirect_keeps_the_key(httpserver):
    httpserver.expect_request("/api/v3/old/coins/categories").respond_with_response(
        Response(status=301, headers={"Location": CATS})
    )
    httpserver.expect_request(CATS).respond_with_json(category_payload())
    client = coingecko(httpserver.url_for("/api/v3/old"))
    assert client.categories().record.status == 200
    assert [r.headers.get("x-cg-demo-api-key") for r, _ in httpserver.log] == [KEY, KEY]


def test_adversarial_redirect_loop_fails_in_one_line_after_one_attempt(httpserver):
    httpserver.expect_request(CATS).respond_with_response(
        Response(status=302, headers={"Location": CATS})
    )
    client = coingecko(httpserver.url_for("/api/v3"))
    with pytest.raises(
        IngestError,
        match=r"^coingecko /coins/categories: more than 5 "
        r"redirects",
    ) as info:
        client.categories()
    assert "\n" not in str(info.value) and info.value.attempts == 1
    assert len(httpserver.log) == 6  # the first request and five redirects, then it stops


# -- slow, huge and broken bodies -------------------------------------------------------------


def _drip(server: RawServer, conn: socket.socket) -> None:
    conn.sendall(_head(1000))
    for _ in range(1000):  # one byte every 0.1 s: 100 s if nobody stops it
        conn.sendall(b" ")
        server.sent += 1
        time.sleep(0.1)


def test_adversarial_drip_server_is_cut_at_the_deadline(raw_server):
    """Each byte arrives well within the read timeout; the deadline still ends the attempt."""
    server = raw_server(_drip)
    client = coingecko(server.url, budget=0, deadline_s=0.5, read_timeout_s=5)
    with pytest.raises(RetryBudgetExhausted, match=r"no complete answer within 0.5 s") as info:
        client.categories()
    assert info.value.attempts == 1 and server.connections == 1
    assert server.sent < 1000  # the client hung up mid-drip


def test_adversarial_drip_server_retries_within_the_budget(raw_server):
    server = raw_server(_drip)
    client = coingecko(server.url, budget=1.2, deadline_s=0.5, read_timeout_s=5)
    with pytest.raises(RetryBudgetExhausted, match=r"retry budget 1.2 s") as info:
        client.categories()
    # Each attempt is cut at 0.5 s, the last one at what is left of the budget; how many fit
    # depends on the machine's load, but every one was a real, cut-short connection.
    assert info.value.attempts == server.connections >= 2
    assert server.sent < 1000


def test_adversarial_dripped_headers_are_cut_at_the_deadline(raw_server):
    def drip_headers(server, conn):
        for byte in b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * 1000:
            conn.sendall(bytes([byte]))
            server.sent += 1
            time.sleep(0.1)

    server = raw_server(drip_headers)
    client = coingecko(server.url, budget=0, deadline_s=0.5, read_timeout_s=5)
    with pytest.raises(RetryBudgetExhausted, match="no complete answer within 0.5 s"):
        client.categories()
    assert server.sent < 1000


def _gzip_bomb(decoded_mb: int) -> bytes:
    """Concatenated gzip members of zeros: ~1 KB per decoded MB (a 2 GB bomb is ~2 MB)."""
    member = gzip.compress(b"\0" * (16 << 20), compresslevel=9)
    return member * (decoded_mb // 16)


def test_adversarial_gzip_bomb_fails_fast_without_retry(httpserver):
    bomb = _gzip_bomb(2048)  # 2 GB once decoded
    assert len(bomb) < 3 << 20
    httpserver.expect_request(CATS).respond_with_response(
        Response(
            bomb, status=200, headers={"Content-Encoding": "gzip"}, content_type="application/json"
        )
    )
    client = coingecko(httpserver.url_for("/api/v3"))  # the default cap: 50 MB
    with pytest.raises(
        BadPayload,
        match=r"^coingecko /coins/categories: response body over "
        r"50 MB once decoded .*CAPCOVER_HTTP_MAX_BODY_MB",
    ):
        client.categories()
    assert len(httpserver.log) == 1 and client.session.stats.retries == 0


def test_adversarial_huge_plain_body_is_refused_past_the_cap(httpserver):
    def chunks():
        yield b"["
        for _ in range(64):  # 4 MB, streamed without a Content-Length
            yield b"0," * (32 << 10)
        yield b"0]"

    httpserver.expect_request("/api/v0/bundles/").respond_with_response(
        Response(chunks(), status=200, content_type="application/json")
    )
    client = VastAiClient(
        base_url=httpserver.url_for("/"),
        gpu_names=["H100 SXM"],
        rate_per_minute=60000,
        http=HttpOptions(
            max_body_bytes=1 << 20, retry=RetryPolicy(budget_s=5), sleep=lambda s: None
        ),
    )
    with pytest.raises(BadPayload, match=r"^vastai /api/v0/bundles/: response body over 1 MB"):
        client.fetch()
    assert len(httpserver.log) == 1


def test_adversarial_deeply_nested_json_from_vastai_is_one_bad_payload(httpserver):
    httpserver.expect_request("/api/v0/bundles/").respond_with_data(
        "[" * 100_000 + "]" * 100_000, content_type="application/json"
    )
    client = VastAiClient(
        base_url=httpserver.url_for("/"), gpu_names=["H100 SXM"], rate_per_minute=60000
    )
    with pytest.raises(BadPayload, match="nested too deeply") as info:
        client.fetch()
    assert "\n" not in str(info.value) and len(httpserver.log) == 1


def test_adversarial_deeply_nested_json_from_runpod_is_one_bad_payload(httpserver):
    httpserver.expect_request("/graphql").respond_with_data(
        '{"data": ' * 100_000 + "1" + "}" * 100_000, content_type="application/json"
    )
    client = RunPodClient(base_url=httpserver.url_for("/"), rate_per_minute=60000)
    raws = client.fetch()
    with pytest.raises(BadPayload, match="nested too deeply") as info:
        client.parse(raws)
    assert "\n" not in str(info.value) and len(httpserver.log) == 1


def test_adversarial_deeply_nested_categories_fail_the_run_in_one_line(httpserver):
    httpserver.expect_request(CATS).respond_with_data("[" * 50_000 + "]" * 50_000)
    client = coingecko(httpserver.url_for("/api/v3"))
    with pytest.raises(
        BadPayload,
        match=r"^coingecko /coins/categories: expected JSON, got "
        r"JSON nested too deeply to parse",
    ):
        client.fetch_sector(["artificial-intelligence"])
    assert len(httpserver.log) == 1


def _close_mid_body(server: RawServer, conn: socket.socket) -> None:
    conn.sendall(_head(1000) + b'[{"id": "artificial-intelligence", "mark')
    conn.shutdown(socket.SHUT_RDWR)


def test_adversarial_close_mid_body_is_retried_then_fails_in_one_line(raw_server):
    server = raw_server(_close_mid_body)
    client = coingecko(server.url, attempts=3)
    with pytest.raises(
        RetryBudgetExhausted,
        match=r"^coingecko /coins/categories: connection "
        r"failed .*gave up after 3 attempt",
    ) as info:
        client.categories()
    assert info.value.attempts == 3 and server.connections == 3
    assert "\n" not in str(info.value) and info.value.raws == ()  # no attempt got an answer


def test_adversarial_content_length_longer_than_body_is_a_dropped_connection(raw_server):
    def short(server, conn):
        body = json.dumps(category_payload()).encode()
        conn.sendall(_head(len(body) + 500) + body)

    server = raw_server(short)
    client = coingecko(server.url, attempts=2)
    with pytest.raises(RetryBudgetExhausted, match="connection failed") as info:
        client.categories()
    assert info.value.attempts == 2 and server.connections == 2


def test_adversarial_content_length_shorter_than_body_is_a_bad_payload(raw_server):
    def long(server, conn):
        body = json.dumps(category_payload()).encode()
        conn.sendall(_head(len(body) // 2) + body)

    server = raw_server(long)
    client = coingecko(server.url)
    raw = client.categories().record  # HTTP-wise complete: exactly Content-Length bytes arrived
    assert raw.attempt == 1 and server.connections == 1
    with pytest.raises(
        BadPayload,
        match=r"^coingecko /coins/categories: expected JSON, got "
        r"invalid JSON",
    ):
        client.fetch_sector(["artificial-intelligence"])


def test_adversarial_corrupt_gzip_is_a_failed_connection_not_a_crash(raw_server):
    def corrupt(server, conn):
        conn.sendall(_head(20, "Content-Encoding: gzip\r\n") + b"\x1f\x8b" + b"\xff" * 18)

    server = raw_server(corrupt)
    client = coingecko(server.url, attempts=2)
    with pytest.raises(RetryBudgetExhausted) as info:
        client.categories()
    assert info.value.attempts == 2 and "\n" not in str(info.value)
