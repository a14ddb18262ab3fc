"""Why a coverage ratio moved: the exact decomposition and the sentence a person reads.

ratio = sector cap / (GPU count x unit price), so between two reports of a scenario

    ln(r_t / r_prev) = cap_effect - price_effect - count_effect

with each effect the log change of its input. The sector cap's change splits further into the
coins' contributions (USD, summing to the constituents' change) and the change of the gap
between CoinGecko's category figure and its coins. Pure: numbers in, text out.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import date

from capcover.model.text import defang, escape_controls

MINUS = "\u2212"  # the typographic minus sign, as in the example
ARROW = "\u2192"
STEADY_PCT = 0.05  # a change under 0.05 % reads as "unchanged" (rounds to 0.0 %)


@dataclass(frozen=True)
class RatioMove:
    """One row of v_ratio_moves plus what the sentence names. Amounts in USD; the unit price
    is the scenario's full cost per GPU (USD)."""

    report_date: date
    scenario: str
    previous_report_date: date
    coverage_ratio: float
    previous_ratio: float
    sector_market_cap_usd: float
    previous_sector_market_cap_usd: float
    unit_price_usd: float
    previous_unit_price_usd: float
    gpu_count: int
    previous_gpu_count: int
    gpu_sku: str
    price_kind: str | None  # purchase | rental_hourly | None for a fixed price
    # basis 'history' (a backfilled day): the cap sums TODAY's constituents (survivorship)
    basis: str = "category"
    previous_basis: str = "category"

    @property
    def log_change(self) -> float:
        return math.log(self.coverage_ratio / self.previous_ratio)

    @property
    def cap_effect(self) -> float:
        return math.log(self.sector_market_cap_usd / self.previous_sector_market_cap_usd)

    @property
    def price_effect(self) -> float:
        return math.log(self.unit_price_usd / self.previous_unit_price_usd)

    @property
    def count_effect(self) -> float:
        return math.log(self.gpu_count / self.previous_gpu_count)


def decompose(
    cap_t: float, cap_prev: float, price_t: float, price_prev: float, count_t: int, count_prev: int
) -> tuple[float, float, float, float]:
    """(log_change, cap_effect, price_effect, count_effect) of ratio = cap / (count x price);
    log_change == cap_effect - price_effect - count_effect up to rounding."""
    cap = math.log(cap_t / cap_prev)
    price = math.log(price_t / price_prev)
    count = math.log(count_t / count_prev)
    ratio_t = cap_t / (count_t * price_t)
    ratio_prev = cap_prev / (count_prev * price_prev)
    return math.log(ratio_t / ratio_prev), cap, price, count


@dataclass(frozen=True)
class CoinMove:
    """A constituent's contribution (USD) to the change of the constituents' sum."""

    coin_id: str
    symbol: str | None
    contribution_usd: float
    membership: str = "stayed"  # entered | left | stayed


@dataclass(frozen=True)
class CapSide:
    """The sector cap's change by coin: every coin's contribution, and the change of the gap
    between the category figure and the coins' sum (both USD)."""

    coins: tuple[CoinMove, ...] = ()
    gap_change_usd: float = 0.0

    @property
    def entered(self) -> int:
        return sum(c.membership == "entered" for c in self.coins)

    @property
    def left(self) -> int:
        return sum(c.membership == "left" for c in self.coins)

    def top_movers(self, direction: int, n: int = 2) -> list[CoinMove]:
        """The `n` largest contributions with the sign of `direction` (+1 up, -1 down)."""
        movers = [c for c in self.coins if c.contribution_usd * direction > 0]
        return sorted(movers, key=lambda c: -abs(c.contribution_usd))[:n]


@dataclass(frozen=True)
class PriceSide:
    """The price set's change: the old and new central value (USD per GPU, or per GPU-hour
    for rentals) and how many quotes entered and left it."""

    previous_central_usd: float | None = None
    central_usd: float | None = None
    entered: int = 0
    left: int = 0


def _pct(log_value: float) -> float:
    return (math.exp(log_value) - 1) * 100


def _verb(pct: float) -> str:
    if abs(pct) < STEADY_PCT:
        return "was unchanged"
    return f"{'rose' if pct > 0 else 'fell'} {abs(pct):.1f}%"


def _signed(pct: float) -> str:
    return ("+" if pct >= 0 else MINUS) + f"{abs(pct):.1f}%"


def _usd(value: float) -> str:
    if abs(value) >= 100:
        return f"${value:,.0f}"
    return f"${value:,.2f}"


def _coins(n: int) -> str:
    return f"{n} coin{'s' if n != 1 else ''}"


def _quotes(n: int) -> str:
    return f"{n} quote{'s' if n != 1 else ''}"


KIND_LABELS = {"purchase": "purchase", "rental_hourly": "on-demand rental"}


