"""`capcover serve` against a real `prefect server start` on a loopback port.

Slow (a Prefect server takes ~10-20 s to become healthy): marked `slow`, still run by `make test`.
Every subprocess started here is stopped in a finally block.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests

from capcover.flows.serve import FULL_NAME, api_session
from capcover.warehouse.db import open_warehouse
from tests.helpers import capcover, commands_in_fresh_process

pytestmark = pytest.mark.slow

BIN = Path(sys.executable).parent
REPO = Path(__file__).resolve().parent.parent
# Every call to the API retries its 503s, as Prefect's own client does: SQLite answers a write
# that meets another writer (the scheduler filling the new deployment's runs, the runner's
# heartbeats, the event persister) with SQLITE_BUSY, and the server turns that into
# `503 {"exception_message": "Service Unavailable"}` — the "create_flow_run answered without
# an id" of a loaded machine. Plain `requests` took that answer as final.
API = api_session()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(what: str, check, timeout_s: float, log: Path | None = None):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.5)
    tail = log.read_text(errors="replace")[-3000:] if log and log.exists() else ""
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}\n{tail}")


def _stop(proc: subprocess.Popen, sig=signal.SIGINT, timeout_s: float = 20) -> None:
    """Stop a process group we started: polite signal first, then kill."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, sig)
        proc.wait(timeout=timeout_s)
    except (subprocess.TimeoutExpired, ProcessLookupError):
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(timeout=10)


@pytest.fixture(scope="module")
def prefect_api(tmp_path_factory):
    """One real server for this module's tests (each test has its own warehouse)."""
    home = tmp_path_factory.mktemp("prefect-home")
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_API")}
    env.update(
        PREFECT_HOME=str(home),
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        DO_NOT_TRACK="1",
        PREFECT_UI_ENABLED="false",
        # The server log then shows each SQLITE_BUSY it answered with a 503.
        PREFECT_SERVER_LOG_RETRYABLE_ERRORS="true",
    )
    log = home / "server.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            cwd=home,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    api = f"http://127.0.0.1:{port}/api"

    def healthy():
        # Our own server, alive: if another process took the port first, ours has exited and
        # whatever answers there is not the server these tests set up.
        assert proc.poll() is None, f"prefect server start exited {proc.returncode}"
        try:
            return requests.get(f"{api}/health", timeout=2).ok
        except requests.RequestException:
            return False

    try:
        _wait("the Prefect server", healthy, 120, log)
        yield api, home
    finally:
        _stop(proc, signal.SIGTERM)


