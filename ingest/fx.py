"""Currency conversion for non-USD GPU quotes, from CoinGecko's `GET /exchange_rates`.

CoinGecko gives every rate against BTC: `rates[cur].value` units of `cur` per 1 BTC. So one
unit of `cur` is worth `rates["usd"].value / rates[cur].value` US dollars.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime

from ingest.errors import BadPayload
from ingest.http import RawResponse

# The fiat currencies CoinGecko's /exchange_rates lists (type "fiat"); `capcover quotes add`
# accepts these, so every accepted quote can be converted with the same source.
KNOWN_CURRENCIES = frozenset("""
    USD AED ARS AUD BDT BHD BMD BRL CAD CHF CLP CNY CZK DKK EUR GBP GEL HKD HUF IDR ILS INR JPY
    KRW KWD LKR MMK MXN MYR NGN NOK NZD PHP PKR PLN RUB SAR SEK SGD THB TRY TWD UAH VEF VND ZAR
""".split())

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
        rates = json.loads(raw.body)["rates"]
        usd = float(rates["usd"]["value"])
        out = {}
        for code, entry in rates.items():
            value = float(entry["value"])
            if value > 0:
                out[code.upper()] = usd / value
    except (ValueError, KeyError, TypeError) as exc:
        raise BadPayload(f"coingecko {ENDPOINT}: unexpected shape ({exc!r}) — the API changed; "
                         f"capcover needs an update", endpoint=ENDPOINT) from None
    if usd <= 0:
        raise BadPayload(f"coingecko {ENDPOINT}: usd rate is not positive", endpoint=ENDPOINT)
    return ExchangeRates(raw.fetched_at, out)


def rates_from_raws(raws: list[RawResponse]) -> ExchangeRates | None:
    """The last successful `/exchange_rates` response among `raws`, parsed; None if absent."""
    hits = [r for r in raws if r.source == "coingecko" and r.endpoint == ENDPOINT
            and 200 <= r.status < 300]
    return parse_exchange_rates(hits[-1]) if hits else None
