"""`capcover serve` and `capcover status` without a Prefect server (the fast half; the real
server is in test_serve_integration.py)."""

from __future__ import annotations

import csv
import io
import json
import os
import socket
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from capcover.cli.main import main
from capcover.config.schedule import next_run
from capcover.flows.sequence import run_daily
from capcover.flows.serve import PrefectUnavailable, check_server
from capcover.ingest.errors import StatusError


def test_serve_without_prefect_api_url_explains_in_one_line(env, tmp_path):
    # A subprocess with a fresh PREFECT_HOME: no profile, no test harness, no API URL.
    clean = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_API")}
    out = subprocess.run(
        [str(Path(sys.executable).parent / "capcover"), "serve"],
        cwd=tmp_path,
        env={**clean, **env, "PREFECT_HOME": str(tmp_path / "prefect")},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 2
    err = out.stderr.strip()
    assert "\n" not in err and err.startswith("capcover: error: capcover serve needs")
    assert "prefect server start" in err and "PREFECT_API_URL=http://127.0.0.1:4200/api" in err


def test_serve_with_unreachable_server_explains_in_one_line():
    with socket.socket() as s:  # a port nobody answers on
        s.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{s.getsockname()[1]}/api"
    with pytest.raises(PrefectUnavailable, match="no Prefect server answers at PREFECT_API_URL="):
        check_server(url, timeout_s=1)


def test_serve_accepts_a_healthy_server(httpserver):
    httpserver.expect_request("/api/health").respond_with_json(True)
    assert check_server(httpserver.url_for("/api/")) == httpserver.url_for("/api")


def test_serve_next_run_honours_the_timezone():
    after = datetime(2026, 7, 1, 12, 0, tzinfo=UTC)
    assert next_run("20 0 * * *", "UTC", after).isoformat() == "2026-07-02T00:20:00+00:00"
    berlin = next_run("20 0 * * *", "Europe/Berlin", after)
    assert berlin.astimezone(UTC).isoformat() == "2026-07-01T22:20:00+00:00"  # CEST, UTC+2


def test_status_shows_runs_and_computed_next_run_without_prefect(
    fake_cg, settings, monkeypatch, capsys
):
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    fake_cg.serve()
    result = run_daily(settings)
    assert main(["status", "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    (run,) = data["runs"]
    assert (run["run_id"], run["status"], run["kind"]) == (result.run_id, "ok", "daily")
    assert run["reports_written"] == len(result.reports)
    assert run["coins_loaded"] > 0 and run["duration_s"] >= 0
    assert data["next_run_at"].endswith("00:20:00+00:00")
    assert data["next_run_source"].startswith("computed from schedule_cron '20 0 * * *' (UTC)")
    assert "PREFECT_API_URL not set" in data["next_run_source"]


def test_status_exit_1_when_the_latest_run_failed(fake_cg, settings, monkeypatch, capsys):
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    fake_cg.serve()
    run_daily(settings)
    fake_cg.clear()  # CoinGecko now answers 500 to everything
    with pytest.raises(StatusError, match="HTTP 500"):  # the runs table records it
        run_daily(settings)
    assert main(["status"]) == 1
    out = capsys.readouterr().out
    assert "failed" in out and "next scheduled run:" in out


def test_status_falls_back_to_cron_when_the_api_has_no_deployment(
    settings, fake_cg, monkeypatch, capsys, httpserver
):
    fake_cg.serve()
    result = run_daily(settings)
    monkeypatch.setenv("PREFECT_API_URL", httpserver.url_for("/prefect/api"))  # 404 everywhere
    assert main(["status", "--format", "csv"]) == 0
    captured = capsys.readouterr()
    assert captured.out.startswith("run_id,kind,status")
    (run,) = list(csv.DictReader(io.StringIO(captured.out)))
    assert (run["run_id"], run["kind"], run["status"]) == (result.run_id, "daily", "ok")
    assert int(run["reports_written"]) == len(result.reports)
    assert (
        "next scheduled run:" in captured.err
        and "no deployment capcover-daily/daily" in captured.err
    )


def test_status_without_warehouse_is_a_one_line_failure(env, capsys):
    assert main(["status"]) == 1
    assert "no warehouse at" in capsys.readouterr().err


# -- is a Prefect API configured? (`capcover run` decides without importing Prefect) ---------


def test_configured_api_none_without_url_in_environment_or_profile(tmp_path):
    from capcover.flows.prefect_env import configured_api

    home = tmp_path / "home"
    home.mkdir()
    (home / "profiles.toml").write_text(
        'active = "ephemeral"\n[profiles.ephemeral]\nPREFECT_SERVER_EPHEMERAL_ENABLED = "true"\n'
    )
    found = configured_api({"PREFECT_HOME": str(home)}, cwd=tmp_path)
    assert found.url is None
    assert found.where == "no PREFECT_API_URL in the environment or Prefect profile 'ephemeral'"


def test_configured_api_from_environment_first(tmp_path):
    from capcover.flows.prefect_env import configured_api

    found = configured_api(
        {"PREFECT_API_URL": "http://127.0.0.1:4200/api", "PREFECT_HOME": str(tmp_path)},
        cwd=tmp_path,
    )
    assert (found.url, found.where) == ("http://127.0.0.1:4200/api", "PREFECT_API_URL")


def test_configured_api_from_the_active_profile(tmp_path):
    from capcover.flows.prefect_env import configured_api

    (tmp_path / "profiles.toml").write_text(
        'active = "local"\n[profiles.local]\nPREFECT_API_URL = "http://127.0.0.1:4300/api"\n'
        '[profiles.other]\nPREFECT_API_URL = "http://127.0.0.1:4400/api"\n'
    )
    env = {"PREFECT_HOME": str(tmp_path)}
    assert configured_api(env, cwd=tmp_path).url == "http://127.0.0.1:4300/api"
    chosen = configured_api({**env, "PREFECT_PROFILE": "other"}, cwd=tmp_path)
    assert chosen.url == "http://127.0.0.1:4400/api"
    assert "Prefect profile 'other'" in chosen.where
    assert configured_api({**env, "PREFECT_PROFILE": "missing"}, cwd=tmp_path).url is None


def test_configured_api_from_prefect_toml_in_the_working_directory(tmp_path):
    from capcover.flows.prefect_env import configured_api

    (tmp_path / "prefect.toml").write_text('[api]\nurl = "http://127.0.0.1:4500/api"\n')
    found = configured_api({"PREFECT_HOME": str(tmp_path / "none")}, cwd=tmp_path)
    assert found.url == "http://127.0.0.1:4500/api"


def test_api_session_retries_a_prefect_503_until_the_write_goes_through(httpserver):
    """Prefect answers SQLITE_BUSY with 503 (nothing written); its own client retries, and so
    does every capcover call to the REST API."""
    from capcover.flows.serve import api_session

    path = "/api/deployments/d-1/create_flow_run"
    httpserver.expect_oneshot_request(path, method="POST").respond_with_json(
        {"exception_message": "Service Unavailable"}, status=503
    )
    httpserver.expect_oneshot_request(path, method="POST").respond_with_json(
        {"id": "run-1"}, status=201
    )
    resp = api_session().post(httpserver.url_for(path), json={}, timeout=5)
    assert (resp.status_code, resp.json()) == (201, {"id": "run-1"})
    assert len(httpserver.log) == 2
