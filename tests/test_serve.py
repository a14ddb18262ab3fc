"""`capcover serve` and `capcover status` without a Prefect server (the fast half; the real
server is in test_serve_integration.py)."""

from __future__ import annotations

import csv
import io
import json
import os
import socket
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from unittest import mock

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as examples
from hypothesis import strategies as st

from capcover.cli.main import main
from capcover.config.schedule import next_run
from capcover.flows.prefect_env import ApiSource
from capcover.flows.sequence import run_daily
from capcover.flows.serve import PrefectUnavailable, check_server
from capcover.ingest.errors import StatusError
from tests.helpers import capcover


def test_serve_without_prefect_api_url_explains_in_one_line(env, tmp_path):
    # A subprocess with a fresh PREFECT_HOME: no profile, no test harness, no API URL.
    clean = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_API")}
    out = capcover(
        "serve", env={**clean, **env, "PREFECT_HOME": str(tmp_path / "prefect")}, cwd=tmp_path
    )
    assert out.returncode == 2
    err = out.stderr.strip()
    assert "\n" not in err and err.startswith("capcover: error: capcover serve needs")
    assert "prefect server start" in err and "PREFECT_API_URL=http://127.0.0.1:4200/api" in err


def test_serve_with_unreachable_server_explains_in_one_line():
    with socket.socket() as s:  # a port nobody answers on
        s.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{s.getsockname()[1]}/api"
    with pytest.raises(PrefectUnavailable) as err:
        check_server(ApiSource(url, "PREFECT_API_URL"), timeout_s=1)
    assert str(err.value).startswith(
        f"no Prefect server answers at {url} (PREFECT_API_URL; ConnectionError): start one"
    )


def test_serve_accepts_a_healthy_server(httpserver):
    httpserver.expect_request("/api/health").respond_with_json(True)
    api = ApiSource(httpserver.url_for("/api/"), "PREFECT_API_URL")
    assert check_server(api) == httpserver.url_for("/api")


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
    assert data["next_run_source"].endswith(
        "; no Prefect API URL in the environment, the Prefect profile or the working "
        "directory's .env, prefect.toml or pyproject.toml"
    )


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


# -- which Prefect API? (`run`, `serve` and `status` ask flows.prefect_env.prefect_api) ------


@pytest.fixture
def prefect_world(monkeypatch, tmp_path):
    """No Prefect setting from the developer's shell; the working directory and PREFECT_HOME
    are fresh folders the test writes Prefect's sources into."""
    for key in list(os.environ):
        if key.upper().startswith(("PREFECT_API", "PREFECT_PROFILE", "PREFECT_HOME")):
            monkeypatch.delenv(key)
    cwd, home = tmp_path / "cwd", tmp_path / "home"
    cwd.mkdir()
    home.mkdir()
    monkeypatch.chdir(cwd)
    monkeypatch.setenv("PREFECT_HOME", str(home))
    return cwd, home


def test_prefect_api_none_without_any_source(prefect_world):
    from capcover.flows.prefect_env import named_in_sources, prefect_api

    _, home = prefect_world
    (home / "profiles.toml").write_text(
        'active = "ephemeral"\n[profiles.ephemeral]\nPREFECT_SERVER_EPHEMERAL_ENABLED = "true"\n'
        '[profiles.local]\nPREFECT_API_URL = "http://127.0.0.1:4200/api"\n'  # not active
    )
    assert named_in_sources(os.environ, Path.cwd()) is None
    found = prefect_api()
    assert found.url is None
    assert found.where == (
        "no Prefect API URL in the environment, the Prefect profile or the working "
        "directory's .env, prefect.toml or pyproject.toml"
    )


def test_prefect_api_from_the_environment_first(prefect_world, monkeypatch):
    from capcover.flows.prefect_env import prefect_api

    _, home = prefect_world
    (home / "profiles.toml").write_text(
        'active = "local"\n[profiles.local]\nPREFECT_API_URL = "http://127.0.0.1:4300/api"\n'
    )
    monkeypatch.setenv("PREFECT_API_URL", "http://127.0.0.1:4200/api/")
    found = prefect_api()
    assert (found.url, found.where) == ("http://127.0.0.1:4200/api", "PREFECT_API_URL")


def test_prefect_api_from_the_profile_prefect_picks(prefect_world, monkeypatch):
    from capcover.flows.prefect_env import prefect_api

    _, home = prefect_world
    (home / "profiles.toml").write_text(
        'active = "local"\n[profiles.local]\nPREFECT_API_URL = "http://127.0.0.1:4300/api"\n'
        '[profiles.other]\nPREFECT_API_URL = "http://127.0.0.1:4400/api"\n'
    )
    found = prefect_api()
    assert found.url == "http://127.0.0.1:4300/api"
    assert found.where == f"the active Prefect profile in {home / 'profiles.toml'}"
    monkeypatch.setenv("PREFECT_PROFILE", "other")
    assert prefect_api().url == "http://127.0.0.1:4400/api"
    monkeypatch.setenv("PREFECT_PROFILE", "missing")  # Prefect falls back to its default
    assert prefect_api().url is None


def test_prefect_api_from_prefect_toml_in_the_working_directory(prefect_world):
    from capcover.flows.prefect_env import prefect_api

    cwd, _ = prefect_world
    (cwd / "prefect.toml").write_text('[api]\nurl = "http://127.0.0.1:4500/api"\n')
    found = prefect_api()
    assert found.url == "http://127.0.0.1:4500/api"
    assert found.where == f"Prefect's settings in {cwd} (.env, prefect.toml or pyproject.toml)"


