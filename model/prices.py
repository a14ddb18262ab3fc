"""The price method: from the quotes valid at a report date to one price anyone can cite.

Computed here and nowhere else (SQL hands over the quotes, `latest_quotes(as_of)`, never a
median). docs/methodology.md states every rule and parameter; a change of any of them is a new
`METHOD_VERSION`, since every report row stores the id it was priced with and published rows
are never revised (rows of an older method are re-derived by that method's own code:
model/prices_v1.py for `mad3.5-median-v1`, `price_v2` here for `provider-vote-v2`).

Method `provider-vote-v3`, for one scenario's selection (SKU, kind, form factor, for a rental
the tiers of its market: model/tiers.py, for a purchase the parts' condition) at report date D:

1. Considered: each source's latest quotes of the SKU and kind at or before D.
2. Each quote is kept or excluded, by the first of these rules it fails (`Decision.rule`):
   `form_factor` (not the scenario's, unless it takes "any"), `condition` (a purchase whose
   condition is not the scenario's: new parts by default, a quote saying used, refurbished or
   second-hand being used; "any" takes both), `flag` (tier unknown: a feed flag capcover does
   not know, never guessed), `tier` (not a tier the selection prices: only plain
   on-demand rows price an on-demand scenario; a spot scenario takes spot rows, a purchase
   scenario purchase rows), `computed` (the feed computed the price from another one),
   `unavailable` (the feed says it cannot be had now), `stale` (observed before the staleness
   window of its kind: rental 7 days, purchase 1,095 days by default, or the scenario's own
   `max_age_days`: PriceBook.within), `route` (its provider votes through a preferred route:
   the provider's own feed over an aggregator's copy, e.g. RunPod's GraphQL over gpuhunt/runpod,
   whenever the own feed has fresh quotes of the SKU and kind, even if none of them stands; v2
   preferred it only when some stood), `duplicate` (another listing of the same capacity, e.g.
   a Vast.ai machine's other slices, is cheaper per GPU: each capacity once).
3. Provider value: the median (linearly interpolated) of each provider's kept prices.
4. `outlier`: a provider whose value has a modified z-score 0.6745 * |v - median| / MAD above
   3.5 among the providers' values (MAD: their median absolute deviation; 0 drops nothing) is
   left out, all its quotes with it.
5. Central value: the median of the remaining provider values; band: their 25th and 75th
   percentiles (linear interpolation); each provider one vote, however many listings it has.

Prices are USD per GPU (purchase) or per GPU-hour (rental_hourly).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from typing import Protocol

from capcover.model.tiers import tiers_of_market

METHOD_VERSION = "provider-vote-v3"
METHOD_VERSION_V2 = "provider-vote-v2"  # rows of migrations 050-055, re-derived by price_v2
MAD_Z_LIMIT = 3.5  # modified z-score above which a value is an outlier
MAD_SCALE = 0.6745  # the normal distribution's 0.75 quantile: makes MAD comparable to sigma
ANY_FORM_FACTOR = "any"  # a scenario that takes every form factor, unknown included
RULES = (
    "form_factor",
    "condition",
    "flag",
    "tier",
    "computed",
    "unavailable",
    "stale",
    "route",
    "duplicate",
    "outlier",
)


@dataclass(frozen=True)
class MaxAge:
    """The staleness window per quote kind, in days before the report date."""

    rental_days: int = 7
    purchase_days: int = 1095

    def days(self, kind: str) -> int:
        return self.rental_days if kind == "rental_hourly" else self.purchase_days

    def method_id(self, version: str = METHOD_VERSION) -> str:
        """The id stored on every priced report row: the method and its windows."""
        return f"{version}+age{self.rental_days}d/{self.purchase_days}d"


def parse_method_id(method_id: str) -> tuple[str, MaxAge] | None:
    """(version, windows) of a stored `price_method` such as 'provider-vote-v3+age7d/1095d';
    None for an id without windows ('fixed', 'median-v0')."""
    version, sep, windows = method_id.partition("+age")
    rental, slash, purchase = windows.removesuffix("d").partition("d/")
    if not sep or not slash or not rental.isdigit() or not purchase.isdigit():
        return None
    return version, MaxAge(int(rental), int(purchase))


@dataclass(frozen=True)
class QuotePoint:
    """One of a source's latest quotes for (sku, kind) at or before a report date, with what
    the price method decides on (gpu_quotes' columns of the same names)."""

    sku: str
    kind: str
    source: str  # the route it came by ("runpod", "gpuhunt/runpod")
    price_usd: float  # per GPU (purchase) or per GPU-hour (rental_hourly)
    observed_date: date
    form_factor: str | None = None  # SXM, PCIe, NVL, OAM; "unknown" (or None) when untold
    market: str | None = None  # on_demand, spot or a committed term (rentals); None: purchases
    quote_id: str = ""
    provider: str = ""  # who sells it; "" means the source
    tier: str | None = None  # model/tiers.py; None: stored before migration 050, untold
    tier_label: str | None = None
    flags: tuple[str, ...] = ()
    computed_price: bool = False
    unavailable_reason: str | None = None
    capacity_id: str | None = None
    condition: str | None = None
    instance_name: str | None = None
    gpu_count_basis: int = 1
    price_raw: float | None = None
    region: str | None = None
    form_factor_v1: str | None = None

    def __post_init__(self) -> None:
        # A point built without a tier (by hand, or by code older than the taxonomy) takes the
        # one its kind and market imply; a stored rental quote whose tier is NULL has a NULL
        # market too (migration 050), so it stays untold and prices nothing.
        if self.tier is None:
            implied = "purchase" if self.kind != "rental_hourly" else self.market
            object.__setattr__(self, "tier", implied)

    @property
    def seller(self) -> str:
        return self.provider or self.source


def is_used(condition: str | None) -> bool:
    """Whether a quote's condition says the part is not new (used, refurbished, second-hand)."""
    words = (condition or "").casefold()
    return any(w in words for w in ("used", "refurb", "second-hand", "secondhand"))


def condition_matches(condition: str | None, wanted: str) -> bool:
    """`wanted`: "new" (a quote that does not say used), "used" or "any"."""
    if wanted == "any":
        return True
    return is_used(condition) == (wanted == "used")


@dataclass(frozen=True)
class PriceEstimate:
    """The method's numbers for one selection (USD per GPU or per GPU-hour)."""

    quote_count: int  # quotes eligible before the outlier rule (one per capacity)
    kept_count: int  # quotes behind the central value
    central_usd: float
    q1_usd: float
    q3_usd: float
    min_usd: float  # of the quotes behind the central value
    max_usd: float


@dataclass(frozen=True)
class Decision:
    """What the method did with one considered quote for one report row."""

    point: QuotePoint
    kept: bool
    rule: str | None = None  # one of RULES when excluded
    reason: str | None = None  # one line a person can read
    provider_value_usd: float | None = None  # the provider's statistic, where it has one


@dataclass(frozen=True)
class PriceStat:
    """The method's price for one scenario's selection; `sources` and the quote dates are
    those of the quotes behind the central value."""

    sku: str
    kind: str
    form_factor: str  # the scenario's, or "any"
    market: str | None
    estimate: PriceEstimate
    sources: str
    newest_quote_date: date
    oldest_quote_date: date
    method: str
    provider_count: int | None = None  # providers that voted (None: a method without votes)
    providers: str | None = None  # their names, comma-separated
    decisions: tuple[Decision, ...] = field(default=(), compare=False, repr=False)
    condition: str | None = None  # purchases: new | used | any (the selection); None: rentals

    @property
    def median_usd(self) -> float:
        return self.estimate.central_usd

    @property
    def quote_count(self) -> int:
        return self.estimate.kept_count


def quantile(sorted_values: list[float], p: float) -> float:
    """The `p` quantile (0..1) of ascending `sorted_values`, linearly interpolated."""
    if not sorted_values:
        raise ValueError("no values")
    pos = p * (len(sorted_values) - 1)
    lo = math.floor(pos)
    hi = min(lo + 1, len(sorted_values) - 1)
    frac = pos - lo
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * frac


def median(values: list[float]) -> float:
    return quantile(sorted(values), 0.5)


def outlier_scores(values: list[float]) -> list[float]:
    """Each value's modified z-score 0.6745 * |x - median| / MAD (0 for all when MAD is 0)."""
    mid = median(values)
    mad = median([abs(x - mid) for x in values])
    if mad == 0:
        return [0.0 for _ in values]
    return [MAD_SCALE * abs(x - mid) / mad for x in values]


def _z_text(z: float) -> str:
    """A modified z-score above the limit, with as many decimals (1 to 6) as it takes to read
    above it: 3.5004 is "3.5004", never "3.5" (which would say 3.5 > 3.5)."""
    for digits in range(1, 7):
        text = f"{z:.{digits}f}"
        if float(text) > MAD_Z_LIMIT:
            return text
    return repr(z)


def outliers_removed(values: list[float]) -> list[float]:
    """`values` ascending, without those whose modified z-score exceeds MAD_Z_LIMIT."""
    xs = sorted(values)
    return [x for x, z in zip(xs, outlier_scores(xs), strict=True) if z <= MAD_Z_LIMIT]


def estimate(prices: list[float]) -> PriceEstimate:
    """Count, quartiles and the robust central value of `prices` (at least one), pooled:
    the statistic of method mad3.5-median-v1 (`capcover quotes list --stats` shows it too)."""
    if not prices:
        raise ValueError("no prices to estimate from")
    kept = outliers_removed(prices)
    return PriceEstimate(
        quote_count=len(prices),
        kept_count=len(kept),
        central_usd=quantile(kept, 0.5),
        q1_usd=quantile(kept, 0.25),
        q3_usd=quantile(kept, 0.75),
        min_usd=kept[0],
        max_usd=kept[-1],
    )


def fresh(observed: date, as_of: date, kind: str, max_age: MaxAge) -> bool:
    """Whether a quote observed on `observed` may price a report of `as_of`."""
    return as_of - timedelta(days=max_age.days(kind)) <= observed <= as_of


@dataclass(frozen=True)
class Selection:
    """What a scenario's price buys: SKU, kind, form factor ("any" for all), for rentals the
    market whose tiers it prices with, or one tier named outright (`tier`), and for purchases
    the parts' condition (new, used or any)."""

    sku: str
    kind: str
    form_factor: str = ANY_FORM_FACTOR
    market: str | None = None
    tier: str | None = None
    condition: str = "any"

    def tiers(self) -> tuple[str, ...]:
        if self.tier is not None:
            return (self.tier,)
        return tiers_of_market(self.market) if self.kind == "rental_hourly" else ("purchase",)

    def wants(self) -> str:
        return " or ".join(self.tiers()) or f"no tier (market {self.market!r})"


def _usd(x: float) -> str:
    return f"${x:,.4f}" if x < 100 else f"${x:,.0f}"


def _first_failure(
    p: QuotePoint, sel: Selection, as_of: date | None, max_age: MaxAge
) -> tuple[str, str] | None:
    """(rule, reason) of the first rule of step 2 before `route` that `p` fails, or None."""
    form = p.form_factor or "unknown"
    if sel.form_factor != ANY_FORM_FACTOR and form != sel.form_factor:
        return "form_factor", f"form factor {form}, the scenario prices {sel.form_factor}"
    if sel.kind == "purchase" and not condition_matches(p.condition, sel.condition):
        said = f"condition {p.condition!r}" if p.condition else "no condition said (new)"
        return "condition", f"{said}, the scenario prices {sel.condition} parts"
    if p.tier == "unknown":
        flags = " ".join(p.flags)
        why = f"unknown flag(s) {flags}" if flags else "a tier the feed's fields do not tell"
        return "flag", f"tier unknown ({why}): not guessed, never priced"
    if p.tier not in sel.tiers():
        if p.tier is None:
            return "tier", (
                "tier not known: stored before migration 050 without its flags "
                "(`capcover rebuild` re-derives it from the archived catalog)"
            )
        said = f" ({' '.join(p.flags)})" if p.flags else ""
        return "tier", f"tier {p.tier}{said}, the scenario prices {sel.wants()}"
    if p.computed_price:
        said = " ".join(p.flags) or p.tier_label or "derived"
        return "computed", f"a price the feed computed from another ({said}), not published"
    if p.unavailable_reason:
        return "unavailable", f"not available now: {p.unavailable_reason}"
    if as_of is not None and not fresh(p.observed_date, as_of, p.kind, max_age):
        days = max_age.days(p.kind)
        return "stale", f"observed {p.observed_date}, outside the {days}-day window up to {as_of}"
    return None


def _route_rank(p: QuotePoint, newest: Mapping[str, date]) -> tuple[int, int, str]:
    """Lower is preferred: the provider's own feed, then the route with the newest quotes."""
    return (0 if p.source == p.seller else 1, -newest[p.source].toordinal(), p.source)


def price_v3(
    points: Iterable[QuotePoint],
    sel: Selection,
    *,
    as_of: date | None,
    max_age: MaxAge,
) -> PriceStat | None:
    """Method provider-vote-v3 for `sel` at `as_of` (None: no staleness window); None when no
    quote is left to vote. The decisions cover every considered quote.

    Its `route` rule picks each provider's route among the routes whose quotes of the SKU and
    kind are fresh, whatever they say of the selection: a provider's own feed that is up and
    says "none in stock" or "not offered" is what the provider says, and an aggregator's copy
    (gpuhunt/runpod) does not vote in its place."""
    return _price(points, sel, as_of=as_of, max_age=max_age, version=METHOD_VERSION)


def price_v2(
    points: Iterable[QuotePoint],
    sel: Selection,
    *,
    as_of: date | None,
    max_age: MaxAge,
) -> PriceStat | None:
    """Method provider-vote-v2, frozen to re-derive the rows it published: as v3, but each
    provider's route is picked among the routes with quotes still standing after the rules
    before `route`, so a copy voted when the provider's own feed said "none in stock"."""
    return _price(points, sel, as_of=as_of, max_age=max_age, version=METHOD_VERSION_V2)


def _price(
    points: Iterable[QuotePoint],
    sel: Selection,
    *,
    as_of: date | None,
    max_age: MaxAge,
    version: str,
) -> PriceStat | None:
    considered = sorted(
        (p for p in points if p.sku == sel.sku and p.kind == sel.kind),
        key=lambda p: (p.seller, p.source, p.price_usd, p.quote_id),
    )
    verdict: dict[int, Decision] = {}
    alive: list[int] = []
    for i, p in enumerate(considered):
        failed = _first_failure(p, sel, as_of, max_age)
        if failed:
            verdict[i] = Decision(p, False, *failed)
        else:
            alive.append(i)
    # route: each provider through one route, picked among the candidates (v3: every route
    # whose quotes of the SKU and kind are fresh; v2: the routes with quotes still standing)
    if version == METHOD_VERSION_V2:
        candidates = alive
    else:
        candidates = [
            i
            for i, p in enumerate(considered)
            if as_of is None or fresh(p.observed_date, as_of, p.kind, max_age)
        ]
    newest: dict[str, date] = {}
    for i in candidates:
        p = considered[i]
        newest[p.source] = max(newest.get(p.source, p.observed_date), p.observed_date)
    chosen: dict[str, str] = {}
    for i in sorted(candidates, key=lambda i: _route_rank(considered[i], newest)):
        chosen.setdefault(considered[i].seller, considered[i].source)
    standing = {considered[i].source for i in alive}
    survivors = []
    for i in alive:
        p = considered[i]
        route = chosen[p.seller]
        if p.source != route:
            said = "" if route in standing else ", whose fresh quotes leave nothing standing"
            reason = (
                f"{p.seller} votes through {route}"
                + (" (its own feed)" if route == p.seller else "")
                + f"{said}; {p.source} is a second route to the same capacity"
            )
            verdict[i] = Decision(p, False, "route", reason)
        else:
            survivors.append(i)
    # duplicate: each capacity once, at its cheapest price per GPU
    best: dict[tuple[str, str], int] = {}
    for i in survivors:
        p = considered[i]
        if p.capacity_id is None:
            continue
        key = (p.seller, p.capacity_id)
        j = best.get(key)
        if j is None or (p.price_usd, p.quote_id) < (
            considered[j].price_usd,
            considered[j].quote_id,
        ):
            best[key] = i
    listings: dict[str, list[int]] = {}
    for i in survivors:
        p = considered[i]
        j = best.get((p.seller, p.capacity_id)) if p.capacity_id is not None else i
        if j is not None and j != i:
            q = considered[j]
            verdict[i] = Decision(
                p,
                False,
                "duplicate",
                f"capacity {p.capacity_id} already counted at {_usd(q.price_usd)} per GPU "
                f"(quote {q.quote_id[:12]})",
            )
        else:
            listings.setdefault(p.seller, []).append(i)
    if not listings:
        return None
    values = {
        prov: median([considered[i].price_usd for i in idx]) for prov, idx in listings.items()
    }
    names = sorted(values)
    scores = dict(zip(names, outlier_scores([values[n] for n in names]), strict=True))
    voters = {n: values[n] for n in names if scores[n] <= MAD_Z_LIMIT}
    for prov, idx in listings.items():
        for i in idx:
            p = considered[i]
            if prov in voters:
                verdict[i] = Decision(p, True, provider_value_usd=values[prov])
            else:
                verdict[i] = Decision(
                    p,
                    False,
                    "outlier",
                    f"provider {prov}'s value {_usd(values[prov])} is an outlier among "
                    f"{len(values)} providers (modified z {_z_text(scores[prov])} > "
                    f"{MAD_Z_LIMIT})",
                    values[prov],
                )
    return _stat(considered, verdict, sel, values, voters, max_age, version)


def _stat(
    considered: list[QuotePoint],
    verdict: dict[int, Decision],
    sel: Selection,
    values: Mapping[str, float],
    voters: Mapping[str, float],
    max_age: MaxAge,
    version: str,
) -> PriceStat:
    decisions = tuple(verdict[i] for i in range(len(considered)))
    xs = sorted(voters.values())
    kept = [d.point for d in decisions if d.kept]
    return PriceStat(
        sku=sel.sku,
        kind=sel.kind,
        form_factor=sel.form_factor,
        market=sel.market if sel.kind == "rental_hourly" else None,
        estimate=PriceEstimate(
            quote_count=sum(1 for d in decisions if d.kept or d.rule == "outlier"),
            kept_count=len(kept),
            central_usd=quantile(xs, 0.5),
            q1_usd=quantile(xs, 0.25),
            q3_usd=quantile(xs, 0.75),
            min_usd=min(p.price_usd for p in kept),
            max_usd=max(p.price_usd for p in kept),
        ),
        sources=", ".join(sorted({p.source for p in kept})),
        newest_quote_date=max(p.observed_date for p in kept),
        oldest_quote_date=min(p.observed_date for p in kept),
        method=max_age.method_id(version),
        provider_count=len(voters),
        providers=", ".join(sorted(voters)),
        decisions=decisions,
        condition=sel.condition if sel.kind == "purchase" else None,
    )


def considered_decisions(
    points: Iterable[QuotePoint], sel: Selection, *, as_of: date | None, max_age: MaxAge
) -> tuple[Decision, ...]:
    """Every considered quote's decision, also when none is left to vote (the scenario then
    has no price)."""
    stat = price_v3(points, sel, as_of=as_of, max_age=max_age)
    if stat is not None:
        return stat.decisions
    considered = sorted(
        (p for p in points if p.sku == sel.sku and p.kind == sel.kind),
        key=lambda p: (p.seller, p.source, p.price_usd, p.quote_id),
    )
    out = []
    for p in considered:
        failed = _first_failure(p, sel, as_of, max_age)
        out.append(Decision(p, False, *(failed or ("route", "no route left to vote"))))
    return tuple(out)


class Pricer(Protocol):
    """A method's price of one selection (price_v3 and price_v2 here, price_v1 in
    model/prices_v1.py)."""

    def __call__(
        self, points: Iterable[QuotePoint], sel: Selection, *, as_of: date | None, max_age: MaxAge
    ) -> PriceStat | None: ...


@dataclass(frozen=True)
class PriceBook:
    """The quote points valid at a report date (each source's latest at or before it), the
    staleness window, and the method: `get` prices one scenario's selection.

    `method`/`pricer` are the version to price with: the current one, or (for `capcover
    rebuild` and `verify`, re-deriving rows an older method published) the version those rows
    name, with its frozen code (warehouse/load.py `price_book` chooses)."""

    points: tuple[QuotePoint, ...]
    max_age: MaxAge = MaxAge()
    method: str = METHOD_VERSION
    pricer: Pricer = field(default=price_v3, compare=False)

    def get(
        self,
        sku: str,
        kind: str,
        form_factor: str = ANY_FORM_FACTOR,
        market: str | None = None,
        *,
        as_of: date | None = None,
        tier: str | None = None,
        condition: str = "any",
    ) -> PriceStat | None:
        """The method's price of the selection at `as_of` (None: no staleness window), or
        None when no quote is left to price it. `tier` names one tier outright instead of the
        market's; `condition` (new, used or any) selects purchase quotes by their condition."""
        sel = Selection(sku, kind, form_factor, market, tier, condition)
        return self.pricer(self.points, sel, as_of=as_of, max_age=self.max_age)

    def decisions(
        self,
        sku: str,
        kind: str,
        form_factor: str = ANY_FORM_FACTOR,
        market: str | None = None,
        *,
        as_of: date | None = None,
        tier: str | None = None,
        condition: str = "any",
    ) -> tuple[Decision, ...]:
        """What the method did with every quote it considered for the selection."""
        stat = self.get(sku, kind, form_factor, market, as_of=as_of, tier=tier, condition=condition)
        if stat is not None:
            return stat.decisions
        if self.method != METHOD_VERSION:
            return ()
        sel = Selection(sku, kind, form_factor, market, tier, condition)
        return considered_decisions(self.points, sel, as_of=as_of, max_age=self.max_age)

    def within(self, kind: str, days: int | None) -> PriceBook:
        """This book with a staleness window of `days` for quotes of `kind` (None: as is): a
        scenario's own window (`max_age_days`), shown in the method id it stores."""
        if days is None:
            return self
        if kind == "rental_hourly":
            return replace(self, max_age=replace(self.max_age, rental_days=days))
        return replace(self, max_age=replace(self.max_age, purchase_days=days))

    def groups(self, as_of: date | None = None) -> list[PriceStat]:
        """The method's price for every (sku, form factor, kind, market, condition) present (a
        form factor the source did not tell is its own group, "unknown"; used parts are apart
        from new ones)."""

        def key(p: QuotePoint) -> tuple[str, str, str, str, str]:
            condition = "" if p.kind != "purchase" else "used" if is_used(p.condition) else "new"
            return p.sku, p.form_factor or "unknown", p.kind, p.market or "", condition

        out = []
        for k in sorted({key(p) for p in self.points}):
            book = replace(self, points=tuple(p for p in self.points if key(p) == k))
            stat = book.get(
                k[0], k[2], ANY_FORM_FACTOR, k[3] or None, as_of=as_of, condition=k[4] or "any"
            )
            if stat is not None:
                out.append(replace(stat, form_factor=k[1]))
        return out


def price_stats(points: list[QuotePoint], *, max_age: MaxAge | None = None) -> PriceBook:
    """The current method's price book of `points` (from the warehouse's `latest_quotes`);
    `build_reports` prices each scenario with it at the report date, within `max_age` (default
    MaxAge())."""
    return PriceBook(tuple(points), max_age or MaxAge())