def _serve(api: str, home: Path, env: dict, cwd: Path) -> subprocess.Popen:
    full = dict(
        os.environ,
        **env,
        PREFECT_API_URL=api,
        PREFECT_HOME=str(home),
        PREFECT_RUNNER_POLL_FREQUENCY="2",
        PYTHONUNBUFFERED="1",
    )
    log = cwd / "serve.log"
    out = log.open("ab")
    return subprocess.Popen(
        [str(BIN / "capcover"), "serve"],
        env=full,
        cwd=cwd,
        stdout=out,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def _created(resp: requests.Response) -> str:
    """The id of a flow run the API created; otherwise fail with its status and body."""
    assert resp.status_code == 201 and "id" in resp.json(), (
        f"create_flow_run answered {resp.status_code}: {resp.text[:2000]}"
    )
    return resp.json()["id"]


def _deployment(api: str):
    resp = API.get(f"{api}/deployments/name/{FULL_NAME}", timeout=5)
    return resp.json() if resp.status_code == 200 else None


def _run_state(api: str, run_id: str) -> dict:
    return API.get(f"{api}/flow_runs/{run_id}", timeout=5).json()["state"]


def _terminal(api: str, ids: list[str]):
    states = [_run_state(api, i) for i in ids]
    done = all(s["type"] in ("COMPLETED", "FAILED", "CANCELLED", "CRASHED") for s in states)
    return states if done else None


def test_serve_schedules_daily_and_runs_a_triggered_flow(prefect_api, fake_cg, env, tmp_path):
    api, home = prefect_api
    fake_cg.serve()
    proc = _serve(api, home, env, tmp_path)
    log = tmp_path / "serve.log"
    try:
        dep = _wait("the deployment", lambda: _deployment(api), 90, log)
        (sched,) = dep["schedules"]
        assert sched["schedule"]["cron"] == "20 0 * * *"
        assert sched["schedule"]["timezone"] == "UTC"
        assert sched["active"] is True
        assert dep["global_concurrency_limit"]["limit"] == 1
        assert dep["concurrency_options"]["collision_strategy"] == "CANCEL_NEW"

        # The server's scheduler has queued the next daily run at 00:20 UTC.
        def scheduled():
            body = {
                "deployments": {"id": {"any_": [dep["id"]]}},
                "flow_runs": {"state": {"type": {"any_": ["SCHEDULED"]}}},
            }
            return API.post(f"{api}/flow_runs/filter", json=body, timeout=5).json()

        upcoming = _wait("a scheduled run", scheduled, 60, log)
        first = datetime.fromisoformat(upcoming[0]["expected_start_time"])
        assert (first.hour, first.minute) == (0, 20)

        # `capcover status` reads the next run from the Prefect API.
        status_env = dict(os.environ, **env, PREFECT_API_URL=api)
        # Trigger a run now, through the API, and see its report in the warehouse.
        run = {
            "id": _created(
                API.post(f"{api}/deployments/{dep['id']}/create_flow_run", json={}, timeout=5)
            )
        }
        (state,) = _wait("the triggered run", lambda: _terminal(api, [run["id"]]), 180, log)
        assert state["type"] == "COMPLETED", state.get("message")
        with open_warehouse(env["CAPCOVER_DB"], read_only=True) as wh:
            row = wh.query(
                "SELECT run_id, status, flow_run_id, published_to, step_durations FROM runs"
            )
            (run_id, status, flow_run_id, published, steps) = row[0]
            reports = wh.scalar("SELECT count(*) FROM report_daily WHERE run_id = ?", [run_id])
        assert reports >= 1
        assert (status, flow_run_id) == ("ok", run["id"])
        # The flow run is named after its as-of date, and serve printed one line as it
        # started and one as it ended, each naming the flow run.
        named = API.get(f"{api}/flow_runs/{run['id']}", timeout=5).json()["name"]
        assert named == "daily-as-of-2024-04-03"
        lines = _wait(
            "serve's lines for the run",
            lambda: (
                [
                    line
                    for line in log.read_text(errors="replace").splitlines()
                    if f"daily flow run {run['id']}" in line
                ][:2]
                or None
            ),
            30,
            log,
        )
        assert lines[0].startswith("capcover serve: ") and lines[0].endswith("started")
        _wait(
            "serve's ok line",
            lambda: (
                f"daily flow run {run['id']} ok: run {run_id} as of 2024-04-03"
                in log.read_text(errors="replace")
            ),
            30,
            log,
        )
        assert any((Path(published) / "report_daily").glob("*.parquet"))
        assert set(json.loads(steps)) >= {
            "fetch_market",
            "fetch_quotes",
            "load_model_report",
            "publish",
        }

        out = capcover("status", env=status_env, cwd=tmp_path, timeout=60)
        assert out.returncode == 0, out.stderr
        text = " ".join(out.stdout.split())  # lines are wrapped to the terminal's width
        assert f"Prefect API at {api} (PREFECT_API_URL), deployment {FULL_NAME}" in text
        assert "T00:20:00" in out.stdout

        # The machine "sleeps": serve is down while three daily runs fall due.
        _stop(proc)
        assert proc.returncode == 0, log.read_text(errors="replace")[-3000:]
        assert "capcover serve: stopped." in log.read_text()
        past = datetime.now(UTC) - timedelta(hours=1)
        missed = []
        for day in range(3):
            when = (past - timedelta(days=day)).isoformat()
            body = {"state": {"type": "SCHEDULED", "state_details": {"scheduled_time": when}}}
            missed.append(
                _created(
                    API.post(f"{api}/deployments/{dep['id']}/create_flow_run", json=body, timeout=5)
                )
            )
        proc = _serve(api, home, env, tmp_path)
        states = _wait("the missed runs", lambda: _terminal(api, missed), 180, log)
        kinds = sorted(s["type"] for s in states)
        # Caught up once: one run executes, the others are cancelled by the concurrency limit.
        assert kinds == ["CANCELLED", "CANCELLED", "COMPLETED"], states
        with open_warehouse(env["CAPCOVER_DB"], read_only=True) as wh:
            assert wh.scalar("SELECT count(*) FROM runs WHERE status = 'ok'") == 2
    finally:
        _stop(proc)


def test_serve_workpool_route_from_prefect_yaml(prefect_api, fake_cg, env, tmp_path):
    """The README's work-pool route: create the pool, `prefect deploy --all`, start a worker,
    `prefect deployment run`, and the report lands in the warehouse."""
    api, home = prefect_api
    fake_cg.serve()
    full = dict(
        os.environ,
        **env,
        PREFECT_API_URL=api,
        PREFECT_HOME=str(home),
        PREFECT_WORKER_QUERY_SECONDS="2",
        PWD=str(REPO),
    )

    def prefect(*args: str) -> str:
        out = subprocess.run(
            [str(BIN / "prefect"), *args],
            env=full,
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
        return out.stdout

    prefect("work-pool", "create", "capcover", "--type", "process")
    prefect("--no-prompt", "deploy", "--all")
    dep = _deployment(api)
    assert dep["work_pool_name"] == "capcover"
    assert dep["schedules"][0]["schedule"]["cron"] == "20 0 * * *"
    assert dep["global_concurrency_limit"]["limit"] == 1
    assert dep["concurrency_options"]["collision_strategy"] == "CANCEL_NEW"

    log = tmp_path / "worker.log"
    with log.open("wb") as out:
        worker = subprocess.Popen(
            [str(BIN / "prefect"), "worker", "start", "--pool", "capcover"],
            env=full,
            cwd=tmp_path,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        text = prefect("deployment", "run", FULL_NAME)
        run_id = text.split("UUID:")[1].split()[0]
        (state,) = _wait("the worker's run", lambda: _terminal(api, [run_id]), 180, log)
        assert state["type"] == "COMPLETED", state
        with open_warehouse(env["CAPCOVER_DB"], read_only=True) as wh:
            assert wh.scalar("SELECT flow_run_id FROM runs WHERE status = 'ok'") == run_id
            assert wh.scalar("SELECT count(*) FROM report_daily") >= 1
    finally:
        _stop(worker)


def test_run_with_prefect_api_is_a_flow_run_whose_logs_reach_the_api(
    prefect_api, fake_cg, env, tmp_path
):
    """With PREFECT_API_URL set, `capcover run` is the Prefect flow, and its logs (the flow's
    own line included, on a successful run) are stored by the API."""
    api, home = prefect_api
    fake_cg.serve()
    run_env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    run_env.update(env, PREFECT_API_URL=api, PREFECT_HOME=str(tmp_path / "client-home"))
    out = capcover("run", env=run_env, cwd=REPO, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "in-process run" not in out.stdout
    with open_warehouse(env["CAPCOVER_DB"], read_only=True) as wh:
        run_id, flow_run_id = wh.query("SELECT run_id, flow_run_id FROM runs")[0]
    assert flow_run_id
    body = {"logs": {"flow_run_id": {"any_": [flow_run_id]}}, "sort": "TIMESTAMP_ASC"}

    def messages() -> list[str]:
        return [e["message"] for e in API.post(f"{api}/logs/filter", json=body, timeout=5).json()]

    def complete() -> list[str] | None:
        found = messages()
        ours = any(m.startswith(f"run {run_id}: as of 2024-04-03") for m in found)
        return found if ours and any("Finished in state Completed" in m for m in found) else None

    try:
        _wait("the run's logs in the API", complete, 60)
    except AssertionError:
        raise AssertionError(f"logs stored for flow run {flow_run_id}: {messages()}") from None
    # The run is the flow `capcover-daily` with no stored parameters (settings are read inside
    # the flow), each step a completed task run, the report table and summary as artifacts.
    flow_run = API.get(f"{api}/flow_runs/{flow_run_id}", timeout=5).json()
    assert flow_run["state"]["type"] == "COMPLETED"
    assert flow_run["parameters"] == {}
    flow = API.get(f"{api}/flows/{flow_run['flow_id']}", timeout=5).json()
    assert flow["name"] == "capcover-daily"
    runs = {"flow_runs": {"id": {"any_": [flow_run_id]}}}
    tasks = API.post(f"{api}/task_runs/filter", json=runs, timeout=5).json()
    assert sorted((t["task_key"].rsplit("-", 1)[0], t["state_type"]) for t in tasks) == [
        ("deliver_after_run", "COMPLETED"),
        ("fetch_market", "COMPLETED"),
        ("fetch_quotes", "COMPLETED"),
        ("store_and_publish", "COMPLETED"),
    ]
    artifacts = API.post(
        f"{api}/artifacts/filter",
        json={"artifacts": {"flow_run_id": {"any_": [flow_run_id]}}},
        timeout=5,
    ).json()
    assert sorted(a["key"] for a in artifacts) == ["capcover-coverage", "capcover-summary"]


def test_run_with_prefect_api_serialises_no_parameters(prefect_api, fake_cg, env, tmp_path):
    """The flow takes no parameters, so Prefect never imports FastAPI to serialise them (a
    third of a second of every run): the client of a running server imports no server code."""
    api, _ = prefect_api
    fake_cg.serve()
    run_env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    run_env.update(
        env, PREFECT_API_URL=api, PREFECT_HOME=str(tmp_path / "client-home"), PYTHONPATH=str(REPO)
    )
    seen = commands_in_fresh_process(["run"], env=run_env, cwd=tmp_path, timeout=300)
    assert seen.codes == [0], seen.stderr[-3000:]
    assert seen.loaded("fastapi", "prefect.server.api", "uvicorn") == []


def _events(api: str, prefix: str, resource: str) -> list[dict]:
    """Events named `prefix...` about `resource` (as the resource or a related one)."""
    body = {
        "filter": {"event": {"prefix": [prefix]}, "any_resource": {"id": [resource]}},
        "limit": 50,
    }
    resp = API.post(f"{api}/events/filter", json=body, timeout=10)
    assert resp.status_code == 200, resp.text[:500]
    return resp.json()["events"]


def test_demo_emits_no_prefect_events_on_a_configured_api(prefect_api, tmp_path):
    """`capcover demo` with PREFECT_API_URL set runs its flow there, and fires its alerts, but
    its (illustrative) alerts never become `capcover.coverage.*` events on that server."""
    api, home = prefect_api
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "CAPCOVER_"))}
    env.update(PREFECT_API_URL=api, PREFECT_HOME=str(tmp_path / "client-home"))
    out = capcover("demo", env=env, cwd=tmp_path, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "Alerts fired by the daily run (" in out.stdout and "(0)" not in out.stdout
    with open_warehouse(tmp_path / "data" / "demo.duckdb", read_only=True) as wh:
        (flow_run_id,) = wh.query("SELECT flow_run_id FROM runs WHERE kind = 'demo'")[0]
    name = API.get(f"{api}/flow_runs/{flow_run_id}", timeout=5).json()["name"]
    assert name == "demo-as-of-2024-04-03"
    ours = f"prefect.flow-run.{flow_run_id}"
    # The server heard the demo's flow run (so the filter works) and no capcover event of it
    # (the other tests' daily runs in this module did emit theirs).
    _wait("the demo's flow-run events", lambda: _events(api, "prefect.flow-run.", ours), 60)
    # An event emitted inside a flow run names that run among its related resources.
    assert _events(api, "capcover.coverage.", ours) == []
