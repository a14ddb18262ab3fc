"""Non-USD quotes: CoinGecko /exchange_rates (rates vs BTC) of the same day, rate stored."""

import json
from datetime import UTC, datetime

import pytest

from capcover.flows.clients import Clients
from capcover.flows.sequence import Fetch, run_daily
from capcover.ingest.fx import parse_exchange_rates
from capcover.ingest.http import RawResponse
from capcover.warehouse.db import open_warehouse
from tests.conftest import category_payload

# CoinGecko's /exchange_rates shape (docs example), values: units per 1 BTC.
RATES = {
    "rates": {
        "btc": {"name": "Bitcoin", "unit": "BTC", "value": 1.0, "type": "crypto"},
        "usd": {"name": "US Dollar", "unit": "$", "value": 68000.0, "type": "fiat"},
        "eur": {"name": "Euro", "unit": "€", "value": 62000.0, "type": "fiat"},
        "jpy": {"name": "Japanese Yen", "unit": "¥", "value": 10_200_000.0, "type": "fiat"},
    }
}


def raw_rates(body, when=None) -> RawResponse:
    return RawResponse(
        source="coingecko",
        endpoint="/exchange_rates",
        method="GET",
        url="http://127.0.0.1/api/v3/exchange_rates",
        params={},
        request_body=None,
        status=200,
        body=json.dumps(body),
        fetched_at=when or datetime.now(UTC),
        elapsed_ms=1.0,
        attempt=1,
    )


def test_fx_usd_per_unit_is_usd_over_currency_against_btc():
    rates = parse_exchange_rates(raw_rates(RATES))
    assert rates.usd_per_unit("EUR") == pytest.approx(68000 / 62000)
    assert rates.usd_per_unit("jpy") == pytest.approx(68000 / 10_200_000)
    assert rates.usd_per_unit("USD") == 1.0
    with pytest.raises(ValueError, match="XYZ"):
        rates.usd_per_unit("XYZ")


def write_quotes(path, entries: str, version: int = 7) -> None:
    path.write_text(f"version = {version}\n" + entries, encoding="utf-8")


def eur_entry(day: str, extra: str = "") -> str:
    return (
        f'[[quote]]\nobserved = {day}\nsource = "Euro dealer"\nkind = "purchase"\n'
        f'sku_label = "NVIDIA H100 SXM5"\nsku = "H100"\nprice = 27000\ncurrency = "EUR"\n'
        f"{extra}"
    )


@pytest.fixture
def quotes_file(tmp_path, monkeypatch):
    path = tmp_path / "quotes.toml"
    monkeypatch.setenv("CAPCOVER_QUOTES_FILE", str(path))
    return path


def curated(settings):
    return next(b for b in Fetch(Clients(settings)).quotes() if b.source == "curated")


def test_fx_eur_quote_of_today_is_converted_with_todays_rates(fake_cg, env, quotes_file):
    from capcover.config.settings import load_settings

    fake_cg.add("/api/v3/exchange_rates", RATES)
    write_quotes(quotes_file, eur_entry(datetime.now(UTC).date().isoformat()))
    batch = curated(load_settings())
    (q,) = [x for x in batch.quotes if x.source == "Euro dealer"]  # beside the shipped ones
    assert q.currency == "EUR" and q.price_raw == 27000
    assert q.usd_per_unit == pytest.approx(68000 / 62000)
    assert q.price_usd == pytest.approx(27000 * 68000 / 62000)
    assert any(r.endpoint == "/exchange_rates" for r in batch.raws)  # archived for replay


def test_fx_past_eur_quote_without_rate_is_quarantined_with_the_fix(fake_cg, env, quotes_file):
    from capcover.config.settings import load_settings

    fake_cg.add("/api/v3/exchange_rates", RATES)
    write_quotes(
        quotes_file,
        eur_entry("2024-03-01") + "\n" + eur_entry("2024-03-02", "usd_per_unit = 1.09\n"),
    )
    batch = curated(load_settings())
    mine = [q for q in batch.quotes if q.source == "Euro dealer"]
    assert [q.observed_date.isoformat() for q in mine] == ["2024-03-02"]
    assert mine[0].price_usd == pytest.approx(27000 * 1.09)
    (bad,) = batch.quarantined
    assert "add usd_per_unit" in bad.reason and "2024-03-01" in bad.reason


def test_fx_rates_are_fetched_only_when_a_non_usd_quote_needs_them(fake_cg, settings):
    Fetch(Clients(settings)).quotes()  # the shipped file is all USD
    assert not [r for r in fake_cg.log if r.path.endswith("/exchange_rates")]


def test_fx_daily_run_stores_the_rate_on_the_quote(fake_cg, env, quotes_file):
    from capcover.config.settings import load_settings

    today = datetime.now(UTC)
    fake_cg.serve(categories=category_payload(updated_at=today.isoformat()))
    fake_cg.add("/api/v3/exchange_rates", RATES)
    write_quotes(quotes_file, eur_entry(today.date().isoformat()))
    settings = load_settings()
    run_daily(settings)
    with open_warehouse(settings.db, read_only=True) as wh:
        cur, rate, usd = wh.query(
            "SELECT currency, usd_per_unit, price_usd FROM gpu_quotes WHERE source = 'Euro dealer'"
        )[0]
    assert cur == "EUR" and rate == pytest.approx(68000 / 62000)
    assert usd == pytest.approx(27000 * rate)
