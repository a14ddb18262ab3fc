"""A wait the server asks for is honoured in every date spelling it may use (red team H-17:
`x-ratelimit-reset` as an HTTP-date, or ISO with an offset or fractions, was ignored and the
retry came after 0.3 s): `Retry-After` and `x-ratelimit-reset` read the same dates
(`ingest/http.py` `wait_until_s`)."""

from __future__ import annotations

import email.utils
from datetime import UTC, datetime, timedelta, timezone

import requests
from hypothesis import given
from hypothesis import strategies as st

from capcover.ingest.client import HttpOptions
from capcover.ingest.coingecko import CoinGeckoClient
from capcover.ingest.http import HttpSession, RetryPolicy, wait_until_s

SPELLINGS = {
    "imf-fixdate": lambda t: email.utils.format_datetime(t.astimezone(UTC), usegmt=True),
    "rfc850": lambda t: t.astimezone(UTC).strftime("%A, %d-%b-%y %H:%M:%S GMT"),
    "asctime": lambda t: t.astimezone(UTC).strftime("%a %b %d %H:%M:%S %Y"),
    "rfc2822-offset": lambda t: email.utils.format_datetime(t),
    "iso-z": lambda t: t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    "iso-z-fraction": lambda t: t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
    "iso-offset": lambda t: t.isoformat(timespec="seconds"),
    "iso-offset-fraction": lambda t: t.isoformat(),
    "iso-naive-utc": lambda t: t.astimezone(UTC).replace(tzinfo=None).isoformat(),
    "coingecko": lambda t: t.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S +0000"),
}
WHOLE_SECOND = {"imf-fixdate", "rfc850", "asctime", "rfc2822-offset", "iso-z", "iso-offset"}
WHOLE_SECOND |= {"iso-naive-utc", "coingecko"}
OFFSETS = st.integers(-14 * 60, 14 * 60).map(lambda m: timezone(timedelta(minutes=m)))


def _response(**headers: str) -> requests.Response:
    r = requests.Response()
    r.status_code = 429
    r.headers.update(headers)
    return r


@given(
    spelling=st.sampled_from(sorted(SPELLINGS)),
    ahead=st.floats(min_value=2, max_value=3000),
    zone=OFFSETS,
    header=st.sampled_from(["Retry-After", "x-ratelimit-reset"]),
)
def test_wait_dates_every_spelling_is_honoured_by_both_headers(spelling, ahead, zone, header):
    when = datetime.now(UTC).astimezone(zone) + timedelta(seconds=ahead)
    text = SPELLINGS[spelling](when)

    wait = HttpSession.server_wait_s(_response(**{header: text}))

    slack = 1.0 if spelling in WHOLE_SECOND else 0.0  # a spelling without fractions drops them
    assert wait is not None, text
    assert ahead - slack - 1.0 <= wait <= ahead + 0.1, (text, wait)


@given(spelling=st.sampled_from(sorted(SPELLINGS)), behind=st.floats(min_value=1, max_value=1e6))
def test_wait_dates_a_date_in_the_past_is_no_wait(spelling, behind):
    text = SPELLINGS[spelling](datetime.now(UTC) - timedelta(seconds=behind))

    assert wait_until_s(text) == 0.0
    assert HttpSession.server_wait_s(_response(**{"x-ratelimit-reset": text})) == 0.0


@given(text=st.text(max_size=30).filter(lambda t: not t.strip()[:1].isdigit()))
def test_wait_dates_text_that_is_no_date_asks_no_wait(text):
    try:
        expected = wait_until_s(text.strip())
    except Exception as exc:
        raise AssertionError(f"{text!r} raised {exc!r}") from exc
    assert expected is None or expected >= 0.0


def test_wait_dates_x_ratelimit_reset_http_date_is_waited_over_http(httpserver):
    when = datetime.now(UTC) + timedelta(seconds=6)
    httpserver.expect_ordered_request("/api/v3/coins/categories").respond_with_json(
        {"status": {"error_code": 429, "error_message": "Too many"}},
        status=429,
        headers={"x-ratelimit-reset": email.utils.format_datetime(when, usegmt=True)},
    )
    httpserver.expect_ordered_request("/api/v3/coins/categories").respond_with_json([])
    sleeps: list[float] = []
    client = CoinGeckoClient(
        base_url=httpserver.url_for("/api/v3"),
        rate_per_minute=60000,
        http=HttpOptions(retry=RetryPolicy(budget_s=60), sleep=sleeps.append),
    )

    assert client.categories().record.status == 200
    assert client.session.stats.requests == 2
    assert 4.0 <= max(sleeps) <= 6.1  # the server's date, not the 0.3 s backoff
