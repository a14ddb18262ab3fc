"""The one place clients are built from settings: CoinGecko, Vast.ai, RunPod, gpuhunt, the
curated files.

`Clients(settings)` is what a run is handed (as Dagster hands resources): tests and the demo
point the same clients at local servers through the base URLs in the settings, and inject
`sleep` (to record retry waits instead of sleeping), `clock` (a UTC wall clock: fetch times
and retry budgets run on it) and `now` (a replay's clock: feeds without timestamps of their own
stamp their quotes with the replayed day). Nothing is monkeypatched.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from capcover.config.settings import Settings
from capcover.ingest import CURATED_QUOTES_PATH
from capcover.ingest.client import HttpOptions
from capcover.ingest.coingecko import CoinGeckoClient
from capcover.ingest.http import RetryPolicy
from capcover.ingest.quotes import CuratedQuotes, QuoteProvider

Sleep = Callable[[float], None]
Clock = Callable[[], datetime]


def http_options(
    settings: Settings, *, sleep: Sleep | None = None, clock: Clock | None = None
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
        ),
        max_skew_s=settings.max_clock_skew_s,
    )


def coingecko_client(
    settings: Settings, *, sleep: Sleep | None = None, clock: Clock | None = None
) -> CoinGeckoClient:
    """The CoinGecko client the settings describe."""
    key = settings.coingecko_api_key.get_secret_value() if settings.coingecko_api_key else None
    return CoinGeckoClient(
        plan=settings.coingecko_plan,
        api_key=key,
        base_url=settings.coingecko_base_url,
        rate_per_minute=settings.coingecko_rate_per_minute,
        **http_options(settings, sleep=sleep, clock=clock),
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


def quote_providers(
    settings: Settings,
    *,
    sleep: Sleep | None = None,
    clock: Clock | None = None,
    now: Callable[[], datetime] | None = None,
) -> list[QuoteProvider]:
    """Every GPU quote source, each from its settings: the curated files, Vast.ai, RunPod and
    the gpuhunt catalogs (none when CAPCOVER_GPUHUNT_PROVIDERS is empty)."""
    from capcover.ingest.gpuhunt import GpuhuntClient
    from capcover.ingest.runpod import RunPodClient
    from capcover.ingest.vastai import VastAiClient

    options = http_options(settings, sleep=sleep, clock=clock)
    # CoinGecko's /exchange_rates only when a curated quote is not in USD (and has no rate).
    rates = lambda: coingecko_client(  # noqa: E731
        settings, sleep=sleep, clock=clock
    ).exchange_rates()
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
                **options,
            )
        )
    return providers


@dataclass(frozen=True)
class Clients:
    """Every client a run needs, built from `settings` on demand (each call a fresh client
    with its own session, counters and archive)."""

    settings: Settings
    sleep: Sleep | None = None  # None: time.sleep
    clock: Clock | None = None  # None: the real UTC clock (and time.monotonic for budgets)
    now: Callable[[], datetime] | None = None  # None: the wall clock; a replay passes its own

    def coingecko(self) -> CoinGeckoClient:
        return coingecko_client(self.settings, sleep=self.sleep, clock=self.clock)

    def quote_providers(self) -> list[QuoteProvider]:
        return quote_providers(self.settings, sleep=self.sleep, clock=self.clock, now=self.now)


def quote_parsers(settings: Settings) -> dict:
    """`source -> parse(raws)` for every quote provider a live run uses (one registry), so
    `capcover rebuild` parses archived responses with the very functions a live run used.
    gpuhunt is always registered, so runs that fetched it replay whatever the settings say."""
    from functools import partial

    from capcover.ingest.gpuhunt import SOURCE as GPUHUNT
    from capcover.ingest.gpuhunt import parse_raws as parse_gpuhunt

    # The archived catalogs are decoded within the body cap, as when they were fetched.
    cap = int(settings.http_max_body_mb * 1024 * 1024)
    gpuhunt = partial(parse_gpuhunt, max_bytes=cap)
    return {**{p.source: p.parse for p in quote_providers(settings)}, GPUHUNT: gpuhunt}
