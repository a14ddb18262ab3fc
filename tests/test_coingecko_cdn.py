"""CoinGecko's CDN firewall (Cloudflare error 1020, "Access Denied") gets its own advice — wait,
or check the IP, VPN or proxy — never "check your plan and key"; and the Demo plan's default
rate is the documented 100 calls per minute."""

from __future__ import annotations

import pytest

from capcover.fakeapi import Reply
from capcover.fakeapi.coingecko import API, CoinGecko
from capcover.ingest.client import HttpOptions
from capcover.ingest.coingecko import RATE_LIMITS, CoinGeckoClient
from capcover.ingest.errors import AuthError, CdnBlocked
from capcover.ingest.http import RATE_HEADROOM, RetryPolicy
from capcover.ingest.ratelimit import Pace, Pacer

# Cloudflare's 1020 page (its shape: the error code in the title and in a cf-error-code span).
CF_1020_HTML = (
    "<!DOCTYPE html><html><head><title>Access denied | api.coingecko.com used Cloudflare to "
    'restrict access</title></head><body><div id="cf-wrapper"><h1><span class="cf-error-type">'
    'Error</span> <span class="cf-error-code">1020</span></h1><h2 class="cf-subheadline">'
    "Access denied</h2><p>The site owner may have set restrictions that prevent you from "
    "accessing the site.</p><p>Ray ID: 7a1b2c3d4e5f</p></div></body></html>"
)
CF_1020_TEXT = "error code: 1020"  # what Cloudflare sends a client that asks for no HTML


def _client(server: CoinGecko, **kw) -> CoinGeckoClient:
    return CoinGeckoClient(
        base_url=server.base_url,
        rate_per_minute=60000,
        http=HttpOptions(retry=RetryPolicy(budget_s=5), sleep=lambda s: None),
        **kw,
    )


@pytest.mark.parametrize(
    ("body", "ctype"), [(CF_1020_HTML, "text/html"), (CF_1020_TEXT, "text/plain")]
)
def test_coingecko_cdn_block_1020_says_wait_or_check_the_network(body, ctype):
    with CoinGecko() as cg:
        cg.add(API + "/coins/categories", Reply(raw=body, status=403, content_type=ctype))
        with pytest.raises(CdnBlocked) as err:
            _client(cg, plan="demo", api_key="CG-demo-key").categories()
        assert cg.attempts("/coins/categories") == 1  # a block is not retried
    text = str(err.value)
    assert text.startswith("coingecko /coins/categories: HTTP 403 (error 1020): ")
    assert "CDN firewall refused this address" in text
    assert "wait and retry later, or check the IP, VPN or proxy" in text
    assert "CAPCOVER_COINGECKO_API_KEY" not in text and "PLAN" not in text
    assert "CG-demo-key" not in text and "\n" not in text


def test_coingecko_a_plain_403_is_still_about_the_key():
    with CoinGecko() as cg:
        body = {"status": {"error_code": 10002, "error_message": "API Key Missing"}}
        cg.add(API + "/coins/categories", Reply(body, status=403))
        with pytest.raises(AuthError) as err:
            _client(cg).categories()
    assert not isinstance(err.value, CdnBlocked)
    assert "check CAPCOVER_COINGECKO_PLAN and CAPCOVER_COINGECKO_API_KEY" in str(err.value)


def test_coingecko_demo_plan_default_rate_is_the_documented_100_per_minute():
    assert RATE_LIMITS == {"public": 10, "demo": 100, "pro": 500}
    client = CoinGeckoClient(plan="demo", api_key="CG-demo-key")
    assert client.session.pace == Pace(100)  # per sliding minute, bursts inside it
    # Paced at RATE_HEADROOM of it: 100 sends go out at once, the 101st waits for the first
    # to leave a window of 60 s / 0.95.
    pacer = Pacer(client.session.pace, clock=lambda: 0.0, sleep=lambda s: None)
    assert sum(pacer.acquire() for _ in range(100)) == 0.0
    assert pacer.next_wait() == pytest.approx(60 / RATE_HEADROOM)
