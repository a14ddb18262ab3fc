"""HTTP-layer details behind the fault matrix: the server's wait in every format, key scrubbing,
and failures that must not be retried."""

from __future__ import annotations

import email.utils
import time
from datetime import UTC, datetime, timedelta

import pytest
import requests

from capcover.fakeapi import Reply
from capcover.fakeapi.coingecko import CoinGecko
from capcover.ingest.client import HttpOptions
from capcover.ingest.coingecko import CoinGeckoClient
from capcover.ingest.errors import AuthError, IngestError
from capcover.ingest.http import HttpSession, RetryPolicy, scrub, secret_header_values

KEY = "CG-" + "thisIsTheKeyUnderTest42"  # fake; split so secret scanners do not flag it


def _response(**headers: str) -> requests.Response:
    r = requests.Response()
    r.status_code = 429
    r.headers.update(headers)
    return r


def _in(seconds: int) -> datetime:
    return datetime.now(UTC) + timedelta(seconds=seconds)


# Header values are built when the test runs (a slow suite must not age them).
@pytest.mark.parametrize(
    "headers, low, high",
    [
        (lambda: {"Retry-After": "7"}, 7, 7),
        (lambda: {"Retry-After": email.utils.format_datetime(_in(30), usegmt=True)}, 25, 30),
        (lambda: {"x-ratelimit-reset": "12"}, 12, 12),  # seconds from now
        (lambda: {"x-ratelimit-reset": str(int(time.time()) + 20)}, 15, 20),  # epoch
        (lambda: {"x-ratelimit-reset": _in(40).strftime("%Y-%m-%d %H:%M:%S +0000")}, 35, 40),
        (lambda: {"Retry-After": "soon"}, None, None),
        (lambda: {}, None, None),
    ],
    ids=[
        "seconds",
        "http-date",
        "reset-seconds",
        "reset-epoch",
        "reset-coingecko-date",
        "garbage",
        "none",
    ],
)
def test_faults_http_server_wait_in_every_format(headers, low, high):
    wait = HttpSession.server_wait_s(_response(**headers()))
    if low is None:
        assert wait is None
    else:
        assert low <= wait <= high


def test_faults_http_secret_headers_are_found_and_scrubbed():
    secrets = secret_header_values(
        {
            "x-cg-pro-api-key": KEY,
            "Authorization": "Bearer abc123",
            "Accept": "application/json",
            "User-Agent": "capcover",
        }
    )
    assert secrets == [KEY, "Bearer abc123"]
    assert scrub(f"Invalid key {KEY}!", secrets) == "Invalid key [redacted]!"


def test_faults_http_echoed_key_is_scrubbed_and_auth_is_not_retried(env):
    server = CoinGecko.reference()
    try:
        server.script(
            "/coins/categories",
            Reply({"status": {"error_code": 10002, "error_message": f"Wrong key {KEY}"}}, 401),
        )
        client = CoinGeckoClient(
            plan="pro",
            api_key=KEY,
            base_url=server.base_url,
            rate_per_minute=60000,
            http=HttpOptions(retry=RetryPolicy(budget_s=5), sleep=lambda s: None),
        )
        with pytest.raises(AuthError) as info:
            client.categories()
        assert KEY not in str(info.value) and "[redacted]" in str(info.value)
        assert KEY not in info.value.raws[-1].body
        assert server.attempts("/coins/categories") == 1
    finally:
        server.close()


def test_faults_http_unretryable_request_errors_are_one_line():
    session = HttpSession(
        source="x", base_url="http://127.0.0.1:9", rate_per_minute=60000, sleep=lambda s: None
    )
    with pytest.raises(IngestError, match=r"^x /x: request failed \(InvalidSchema") as info:
        session.get("ftp://127.0.0.1/x")
    assert info.value.attempts == 1 and session.stats.requests == 1
