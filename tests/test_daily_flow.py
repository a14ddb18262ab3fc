"""The real Prefect flow, once, on a session-scoped test harness (it costs ~10 s to start); the
in-process `capcover run` when no Prefect API is configured; and the temporary Prefect server
dying with the process that started it."""

import importlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from capcover.warehouse.db import open_warehouse
from tests.helpers import commands_in_fresh_process

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")  # not session: later modules (the demo) run without an API
def prefect_harness():
    # flows.daily first: its Prefect defaults (start-up timeout, logging) must be in the
    # environment before Prefect reads its settings, and its bound temporary server must be
    # the default one the harness restores afterwards (for the demo, later in a full run).
    importlib.import_module("capcover.flows.daily")
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


def test_daily_flow_runs_tasks_and_writes_reports(prefect_harness, fake_cg, settings):
    from capcover.flows.daily import run_flow

    fake_cg.serve()
    result = run_flow()
    assert result.as_of_date.isoformat() == "2024-04-03"
    with open_warehouse(settings.db, read_only=True) as wh:
        assert wh.scalar("SELECT count(*) FROM report_daily") == len(result.reports) == 4
        assert wh.scalar("SELECT count(*) FROM runs WHERE status='ok'") == 1


def test_daily_flow_runs_with_the_settings_it_is_given(
    prefect_harness, fake_cg, settings, tmp_path
):
    """`capcover.run(db=...)` with a Prefect API: the flow runs on the given settings (handed
    over in this process, not as flow parameters), not on the environment's."""
    from capcover.config.settings import load_settings
    from capcover.flows.daily import run_flow

    fake_cg.serve()
    other = tmp_path / "given.duckdb"
    result = run_flow(given=load_settings(db=other))
    with open_warehouse(other, read_only=True) as wh:
        assert wh.scalar("SELECT count(*) FROM report_daily") == len(result.reports) == 4
        assert wh.scalar("SELECT flow_run_id FROM runs") is not None  # a Prefect flow run
    assert not Path(settings.db).exists()


def _no_prefect_env(env: dict, tmp_path: Path) -> dict:
    """The fixture's settings, an empty PREFECT_HOME (no profile) and no PREFECT_* at all."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "CAPCOVER_"))}
    return {
        **base,
        **env,
        "HOME": str(tmp_path),
        "PREFECT_HOME": str(tmp_path / "prefect"),
        "PYTHONPATH": str(ROOT),
    }


def _processes_with(marker: str) -> list[int]:
    """PIDs of live processes whose environment holds `marker` (a unique PREFECT_HOME)."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if marker.encode() in (proc / "environ").read_bytes() and not _zombie(proc):
                found.append(int(proc.name))
        except OSError:
            continue
    return found


def _zombie(proc: Path) -> bool:
    try:
        return "\nState:\tZ" in (proc / "status").read_text()
    except OSError:
        return True  # gone


def test_run_without_prefect_api_runs_in_process_without_prefect(env, fake_cg, tmp_path):
    fake_cg.serve()
    run_env = _no_prefect_env(env, tmp_path)
    seen = commands_in_fresh_process(["run"], env=run_env, cwd=tmp_path)
    assert seen.codes == [0], seen.stderr
    assert seen.loaded("prefect") == []  # Prefect not imported, so no server either
    text = " ".join(seen.stdout.split())  # the summary is wrapped to the terminal's width
    assert (
        "in-process run, not a Prefect flow: no Prefect API URL in the environment, the "
        "Prefect profile or the working directory's .env, prefect.toml or pyproject.toml" in text
    )
    assert _processes_with(run_env["PREFECT_HOME"]) == []
    with open_warehouse(env["CAPCOVER_DB"], read_only=True) as wh:
        (row,) = wh.query(
            "SELECT kind, status, flow_run_id, reports_written, published_to FROM runs"
        )
    kind, status, flow_run_id, reports, published = row
    assert (kind, status, flow_run_id) == ("daily", "ok", None)
    assert reports == 4 and published


def _refused(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


@pytest.mark.slow
def test_temp_server_dies_with_its_run_on_sigkill(tmp_path):
    """Prefect's temporary server, started as a flow run would start it, exits when the
    process that started it is SIGKILLed (no atexit runs)."""
    run_env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_API")}
    run_env.update(PREFECT_HOME=str(tmp_path / "prefect"), PYTHONPATH=str(ROOT))
    code = (
        "import time; import capcover.flows.daily; "
        "from prefect.server.api.server import SubprocessASGIServer as S; "
        "s = S(); s.start(timeout=120); "
        "print(type(s).__name__, s.server_process.pid, s.port, flush=True); "
        "time.sleep(600)"
    )
    parent = subprocess.Popen(
        [sys.executable, "-c", code],
        stdout=subprocess.PIPE,
        text=True,
        env=run_env,
        cwd=tmp_path,
        start_new_session=True,
    )
    server_pid = None
    try:
        kind, server_pid, port = parent.stdout.readline().split()
        server_pid, port = int(server_pid), int(port)
        assert kind == "BoundTemporaryServer"
        assert not _refused(port)  # it is up and answering
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait(timeout=30)
        deadline = time.monotonic() + 60
        while not _zombie(Path(f"/proc/{server_pid}")) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert _zombie(Path(f"/proc/{server_pid}")), "the temporary server outlived its run"
        # (Not "the port refuses": the 8000-8999 range is shared with every other Prefect
        # temporary server on the machine, which may take the port at once.)
        assert _processes_with(run_env["PREFECT_HOME"]) == []
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()
        if server_pid and not _zombie(Path(f"/proc/{server_pid}")):
            os.kill(server_pid, signal.SIGKILL)  # only if the test failed: no leftovers
