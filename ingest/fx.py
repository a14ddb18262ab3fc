"""Currency conversion for non-USD GPU quotes, from CoinGecko's `GET /exchange_rates`.

CoinGecko gives every rate against BTC: `rates[cur].value` units of `cur` per 1 BTC. So one
unit of `cur` is worth `rates["usd"].value / rates[cur].value` US dollars.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime

from capcover.ingest.decode import loads
from capcover.ingest.errors import BadPayload
from capcover.ingest.feeds import json_problem
from capcover.ingest.models import RawResponse

# The fiat currencies CoinGecko's /exchange_rates lists (type "fiat"); `capcover quotes add`
# accepts these, so every accepted quote can be converted with the same source.
KNOWN_CURRENCIES = frozenset(
    """
    USD AED ARS AUD BDT BHD BMD BRL CAD CHF CLP CNY CZK DKK EUR GBP GEL HKD HUF IDR ILS INR JPY
    KRW KWD LKR MMK MXN MYR NGN NOK NZD PHP PKR PLN RUB SAR SEK SGD THB TRY TWD UAH VEF VND ZAR
""".split()
)

ENDPOINT = "/exchange_rates"


@dataclass(frozen=True)
class ExchangeRates:
    """USD value of one unit of each currency, as CoinGecko gave it at `fetched_at` (UTC)."""

    fetched_at: datetime
    usd_per: dict[str, float]  # upper-case code -> USD per 1 unit

    @property
    def day(self) -> date:
        return self.fetched_at.date()

    def usd_per_unit(self, currency: str) -> float:
        code = currency.upper()
        if code not in self.usd_per:
            raise ValueError(f"currency {code}: not in CoinGecko /exchange_rates of {self.day}")
        return self.usd_per[code]


def parse_exchange_rates(raw: RawResponse) -> ExchangeRates:
    """`{"rates": {"usd": {"value": 68000.0, ...}, "eur": {...}}}` -> USD per unit."""
    try:
        payload = loads(raw.body)
    except (ValueError, RecursionError) as exc:
        raise BadPayload(
            f"coingecko {ENDPOINT}: expected JSON, got {json_problem(raw.body, exc)} — retry later",
            endpoint=ENDPOINT,
        ) from None
    rates = payload.get("rates") if isinstance(payload, dict) else None
    if not isinstance(rates, dict) or not isinstance(rates.get("usd"), dict):
        raise BadPayload(
            f"coingecko {ENDPOINT}: no `rates.usd` object in the answer — the API "
            f"changed; capcover needs an update",
            endpoint=ENDPOINT,
        )
    usd = _rate(rates["usd"])
    if usd is None:
        raise BadPayload(
            f"coingecko {ENDPOINT}: usd rate is not a positive number", endpoint=ENDPOINT
        )
    out = {}
    for code, entry in rates.items():
        value = _rate(entry)
        if value is not None and usd / value > 0:
            out[code.upper()] = usd / value
    return ExchangeRates(raw.fetched_at, out)


def _rate(entry: object) -> float | None:
    """`entry["value"]` as a positive finite number (units per BTC), else None."""
    value = entry.get("value") if isinstance(entry, dict) else None
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        number = float(value)
    except OverflowError:  # an integer too large for a float
        return None
    return number if math.isfinite(number) and number > 0 else None


def rates_from_raws(raws: list[RawResponse]) -> ExchangeRates | None:
    """The last successful `/exchange_rates` response among `raws`, parsed; None if absent."""
    hits = [
        r
        for r in raws
        if r.source == "coingecko" and r.endpoint == ENDPOINT and 200 <= r.status < 300
    ]
    return parse_exchange_rates(hits[-1]) if hits else None
