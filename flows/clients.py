"""The one place clients are built from settings (the wiring): CoinGecko, Vast.ai, RunPod,
gpuhunt, the curated files.

`Clients(settings)` is what a run is handed (as Dagster hands resources): tests and the demo
point the same clients at local servers through the base URLs in the settings, and inject
`sleep` (to record retry waits instead of sleeping), `clock` (a UTC wall clock: fetch times
and retry budgets run on it), `now` (a replay's clock: feeds without timestamps of their own
stamp their quotes with the replayed day) and `announce` (where a wait longer than 2 s is
told; default: one line on a terminal's stderr). Nothing is monkeypatched. Every client a
`Clients` makes shares its `network`: one pacer per source, one breaker per host.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any, cast

from capcover.config.settings import Settings
from capcover.ingest import CURATED_QUOTES_PATH
from capcover.ingest.client import HttpOptions
from capcover.ingest.coingecko import CoinGeckoClient
from capcover.ingest.http import RetryPolicy
from capcover.ingest.models import RawResponse
from capcover.ingest.network import Network, announce_on_terminal
from capcover.ingest.quotes import CuratedQuotes, QuoteProvider

log = logging.getLogger("capcover")

Sleep = Callable[[float], None]
Clock = Callable[[], datetime]


def http_options(
    settings: Settings,
    *,
    sleep: Sleep | None = None,
    clock: Clock | None = None,
    network: Network | None = None,
) -> dict[str, Any]:
    """The keyword arguments every client takes from the settings: its HTTP options and the
    clock skew its parsers tolerate."""
    return dict(
        http=HttpOptions(
            connect_timeout_s=settings.http_connect_timeout_s,
            read_timeout_s=settings.http_read_timeout_s,
            deadline_s=settings.http_deadline_s,
            max_body_bytes=int(settings.http_max_body_mb * 1024 * 1024),
            retry=RetryPolicy(budget_s=settings.http_retry_budget_s),
            sleep=sleep,
            clock=clock,
            network=network,
        ),
        max_skew_s=settings.max_clock_skew_s,
    )


def coingecko_client(
    settings: Settings,
    *,
    sleep: Sleep | None = None,
    clock: Clock | None = None,
    network: Network | None = None,
    spread: bool = False,
) -> CoinGeckoClient:
    """The CoinGecko client the settings describe (`spread`: calls evenly spaced, for the
    backfill's long stream, instead of bursts inside the plan's minute)."""
    key = settings.coingecko_api_key.get_secret_value() if settings.coingecko_api_key else None
    return CoinGeckoClient(
        plan=settings.coingecko_plan,
        api_key=key,
        base_url=settings.coingecko_base_url,
        rate_per_minute=settings.coingecko_rate_per_minute,
        spread=spread,
        **http_options(settings, sleep=sleep, clock=clock, network=network),
    )


def user_quotes_path(settings: Settings) -> Path:
    """The user's own quotes file, which `capcover quotes add` writes: CAPCOVER_QUOTES_FILE,
    else `<warehouse name>-quotes.toml` beside the warehouse (data/capcover-quotes.toml), so
    the demo's warehouse never reads the user's quotes. Read with the shipped curated file."""
    if settings.quotes_file is not None:
        return settings.quotes_file
    return settings.db.with_name(f"{settings.db.stem}-quotes.toml")


def curated_quotes_path(settings: Settings) -> Path:
    """The shipped curated quotes file (git-tracked; never written by capcover)."""
    return CURATED_QUOTES_PATH


def held_catalogs(settings: Settings) -> dict[str, RawResponse]:
    """gpuhunt provider -> the newest catalog the warehouse archived (a record whose `same_as`
    names the row holding it), so a run fetches only catalogs whose version changed. Empty
    when the warehouse does not exist yet or cannot be read now (then everything is fetched:
    slower, never wrong)."""
    if not Path(settings.db).exists():
        return {}
    from capcover.ingest.gpuhunt import SOURCE
    from capcover.warehouse.db import WarehouseError, open_warehouse
    from capcover.warehouse.raw import held_catalogs as held

    try:
        with open_warehouse(settings.db, read_only=True, lock_budget_s=0) as wh:
            return held(wh, SOURCE)
    except WarehouseError as exc:
        log.info("gpuhunt: archived catalogs not read (%s); fetching every catalog", exc)
        return {}


def quote_providers(
    settings: Settings,
    *,
    sleep: Sleep | None = None,
    clock: Clock | None = None,
    now: Callable[[], datetime] | None = None,
    network: Network | None = None,
    held: Callable[[], dict[str, RawResponse]] | dict[str, RawResponse] | None = None,
) -> list[QuoteProvider]:
    """Every GPU quote source, each from its settings: the curated files, Vast.ai, RunPod and
    the gpuhunt catalogs (none when CAPCOVER_GPUHUNT_PROVIDERS is empty). `held`: the gpuhunt
    catalogs the archive holds, or how to read them when the fetch starts (default: none, so
    every catalog is fetched)."""
    from capcover.ingest.gpuhunt import GpuhuntClient
    from capcover.ingest.runpod import RunPodClient
    from capcover.ingest.vastai import VastAiClient

    options = http_options(settings, sleep=sleep, clock=clock, network=network)

    def rates() -> RawResponse:
        # CoinGecko's /exchange_rates only when a curated quote is not in USD (and has no
        # rate), paced with the run's other CoinGecko calls.
        client = coingecko_client(settings, sleep=sleep, clock=clock, network=network)
        return client.exchange_rates().record

    providers: list[QuoteProvider] = [
        CuratedQuotes(
            user_quotes_path(settings), rates_fetcher=rates, max_skew_s=settings.max_clock_skew_s
        ),
        VastAiClient(
            base_url=settings.vastai_base_url,
            gpu_names=settings.vastai_gpu_names,
            rate_per_minute=settings.vastai_rate_per_minute,
            now=now,
            **options,
        ),
        RunPodClient(
            base_url=settings.runpod_base_url,
            rate_per_minute=settings.runpod_rate_per_minute,
            now=now,
            **options,
        ),
    ]
    if settings.gpuhunt_providers:
        providers.append(
            GpuhuntClient(
                base_url=settings.gpuhunt_base_url,
                providers=settings.gpuhunt_providers,
                rate_per_minute=settings.gpuhunt_rate_per_minute,
                now=now,
                known=held,
                **options,
            )
        )
    return providers


@dataclass(frozen=True)
class Clients:
    """Every client a run needs, built from `settings` on demand (each call a fresh client
    with its own session and counters; all of them share `network`)."""

    settings: Settings
    sleep: Sleep | None = None  # None: time.sleep
    clock: Clock | None = None  # None: the real UTC clock (and time.monotonic for budgets)
    now: Callable[[], datetime] | None = None  # None: the wall clock; a replay passes its own
    announce: Callable[[str], None] | None = announce_on_terminal
    network: Network = field(default=None)  # type: ignore[assignment]  # set below

    def __post_init__(self) -> None:
        if cast("Network | None", self.network) is None:
            object.__setattr__(self, "network", Network(announce=self.announce))

    def coingecko(self, *, spread: bool = False) -> CoinGeckoClient:
        return coingecko_client(
            self.settings, sleep=self.sleep, clock=self.clock, network=self.network, spread=spread
        )

    def quote_providers(self) -> list[QuoteProvider]:
        return quote_providers(
            self.settings,
            sleep=self.sleep,
            clock=self.clock,
            now=self.now,
            network=self.network,
            held=partial(held_catalogs, self.settings),
        )
