"""Operations you can follow: a failed run keeps its Prefect flow run id and `status` names
it (with the Prefect UI address when the API is known); the lines a served run prints; the
demo never emits Prefect events (tests/test_serve_integration.py runs it against a real
server)."""

from __future__ import annotations

import json
from datetime import date

import pytest

from capcover.cli.main import main
from capcover.config.settings import load_settings
from capcover.fakeapi import Reply
from capcover.flows.sequence import daily_sequence, run_daily
from capcover.ingest.errors import NotFound
from capcover.model.run import DeliveryReport, RunResult
from capcover.report.advice import flow_run_url
from capcover.report.summary import serve_line
from capcover.warehouse.db import open_warehouse
from tests.conftest import API

FLOW_RUN = "6f769ac6-12d4-4ad7-b5d0-c43891686a82"


def test_failed_run_keeps_its_flow_run_id_and_status_names_it(env, fake_cg, monkeypatch, capsys):
    fake_cg.serve()
    run_daily(load_settings())
    fake_cg.clear()
    fake_cg.add(API + "/coins/categories", Reply({"error": "boom"}, status=404))
    with pytest.raises(NotFound):  # the categories endpoint answers 404; recorded below
        daily_sequence(load_settings(), flow_run_id=FLOW_RUN)
    with open_warehouse(env["CAPCOVER_DB"], read_only=True) as wh:
        status, flow_run_id = wh.query(
            "SELECT status, flow_run_id FROM runs ORDER BY started_at DESC LIMIT 1"
        )[0]
    assert (status, flow_run_id) == ("failed", FLOW_RUN)
    monkeypatch.setenv("PREFECT_UI_URL", "http://127.0.0.1:4200")
    monkeypatch.setenv("COLUMNS", "100")
    assert main(["status"]) == 1
    out = " ".join(capsys.readouterr().out.split())
    assert f"(failed): Prefect flow run {FLOW_RUN} — http://127.0.0.1:4200/runs/flow-run/" in out
    assert main(["status", "--format", "json"]) == 1
    latest = json.loads(capsys.readouterr().out)["runs"][0]
    assert latest["flow_run_url"] == f"http://127.0.0.1:4200/runs/flow-run/{FLOW_RUN}"


@pytest.mark.parametrize(
    ("env", "url"),
    [
        ({"PREFECT_API_URL": "http://127.0.0.1:4200/api"}, "http://127.0.0.1:4200"),
        ({"PREFECT_UI_URL": "https://ui.example/"}, "https://ui.example"),
        (
            {"PREFECT_API_URL": "https://api.prefect.cloud/api/accounts/A/workspaces/W"},
            "https://app.prefect.cloud/account/A/workspace/W",
        ),
        ({}, None),
    ],
)
def test_flow_run_url_from_the_ui_or_api_setting(env, url):
    expected = f"{url}/runs/flow-run/{FLOW_RUN}" if url else None
    assert flow_run_url(FLOW_RUN, env) == expected
    assert flow_run_url(None, env) is None


def test_serve_lines_name_the_flow_run_and_the_outcome():
    started = serve_line("started", kind="daily", flow_run_id=FLOW_RUN)
    assert started.startswith("capcover serve: ") and started.endswith(
        f"daily flow run {FLOW_RUN} started"
    )
    failed = serve_line(
        "failed", kind="daily", flow_run_id=FLOW_RUN, error=RuntimeError("no route\x1b[2J\nmore")
    )
    assert failed.endswith("FAILED: no route\\x1b[2J (nothing changed but the run's record)")
    result = RunResult(
        run_id="r1",
        kind="daily",
        as_of_date=date(2024, 4, 3),
        reports=[],
        sources_failed=["vastai"],
        delivery=DeliveryReport(delivered=2, messages=1, channels=1),
    )
    ok = serve_line("finished", kind="daily", flow_run_id=FLOW_RUN, result=result)
    assert f"flow run {FLOW_RUN} ok: run r1 as of 2024-04-03; 0 report row(s)" in ok
    assert ok.endswith("quote feeds failed: vastai") and "\n" not in ok
