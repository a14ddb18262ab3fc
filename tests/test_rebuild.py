"""`capcover rebuild` re-derives every typed table and report from the raw archive, exactly."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from capcover.cli.main import main
from capcover.config.settings import load_settings
from capcover.fakeapi import Reply
from capcover.fakeapi.coingecko import CoinGecko
from capcover.flows.rebuild import RebuildError, rebuild, split_batches
from capcover.flows.sequence import run_daily
from capcover.ingest.http import RawResponse
from capcover.warehouse.db import open_warehouse
from tests.conftest import category_payload, reference, table_snapshot
from tests.helpers import PLAIN_PATH, commands_in_fresh_process, python

ROOT = Path(__file__).resolve().parent.parent
DERIVED = ("category_snapshots", "coin_snapshots", "gpu_quotes", "quarantine", "report_daily")


def _two_days(fault: CoinGecko) -> None:
    """Day 1 with a 429 retried and a quarantined coin; day 2 with a different cap."""
    fault.categories = category_payload(cap=24e9, updated_at="2024-04-02T06:00:00Z")
    pages = copy.deepcopy(fault.pages)
    pages[0][4]["market_cap"] = -1.0  # quarantined
    fault.pages = pages
    fault.script(
        "/coins/categories",
        Reply(reference("error_429_rate_limit.json")["payload"], 429, {"Retry-After": "0"}),
    )
    run_daily(load_settings())
    fault.categories = category_payload(cap=31e9, updated_at="2024-04-03T06:40:12Z")
    run_daily(load_settings())


def _derived(db) -> dict[str, list]:
    snap = table_snapshot(str(db))
    return {t: snap[t] for t in DERIVED}


def test_rebuild_reproduces_every_row_exactly(fault, settings):
    _two_days(fault)
    before = _derived(settings.db)
    assert len(before["report_daily"]) > 0 and len(before["quarantine"]) >= 1
    with open_warehouse(settings.db) as wh:  # damage the derived tables
        for t in DERIVED:
            wh.query(f"DELETE FROM {t}")  # noqa: S608
    fault.clear_log()

    result = rebuild(load_settings())

    assert fault.log == []  # no network
    assert len(result.runs) == 2
    assert _derived(settings.db) == before
    with open_warehouse(settings.db, read_only=True) as wh:
        ids = {r[0] for r in wh.query("SELECT DISTINCT run_id FROM report_daily")}
        kinds = [r[0] for r in wh.query("SELECT kind FROM runs ORDER BY started_at")]
    assert ids == set(result.runs)  # original run ids kept
    assert kinds == ["daily", "daily", "rebuild"]


def test_rebuild_is_idempotent_and_keeps_raw_archive(fault, settings):
    _two_days(fault)
    before = table_snapshot(str(settings.db))
    rebuild(load_settings())
    rebuild(load_settings())
    assert table_snapshot(str(settings.db)) == before  # raw_http included


def test_rebuild_cli_runs_offline_without_prefect(fault, env, settings):
    _two_days(fault)
    before = _derived(settings.db)
    fault.close()  # nothing to talk to: a rebuild that tried the network would fail
    seen = commands_in_fresh_process(
        ["rebuild"],
        env={
            **env,
            "PATH": PLAIN_PATH,
            "CAPCOVER_COINGECKO_BASE_URL": fault.base_url,
            "CAPCOVER_HTTP_RETRY_BUDGET_S": "0",
        },
    )
    assert seen.codes == [0], seen.stderr
    assert "replayed 2 run(s)" in seen.stdout and seen.loaded("prefect") == []
    assert _derived(settings.db) == before


def test_rebuild_refuses_unknown_run_kinds_and_changes_nothing(fault, settings, capsys):
    _two_days(fault)
    with open_warehouse(settings.db) as wh:
        wh.query("UPDATE runs SET kind = 'mystery' WHERE run_id = (SELECT min(run_id) FROM runs)")
    before = table_snapshot(str(settings.db))
    with pytest.raises(RebuildError, match="kind mystery cannot be replayed"):
        rebuild(load_settings())
    assert main(["rebuild"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("capcover: error: rebuild failed:") and err.count("\n") == 1
    assert table_snapshot(str(settings.db)) == before


def test_rebuild_a_run_that_no_longer_parses_rolls_back_everything(fault, settings):
    _two_days(fault)
    before = table_snapshot(str(settings.db))
    with open_warehouse(settings.db) as wh:
        wh.query(
            "UPDATE raw_http_daily SET body = '<html>' WHERE endpoint = '/coins/categories' "
            "AND status = 200 AND run_id = (SELECT max(run_id) FROM raw_http)"
        )
        wh.query("DELETE FROM report_daily")
    damaged = table_snapshot(str(settings.db))
    with pytest.raises(RebuildError, match="does not replay: coingecko /coins/categories"):
        rebuild(load_settings())
    assert table_snapshot(str(settings.db)) == damaged != before


def _raw(source: str, endpoint: str) -> RawResponse:
    from datetime import UTC, datetime

    return RawResponse(
        source=source,
        endpoint=endpoint,
        method="GET",
        url="u",
        params={},
        request_body=None,
        status=200,
        body="[]",
        fetched_at=datetime.now(UTC),
        elapsed_ms=0,
        attempt=1,
    )


def test_rebuild_split_batches_keeps_helper_responses_with_their_provider():
    raws = [
        _raw("coingecko", "/coins/categories"),
        _raw("coingecko", "/coins/markets"),
        _raw("curated", "quotes.toml"),
        _raw("coingecko", "/exchange_rates"),
        _raw("vastai", "/bundles/"),
        _raw("vastai", "/bundles/"),
        _raw("runpod", "/graphql"),
    ]
    market, batches = split_batches(raws, {"curated", "vastai", "runpod"})
    assert [r.endpoint for r in market] == ["/coins/categories", "/coins/markets"]
    assert [(s, [r.endpoint for r in b]) for s, b in batches] == [
        ("curated", ["quotes.toml", "/exchange_rates"]),
        ("vastai", ["/bundles/", "/bundles/"]),
        ("runpod", ["/graphql"]),
    ]


def test_rebuild_a_feed_that_failed_live_loads_none_of_its_quotes():
    from capcover.flows.rebuild import replay_batch

    def parse(raws):  # the archived pages parse fine now...
        from capcover.ingest.models import Quote

        return [
            Quote(
                observed_at="2024-04-03T00:00:00Z",
                source="vastai",
                kind="rental_hourly",
                sku_label="H100 SXM",
                sku="H100",
                price_raw=2.0,
                price_unit="USD/hour",
                price_usd=2.0,
                tier="on_demand",
            )
        ], []

    raws = [_raw("vastai", "/bundles/")]
    assert replay_batch("vastai", parse, raws).quotes
    failed = replay_batch("vastai", parse, raws, failed_live=True)  # ...but page 2 timed out
    assert failed.quotes == [] and failed.quarantined == [] and failed.error


def test_rebuild_imports_no_network_code(fault, settings, env):
    """`capcover rebuild` replays with pure parsers: no client, no session, and neither
    requests, urllib3 nor pycoingecko is imported (a new process, so the test's own imports
    do not count)."""
    import os

    _two_days(fault)
    code = (
        "import sys; from capcover.config.settings import load_settings; "
        "from capcover.flows.rebuild import rebuild; r = rebuild(load_settings()); "
        "print(len(r.runs), sorted(m for m in ('requests', 'urllib3', 'pycoingecko',"
        " 'capcover.ingest.http') if m in sys.modules))"
    )
    out = python("-c", code, env={**os.environ, **env}, timeout=120, check=True).stdout.split()
    assert out[0] == "2" and out[1:] == ["[]"]
