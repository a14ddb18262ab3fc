"""`runs.http_requests`, `http_retries` and `rate_limited` count every request of a run, every
source (CoinGecko, Vast.ai, RunPod, gpuhunt's bucket), as the servers saw them, and the run
summary says the same numbers (red team D16, #20)."""

from __future__ import annotations

from datetime import UTC, datetime

from capcover.config.settings import load_settings
from capcover.fakeapi import Reply
from capcover.fakeapi import gpuhunt as fake_hunt
from capcover.fakeapi.gpu import VAST_PATH
from capcover.fakeapi.server import FakeAPI
from capcover.flows.clients import Clients
from capcover.flows.sequence import run_daily
from capcover.report.summary import summary_text
from capcover.warehouse.db import open_warehouse
from tests.conftest import category_payload


def test_run_http_counts_are_every_request_of_every_source(fake_cg, fake_feeds, env, monkeypatch):
    fake_cg.serve(categories=category_payload(updated_at=datetime.now(UTC).isoformat()))
    fake_feeds.api.clear_log()
    # Vast.ai answers its first request 429 twice: two retries, two 429s, three attempts.
    busy = Reply({"error": "too many requests"}, status=429, headers={"Retry-After": "0"})
    fake_feeds.api.script("/vast" + VAST_PATH, busy, busy)
    with FakeAPI() as hunt:
        hunt.mount(fake_hunt.routes(("aws", "gcp", "oci")), "/gh")
        monkeypatch.setenv("CAPCOVER_GPUHUNT_BASE_URL", hunt.url_for("/gh"))
        monkeypatch.setenv("CAPCOVER_GPUHUNT_PROVIDERS", "aws,gcp,oci")
        monkeypatch.setenv("CAPCOVER_GPUHUNT_RATE_PER_MINUTE", "60000")
        settings = load_settings()
        result = run_daily(settings, clients=Clients(settings, sleep=lambda s: None))
        served = len(fake_cg.log) + len(fake_feeds.api.log) + len(hunt.log)
        hunt_requests = len(hunt.log)
    assert hunt_requests == 6  # each provider's version and catalog
    assert len(fake_cg.log) >= 2 and len(fake_feeds.api.log) >= 4
    assert (result.http_requests, result.http_retries, result.rate_limited) == (served, 2, 2)
    with open_warehouse(settings.db, read_only=True) as wh:
        stored = wh.query(
            "SELECT http_requests, http_retries, rate_limited FROM runs WHERE run_id = ?",
            [result.run_id],
        )
    assert stored == [(served, 2, 2)]
    assert f"{served} HTTP request(s), 2 retr(y/ies)" in summary_text(result, settings.db)
