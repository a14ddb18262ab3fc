"""The issue's acceptance runs, through the real command (Prefect flow included), real sleeps."""

from __future__ import annotations

from capcover.cli.main import main
from capcover.fakeapi import CLOUDFLARE_HTML, Reply
from capcover.warehouse.db import open_warehouse
from tests.conftest import reference, table_snapshot


def test_faults_run_survives_429_retry_after_and_a_503_with_the_right_report(
    fault, settings, capsys
):
    fault.script(
        "/coins/categories",
        Reply(reference("error_429_rate_limit.json")["payload"], 429, {"Retry-After": "1"}),
    )
    fault.script("/coins/markets", Reply({"error": "Service Unavailable"}, 503), page=2)
    assert main(["run"]) == 0
    out = capsys.readouterr().out
    assert "coindesk-2024: ratio 1.157" in " ".join(out.split())
    # pages 1, 2 (503, then again) and the empty page 3 that ends the paging
    assert fault.attempts("/coins/categories") == 2 and fault.attempts("/coins/markets") == 4
    with open_warehouse(settings.db, read_only=True) as wh:
        ratio = wh.scalar(
            "SELECT coverage_ratio FROM report_daily WHERE scenario = 'coindesk-2024'"
        )
        retries, limited, coins = wh.query(
            "SELECT http_retries, rate_limited, (SELECT count(*) FROM coin_snapshots) "
            "FROM runs WHERE status = 'ok'"
        )[0]
    assert ratio == 25e9 / 21.6e9
    assert (retries, limited, coins) == (2, 1, 260)


def test_faults_html_200_run_fails_with_one_clear_line_and_changes_nothing(fault, settings, capsys):
    assert main(["run"]) == 0  # yesterday's good run
    capsys.readouterr()
    before = table_snapshot(str(settings.db))
    fault.clear_log()
    fault.script("/coins/categories", Reply(raw=CLOUDFLARE_HTML, content_type="text/html"))
    assert main(["run"]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1
    assert captured.err.startswith(
        "capcover: error: run failed: coingecko /coins/categories: expected JSON, got an HTML page"
    )
    assert "changed but the run's record in `runs`" in captured.err
    assert table_snapshot(str(settings.db)) == before
    assert fault.attempts("/coins/categories") == 1 and fault.attempts("/coins/markets") == 0
