"""Shared fixtures: the fake API (fakeapi/: CoinGecko, Vast.ai, RunPod over real HTTP on
127.0.0.1), settings pointing at it, and a real DuckDB file in a temp dir. Payload shapes come
from the reference payloads (tests/fixtures, copied from ../shared/reference, each with its
`_source`; fakeapi/fixtures holds the copies the fake reads at run time)."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest
from hypothesis import settings as hypothesis_settings

from capcover.fakeapi import FakeAPI, Reply
from capcover.fakeapi.coingecko import (  # noqa: F401 - the tests' shared shapes, imported from here
    AI,
    API,
    AS_OF,
    CoinGecko,
    category_payload,
    coin,
    market_pages,
)
from capcover.fakeapi.gpu import FakeFeeds

# Offline and quiet, whatever the developer's shell says.
os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
os.environ["DO_NOT_TRACK"] = "1"
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
os.environ["PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL"] = "CRITICAL"

# Every property test draws the same examples on every run (seeded from the test itself), so a
# suite that passed on a fresh clone passes in CI: a random draw that fails once in fifty runs
# is a flaky CI, not a finding. The classes are still explored: each test's examples are its
# own, and CAPCOVER_HYPOTHESIS_PROFILE=explore draws anew on each run when hunting for bugs.
hypothesis_settings.register_profile("capcover", derandomize=True)
hypothesis_settings.register_profile("explore", derandomize=False)
hypothesis_settings.load_profile(os.environ.get("CAPCOVER_HYPOTHESIS_PROFILE", "capcover"))

FIXTURES = Path(__file__).parent / "fixtures"
FEEDS = FIXTURES / "gpu-feeds"
# 500 for any request no route answers, like the pytest-httpserver these tests first ran on.
TEXT = "text/plain; charset=utf-8"  # what a plain-text error page is sent as
NO_ROUTE = Reply({"error": "no route in the fake API for this request"}, status=500)


def reference(name: str) -> dict:
    """A reference payload file: {'_source': ..., 'payload': ..., 'http_status'?: ...}."""
    return json.loads((FIXTURES / "coingecko" / name).read_text(encoding="utf-8"))


@pytest.fixture(autouse=True)
def _children_take_ctrl_c():
    """A child inherits an IGNORED or BLOCKED SIGINT (never a handler): in full runs the
    Ctrl-C tests' children (backfill, sql, serve) ran on through the signal although each test
    passes alone. Each test starts with Python's own handler and SIGINT unblocked, as a shell
    gives a command it starts in the foreground."""
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    # A blocked SIGINT is inherited too (the signal mask survives fork and exec).
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})


@pytest.fixture(autouse=True)
def _secrets_per_test():
    """Each test ends with the secrets registry it started with (config/secrets.py): a key one
    test registered never scrubs another test's text."""
    from capcover.config import secrets

    with secrets.isolated():
        yield


@pytest.fixture
def fake_cg():
    """An empty fake CoinGecko (fakeapi): `fake_cg.serve()` installs one day's answers."""
    with CoinGecko(unmatched=NO_ROUTE) as api:
        yield api


@pytest.fixture
def feed_api():
    """An empty fake API for one feed's tests (routes added by the test)."""
    with FakeAPI(unmatched=NO_ROUTE) as api:
        yield api


@pytest.fixture(scope="session")
def _feeds_server():
    with FakeAPI(unmatched=NO_ROUTE) as api:
        yield api


@pytest.fixture
def fake_feeds(_feeds_server):
    """Fake Vast.ai and RunPod (fakeapi.gpu), fresh offers for every test."""
    return FakeFeeds(_feeds_server)


@pytest.fixture
def env(tmp_path, monkeypatch, fake_cg, fake_feeds):
    """Settings in the environment: a temp warehouse, the fake CoinGecko and fake GPU feeds
    (so no test ever reaches the real Vast.ai or RunPod)."""
    for key in list(os.environ):
        if key.startswith("CAPCOVER_"):
            monkeypatch.delenv(key)
    values = {
        "CAPCOVER_DB": str(tmp_path / "capcover.duckdb"),
        "CAPCOVER_COINGECKO_BASE_URL": fake_cg.base_url,
        "CAPCOVER_COINGECKO_RATE_PER_MINUTE": "60000",
        "CAPCOVER_VASTAI_BASE_URL": fake_feeds.vast_base_url,
        "CAPCOVER_VASTAI_RATE_PER_MINUTE": "60000",
        "CAPCOVER_RUNPOD_BASE_URL": fake_feeds.runpod_base_url,
        "CAPCOVER_RUNPOD_RATE_PER_MINUTE": "60000",
        # No gpuhunt catalogs unless a test serves them (tests/test_quotes_gpuhunt.py).
        "CAPCOVER_GPUHUNT_PROVIDERS": "",
        "CAPCOVER_HTTP_RETRY_BUDGET_S": "5",
        "CAPCOVER_HTTP_READ_TIMEOUT_S": "5",
        "CAPCOVER_LOCK_BUDGET_S": "2",
    }
    for k, v in values.items():
        monkeypatch.setenv(k, v)
    return values


@pytest.fixture
def settings(env):
    from capcover.config.settings import load_settings

    return load_settings()


def table_snapshot(db_path: str) -> dict[str, list]:
    """Every typed table's rows and the reports, for before/after comparisons."""
    from capcover.warehouse.db import open_warehouse

    if not Path(db_path).exists():
        return {}
    out = {}
    with open_warehouse(db_path, read_only=True) as wh:
        for t in (
            "category_snapshots",
            "coin_snapshots",
            "gpu_quotes",
            "report_daily",
            "raw_http",
            "quarantine",
        ):
            out[t] = sorted(wh.query(f"SELECT * FROM {t}"), key=repr)  # noqa: S608
    return out


@pytest.fixture
def fault(env, monkeypatch):
    """A scriptable fault-injecting CoinGecko (fakeapi, reference shapes) settings point at."""
    with CoinGecko.reference() as server:
        monkeypatch.setenv("CAPCOVER_COINGECKO_BASE_URL", server.base_url)
        yield server
