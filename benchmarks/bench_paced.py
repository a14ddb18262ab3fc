"""Part 7 — the paced daily run: every source at capcover's BUILT-IN limits (no rate setting
lifted), each on a host of its own that ENFORCES the quota its API documents and answers 429
beyond it, against the floor: the slowest single source fetched alone at its own pacing.

The hosts (all on 127.0.0.1, each its own port, so each is its own host to capcover):
- CoinGecko (public plan): at most 10 calls in any 60 s window, 429 + Retry-After beyond
  (capcover's public-plan quota; the docs give keyless use "about 5 to 15" a minute);
- Vast.ai: a minimum interval between calls (its documented mechanism); the interval is not
  published, so the fake enforces capcover's own 2 s (30 a minute): a client that sends
  faster draws 429s;
- RunPod: no documented limit, none enforced;
- the gpuhunt bucket (S3): 5,500 GET/s per prefix, S3's documented floor.
Between runs every host's window is emptied: daily runs are a day apart.

The floor is measured side by side with the run: each source's fetch on its own (its own
client, its own pacing), the slowest of them. The run adds to it what runs after the fetch
(load, model, report, publish), in-process."""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.common import GPUHUNT_PREFIX, Figure, Samples, figure_from
from capcover.fakeapi.coingecko import API, CoinGecko
from capcover.fakeapi.server import FakeAPI, RateLimit

COINGECKO_PER_MINUTE = 10  # the public plan's built-in quota (ingest/coingecko.py RATE_LIMITS)
VAST_INTERVAL_S = 2.0  # ingest/vastai.py PACE: 30 a minute, evenly spread
S3_PER_SECOND = 5500


class Hosts:
    """The four fake hosts, each enforcing its quota."""

    def __init__(self, coins: int = 260) -> None:
        from capcover.fakeapi import gpuhunt
        from capcover.fakeapi.faults import Reply
        from capcover.fakeapi.gpu import install_simple_feeds

        self.coingecko = CoinGecko.generated({"artificial-intelligence": coins})
        self.coingecko.rate_limit = RateLimit(
            COINGECKO_PER_MINUTE / 60, window_s=60.0, jitter_s=0.0, prefix=API
        )
        # One call per interval: a window of one interval admitting one call.
        self.vast = FakeAPI(rate_limit=RateLimit(1 / VAST_INTERVAL_S, window_s=VAST_INTERVAL_S))
        self.runpod = FakeAPI()
        self.gpuhunt = FakeAPI(rate_limit=RateLimit(S3_PER_SECOND))
        install_simple_feeds(self.vast)
        install_simple_feeds(self.runpod)
        for path, (status, headers, body) in gpuhunt.routes().items():
            self.gpuhunt.add(
                GPUHUNT_PREFIX + path,
                Reply(raw=body, status=status, content_type=headers["Content-Type"]),
            )
        self.providers = list(gpuhunt.CATALOGS)

    @property
    def all(self) -> list[FakeAPI]:
        return [self.coingecko, self.vast, self.runpod, self.gpuhunt]

    def __enter__(self) -> Hosts:
        for h in self.all:
            h.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        for h in self.all:
            h.__exit__(*exc)

    def quiet(self) -> None:
        """A day later: every window empty, every count zero."""
        for h in self.all:
            h.clear_log()

    def rejected(self) -> int:
        return sum(sum(h.rejected.values()) for h in self.all)

    def settings(self, db: Path) -> Any:
        """Settings at the built-in limits: only where each source lives is set."""
        from capcover.config.settings import load_settings

        return load_settings(
            environ=False,
            db=db,
            publish_dir=db.with_name(f"{db.stem}-published"),
            coingecko_base_url=self.coingecko.base_url,
            coingecko_plan="public",
            vastai_base_url=self.vast.url,
            runpod_base_url=self.runpod.url,
            gpuhunt_base_url=self.gpuhunt.url + GPUHUNT_PREFIX,
            gpuhunt_providers=self.providers,
            categories=["artificial-intelligence"],
            http_retry_budget_s=120,
            lock_budget_s=10,
        )


def source_floor(settings: Any) -> dict[str, float]:
    """Each source's fetch on its own, at its own pacing: seconds by source."""
    from capcover.flows.clients import Clients
    from capcover.ingest.quotes import collect

    clients = Clients(settings, announce=None)
    took: dict[str, float] = {}
    t0 = time.perf_counter()
    clients.coingecko().fetch_sector(settings.categories)
    took["coingecko"] = time.perf_counter() - t0
    for provider in Clients(settings, announce=None).quote_providers():
        t0 = time.perf_counter()
        batch = collect(provider)
        took[provider.source] = time.perf_counter() - t0
        assert batch.error is None, batch.error
    return took


def paced_run(settings: Any) -> float:
    from capcover.flows.clients import Clients
    from capcover.flows.sequence import run_daily

    t0 = time.perf_counter()
    result = run_daily(settings, clients=Clients(settings, announce=None))
    took = time.perf_counter() - t0
    assert not result.sources_failed, result.feed_errors
    return took


def run(repeat: int = 3, coins: int = 260) -> list[Figure]:
    runs, floors, slowest, sums, rejected, run_429 = [], [], [], [], [], []
    with tempfile.TemporaryDirectory(prefix="capcover-bench-paced-") as tmp, Hosts(coins) as hosts:
        settings = hosts.settings(Path(tmp) / "paced.duckdb")
        paced_run(settings)  # creates the warehouse and archives the gpuhunt catalogs
        for _ in range(max(1, repeat)):
            hosts.quiet()
            floor = source_floor(settings)
            floors.append(max(floor.values()))
            slowest.append(max(floor, key=floor.__getitem__))
            sums.append(sum(floor.values()))
            rejected.append(hosts.rejected())
            hosts.quiet()
            runs.append(paced_run(settings))
            run_429.append(hosts.rejected())
    extra = {
        "coins": coins,
        "quotas": {
            "coingecko": f"{COINGECKO_PER_MINUTE} calls per 60 s window",
            "vastai": f"one call per {VAST_INTERVAL_S:g} s",
            "runpod": "none",
            "gpuhunt": f"{S3_PER_SECOND} per second",
        },
        "slowest_source": slowest,
        "sum_of_sources_s": [round(x, 3) for x in sums],
        "floor_429s": rejected,
        "run_429s": run_429,
    }
    note = (
        f"built-in limits; fakes enforce the documented quotas; slowest source: "
        f"{statistics.mode(slowest)}; sum of the sources alone (one after another) "
        f"{statistics.median(sums):.1f} s"
    )
    return [
        figure_from(
            "paced",
            "daily run at the built-in limits vs the slowest source alone (its floor)",
            Samples(tuple(runs)),
            "s",
            "the slowest single source's fetch at its own pacing",
            Samples(tuple(floors)),
            note=f"target <= 1.5; {note}",
            extra=extra,
        ),
        Figure(
            "paced",
            "429s per paced daily run (target 0)",
            statistics.median(run_429),
            "429s",
            "429s of the sources fetched alone",
            statistics.median(rejected),
            note=f"per run {run_429}, alone {rejected}",
            value_min=min(run_429),
            baseline_min=min(rejected),
            repeat=len(run_429),
            extra=extra,
        ),
    ]