_URL = st.sampled_from([None, "http://127.0.0.1:4200/api", ""])
_PROFILE = st.sampled_from([None, "local", "other", "missing", "ephemeral"])


@examples(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    env_url=_URL,
    env_profile=_PROFILE,
    active=_PROFILE,
    local_url=_URL,
    other_url=_URL,
    dotenv=st.sampled_from(["", "PREFECT_API_URL=http://127.0.0.1:4600/api\n", "X=1\n"]),
    prefect_toml=st.sampled_from(["", '[api]\nurl = "http://127.0.0.1:4700/api"\n', "[x]\n"]),
    pyproject=st.sampled_from(["", '[tool.prefect.api]\nurl = "http://127.0.0.1:4800/api"\n']),
    profiles_where=st.sampled_from(["home", "env", "dotenv", "nowhere"]),
)
def test_named_in_sources_never_misses_an_api_prefect_would_use(
    env_url,
    env_profile,
    active,
    local_url,
    other_url,
    dotenv,
    prefect_toml,
    pyproject,
    profiles_where,
):
    """The fast test that lets `status` skip importing Prefect is a superset of Prefect's own
    answer: whenever Prefect's settings find an API URL, it says where one could be."""
    import tempfile

    from prefect.settings import Settings

    from capcover.flows.prefect_env import named_in_sources

    profiles = "" if active is None else f'active = "{active}"\n'
    for name, url in (("local", local_url), ("other", other_url)):
        profiles += f"[profiles.{name}]\n" + (f'PREFECT_API_URL = "{url}"\n' if url else "")
    with tempfile.TemporaryDirectory() as tmp:
        cwd, home = Path(tmp) / "cwd", Path(tmp) / "home"
        cwd.mkdir()
        home.mkdir()
        env = {k: v for k, v in os.environ.items() if not k.upper().startswith("PREFECT_")}
        env["PREFECT_HOME"] = str(home)
        path = home / "profiles.toml" if profiles_where == "home" else Path(tmp) / "p.toml"
        path.write_text(profiles)
        if profiles_where == "env":
            env["PREFECT_PROFILES_PATH"] = str(path)
        if profiles_where == "dotenv":
            dotenv += f"PREFECT_PROFILES_PATH={path}\n"
        if env_url is not None:
            env["PREFECT_API_URL"] = env_url
        if env_profile is not None:
            env["PREFECT_PROFILE"] = env_profile
        for name, text in ((".env", dotenv), ("prefect.toml", prefect_toml)):
            (cwd / name).write_text(text)
        (cwd / "pyproject.toml").write_text(pyproject)
        with mock.patch.dict(os.environ, env, clear=True), _chdir(cwd):
            prefect_says = Settings().api.url
            ours = named_in_sources(os.environ, cwd)
    assert ours is not None or not prefect_says, (ours, prefect_says)


@contextmanager
def _chdir(path: Path):
    before = Path.cwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(before)


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


def _fake_prefect_api(httpserver) -> str:
    """A Prefect API with the served deployment and its next scheduled run; Prefect's own
    client (what `capcover run` uses) meets a 404 at its first request and gives up."""
    httpserver.expect_request("/api/deployments/name/capcover-daily/daily").respond_with_json(
        {"id": "d-1", "paused": False}
    )
    httpserver.expect_request("/api/flow_runs/filter", method="POST").respond_with_json(
        [{"expected_start_time": "2030-01-02T00:20:00Z"}]
    )
    return httpserver.url_for("/api")


@pytest.mark.parametrize("configured_by", ["PREFECT_API_URL", "profile"])
def test_status_names_the_prefect_api_run_uses(
    fake_cg, settings, env, tmp_path, httpserver, configured_by
):
    """`capcover status` and `capcover run` agree on the Prefect API, whether the environment
    or the active Prefect profile names it (status once said "PREFECT_API_URL not set" while
    run, reading the profile, ran a flow on that server)."""
    fake_cg.serve()
    run_daily(settings)
    url = _fake_prefect_api(httpserver)
    home = tmp_path / "prefect-home"
    home.mkdir()
    child = {k: v for k, v in os.environ.items() if not k.upper().startswith("PREFECT_")}
    child.update(env, PREFECT_HOME=str(home), PREFECT_CLIENT_MAX_RETRIES="0")
    if configured_by == "PREFECT_API_URL":
        child["PREFECT_API_URL"] = url
        where = "PREFECT_API_URL"
    else:
        profiles = home / "profiles.toml"
        profiles.write_text(f'active = "remote"\n[profiles.remote]\nPREFECT_API_URL = "{url}"\n')
        where = f"the active Prefect profile in {profiles}"
    status = capcover("status", "--format", "json", env=child, cwd=tmp_path)
    assert status.returncode == 0, status.stderr
    data = json.loads(status.stdout)
    assert (
        data["next_run_source"]
        == f"Prefect API at {url} ({where}), deployment capcover-daily/daily"
    )
    assert data["next_run_at"] == "2030-01-02 00:20:00+00:00"

    httpserver.clear_log()
    run = capcover("run", env=child, cwd=tmp_path)
    assert run.returncode == 1
    assert run.stderr.startswith(f"capcover: error: run failed: Failed to reach API at {url}/")
    assert run.stderr.count("\n") == 1
    asked = [(r.method, r.path) for r, _ in httpserver.log]
    assert asked and all(path.startswith("/api/") for _, path in asked)  # the same server
