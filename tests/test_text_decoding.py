"""Two readability fixes from the red team's notes: a body's text is UTF-8 unless its
Content-Type declares another charset (a gpuhunt version shown as Latin-1 mojibake), and the
sector band's refusal prints enough digits to show the difference (`$1e+14 is outside
...$1e+14`)."""

from __future__ import annotations

import json
import math

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from werkzeug import Response

from capcover.ingest.client import HttpOptions
from capcover.ingest.coingecko import CoinGeckoClient
from capcover.ingest.http import RetryPolicy
from capcover.model.plausibility import check_sector_cap, distinct_digits

TEXTS = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=20)


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    name=TEXTS,
    content_type=st.sampled_from(
        ["text/plain", "text/html", "application/json", "application/octet-stream", ""]
    ),
)
def test_text_decoding_bodies_are_utf8_unless_declared(httpserver, name, content_type):
    raw = json.dumps([{"id": "x", "name": name}], ensure_ascii=False)  # the characters raw
    httpserver.clear()  # one answer per example (cleared by hand: the fixture is the test's)
    httpserver.expect_request("/api/v3/coins/categories").respond_with_response(
        Response(
            raw.encode("utf-8"),
            status=200,
            headers={"Content-Type": content_type} if content_type else {},
        )
    )
    client = CoinGeckoClient(
        base_url=httpserver.url_for("/api/v3"),
        rate_per_minute=60000,
        http=HttpOptions(retry=RetryPolicy(budget_s=5)),
    )

    record = client.categories().record

    assert record.body == raw


def test_text_decoding_a_declared_charset_is_honoured(httpserver):
    httpserver.expect_request("/api/v3/coins/categories").respond_with_response(
        Response(
            '["café"]'.encode("latin-1"), headers={"Content-Type": "text/plain; charset=ISO-8859-1"}
        )
    )
    client = CoinGeckoClient(base_url=httpserver.url_for("/api/v3"), rate_per_minute=60000)

    assert client.categories().record.body == '["café"]'


BAND = st.floats(min_value=1, max_value=1e18)


@given(low=BAND, high=BAND, cap=st.floats(allow_nan=False, allow_infinity=False))
def test_text_decoding_the_band_refusal_tells_the_cap_from_the_band(low, high, cap):
    low, high = min(low, high), max(low, high)
    why = check_sector_cap(cap, low_usd=low, high_usd=high)
    if low <= cap <= high:
        assert why is None
        return
    digits = distinct_digits(cap, low, high)
    shown = f"${cap:.{digits}g}"
    assert why is not None and why.startswith(f"sector market cap {shown} is outside")
    for bound in (low, high):
        if bound != cap:
            assert f"{bound:.{digits}g}" != f"{cap:.{digits}g}"
    assert math.isfinite(cap)