_PLAIN_SYMBOL = re.compile(r"[A-Za-z0-9$.+_-]{1,20}")
_PLAIN_ID = re.compile(r"[a-z0-9][a-z0-9._-]{0,99}")


def coin_label(symbol: str | None, coin_id: str) -> str:
    """How a paragraph names a coin: its ticker upper-cased (RENDER) when the symbol is a plain
    ticker, else its id (upper-cased too) when that is a plain slug, else the text itself with
    its controls escaped and URL-like text defanged. Outside text is never upper-cased raw
    (ESC[31m would become ESC[31M, another control sequence) nor left a link (red team O-06);
    Markdown bodies escape it again (model/text.py md_text)."""
    if symbol and _PLAIN_SYMBOL.fullmatch(symbol):
        return defang(symbol.upper())
    if _PLAIN_ID.fullmatch(coin_id):
        return defang(coin_id.upper())
    return defang(escape_controls(symbol or coin_id))


def paragraph(move: RatioMove, cap: CapSide, price: PriceSide) -> str:
    """One paragraph (a single line): how much the ratio moved and why, e.g. "h100-purchase
    coverage rose 19.6% since 2024-04-02 (0.968 -> 1.157): the sector cap rose 19.6%, led by
    RENDER +11.4% and TAO +2.1%; 1 coin entered the category; the H100 purchase price was
    unchanged at $30,000 (1 quote entered)." Coin shares are of the previous sector cap."""
    ratio_pct = _pct(move.log_change)
    head = (
        f"{move.scenario} coverage {_verb(ratio_pct)} since {move.previous_report_date} "
        f"({move.previous_ratio:.3f} {ARROW} {move.coverage_ratio:.3f})"
    )
    cap_pct = _pct(move.cap_effect)
    parts = [f"the sector cap{_survivors(move)} {_verb(cap_pct)}"]
    direction = 1 if cap_pct > 0 else -1
    leaders = cap.top_movers(direction) if abs(cap_pct) >= STEADY_PCT else []
    if leaders:
        base = move.previous_sector_market_cap_usd
        named = [
            f"{coin_label(c.symbol, c.coin_id)} {_signed(c.contribution_usd / base * 100)}"
            for c in leaders
        ]
        parts[0] += ", led by " + " and ".join(named)
    churn = []
    if cap.entered:
        churn.append(f"{_coins(cap.entered)} entered")
    if cap.left:
        churn.append(f"{_coins(cap.left)} left")
    if churn:
        parts.append(" and ".join(churn) + " the category")
    gap_pct = cap.gap_change_usd / move.previous_sector_market_cap_usd * 100
    if abs(gap_pct) >= STEADY_PCT:
        parts.append(f"CoinGecko's category figure moved {_signed(gap_pct)} beyond its coins")
    parts.append(_price_clause(move, price))
    if move.gpu_count != move.previous_gpu_count:
        parts.append(
            f"the GPU count changed from {move.previous_gpu_count:,} to {move.gpu_count:,}"
        )
    return f"{head}: " + "; ".join(parts) + "."


SURVIVORSHIP_NOTE = (
    "* today's constituents: a backfilled cap sums the coins in the category TODAY over a "
    "past day, so coins that left or died since are missing (a lower bound, biased toward "
    "survivors)"
)


def _survivors(move: RatioMove) -> str:
    """The marker beside the cap when either report's cap is today's constituents."""
    if move.basis == "history" and move.previous_basis == "history":
        return " (today's constituents*)"
    if move.basis == "history":
        return " (now: today's constituents*)"
    if move.previous_basis == "history":
        return f" (on {move.previous_report_date}: today's constituents*)"
    return ""


def _price_clause(move: RatioMove, price: PriceSide) -> str:
    price_pct = _pct(move.price_effect)
    if move.price_kind is None:
        if abs(price_pct) < STEADY_PCT:
            return f"the {move.gpu_sku} price is fixed at {_usd(move.unit_price_usd)}"
        return (
            f"the fixed {move.gpu_sku} price {_verb(price_pct)} "
            f"({_usd(move.previous_unit_price_usd)} {ARROW} {_usd(move.unit_price_usd)})"
        )
    what = f"the {move.gpu_sku} {KIND_LABELS.get(move.price_kind, move.price_kind)} price"
    if abs(price_pct) < STEADY_PCT:
        clause = f"{what} was unchanged"
        if price.central_usd is not None:
            clause += f" at {_usd(price.central_usd)}"
    else:
        clause = f"{what} {_verb(price_pct)}"
        if price.central_usd is not None and price.previous_central_usd is not None:
            clause += f" ({_usd(price.previous_central_usd)} {ARROW} {_usd(price.central_usd)})"
    churn = []
    if price.entered:
        churn.append(f"{_quotes(price.entered)} entered")
    if price.left:
        churn.append(f"{_quotes(price.left)} left")
    if churn:
        clause += " (" + ", ".join(churn) + ")"
    return clause
