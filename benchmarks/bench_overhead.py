"""Part 5 — daily run overhead: a new `capcover run` process against a local fake API, without a
Prefect API (the in-process sequence) and with a running `prefect server start` (the Prefect flow
`capcover-daily`), against the same work as a plain `flows.sequence.run_daily` call in a new
process. Every figure is a new process, so imports and start-up count the same on both sides;
the two sides alternate run by run, so a change in the machine's load hits both. Prefect's import
cost is its own figure, so the flow path's figure can be read as import + bookkeeping."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

from benchmarks.common import (
    ROOT,
    Figure,
    Samples,
    capcover_environ,
    capcover_settings,
    clean_env,
    figure_from,
    repeated,
    run_cmd,
    timed,
)
from capcover.fakeapi.coingecko import CoinGecko

PLAIN = (
    "from capcover.flows.sequence import run_daily; "
    "from capcover.config.settings import load_settings; "
    "run_daily(load_settings())"
)
# `python -m capcover` from this checkout (PYTHONPATH below), the same entry point as the `capcover`
# console script, so the code measured is the code in this tree.
CAPCOVER_RUN = [sys.executable, "-m", "capcover", "run"]
PLAIN_BASELINE = "plain run_daily() in a new process, no Prefect"
# What a person would write instead of capcover: the same HTTP calls capcover's run made (from
# the fake's log of one run, in order, one session), then their answers in one DuckDB insert.
BARE_RUN = """
import json, sys
import duckdb, requests
calls = json.load(open(sys.argv[2]))
session = requests.Session()
rows = []
for method, url, body in calls:
    headers = {"Content-Type": "application/json"} if body else None
    answer = session.request(method, url, data=body, headers=headers, timeout=30)
    rows.append((url, answer.status_code, answer.text))
con = duckdb.connect(sys.argv[1])
con.execute("CREATE TABLE IF NOT EXISTS raw (url VARCHAR, status INTEGER, body VARCHAR)")
con.executemany("INSERT INTO raw VALUES (?, ?, ?)", rows)
con.close()
"""


def logged_calls(fake: CoinGecko) -> list[tuple[str, str, str | None]]:
    """(method, url, body) of every request the fake saw, in order."""
    from urllib.parse import urlencode

    return [
        (
            r.method,
            fake.url + r.path + (f"?{urlencode(r.query)}" if r.query else ""),
            r.body.decode() if r.body else None,
        )
        for r in fake.log
    ]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PrefectServer:
    """`prefect server start` on a loopback port with its own PREFECT_HOME; stopped by its pid."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.port = free_port()
        self.proc: subprocess.Popen | None = None

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api"

    def __enter__(self) -> PrefectServer:
        prefect = Path(sys.executable).parent / "prefect"
        env = clean_env(
            PREFECT_HOME=str(self.home),
            PREFECT_SERVER_ANALYTICS_ENABLED="false",
            PREFECT_SERVER_API_HOST="127.0.0.1",
            PREFECT_SERVER_API_PORT=str(self.port),
        )
        self.log = open(self.home / "server.log", "w")
        self.proc = subprocess.Popen(
            [str(prefect), "server", "start", "--host", "127.0.0.1", "--port", str(self.port)],
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"prefect server exited early; see {self.home}/server.log")
            try:
                if requests.get(f"{self.api_url}/health", timeout=1).ok:
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.5)
        raise RuntimeError("prefect server did not become healthy within 180 s")

    def __exit__(self, *exc: object) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)  # its own session: the server and its kids
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.log.close()


def alternate(
    a: list[str], b: list[str], env_a: dict[str, str], env_b: dict[str, str], cwd: Path, repeat: int
) -> tuple[Samples, Samples]:
    """`a` and `b` as new processes, a b a b …, `repeat` times each: (seconds of a, of b)."""
    ta, tb = [], []
    for _ in range(max(1, repeat)):
        ta.append(run_cmd(a, env_a, cwd=cwd))
        tb.append(run_cmd(b, env_b, cwd=cwd))
    return Samples(tuple(ta)), Samples(tuple(tb))


def run(repeat: int = 3, with_server: bool = True) -> list[Figure]:
    from capcover.flows.sequence import run_daily

    figures = []
    with (
        tempfile.TemporaryDirectory(prefix="capcover-bench-overhead-") as tmp,
        CoinGecko.generated({"artificial-intelligence": 260}) as fake,
    ):
        t = Path(tmp)
        settings = capcover_settings(fake, t / "capcover.duckdb")
        run_daily(settings)  # creates the warehouse: every timed run below is a day's re-run
        in_process = repeated(lambda: timed(lambda: run_daily(settings))[0], repeat)
        # Prefect's defaults as `capcover run` sets them (INFO logs for the API handler), not
        # the quiet WARNING clean_env sets for the other parts: the flow must pay its log
        # shipping here, as it does for a user.
        base = clean_env(**capcover_environ(fake, t / "capcover.duckdb"), PYTHONPATH=str(ROOT))
        base.pop("PREFECT_LOGGING_LEVEL")
        (t / "no-api").mkdir()
        no_api = {**base, "PREFECT_HOME": str(t / "no-api")}  # no profile, so no API URL
        plain, cli = alternate(
            [sys.executable, "-c", PLAIN], CAPCOVER_RUN, no_api, no_api, t, repeat
        )
        extra: dict = {
            "repeat": repeat,
            "coins": 260,
            "in_process_run_daily_s": {
                "min": round(in_process.min, 4),
                "median": round(in_process.median, 4),
            },
        }
        # The same calls and one insert, by hand: what capcover's whole run is set against.
        fake.clear_log()
        run_cmd(CAPCOVER_RUN, no_api, cwd=t)
        calls = t / "calls.json"
        calls.write_text(json.dumps(logged_calls(fake)))
        bare_db = t / "bare.duckdb"
        bare, cli_again = alternate(
            [sys.executable, "-c", BARE_RUN, str(bare_db), str(calls)],
            CAPCOVER_RUN,
            no_api,
            no_api,
            t,
            repeat,
        )
        extra["bare_calls"] = len(json.loads(calls.read_text()))
        figures.append(
            figure_from(
                "overhead",
                "capcover run, no Prefect API (new process) vs the same calls and one insert",
                cli_again,
                "s",
                "bare requests + duckdb process: the same HTTP calls, one insert",
                bare,
                note=f"target <= 1.4; {extra['bare_calls']} calls",
                extra=extra,
            )
        )
        figures.append(
            figure_from(
                "overhead",
                "capcover run, no Prefect API: in-process sequence (new process)",
                cli,
                "s",
                PLAIN_BASELINE,
                plain,
                note="target <= 1.5",
                extra=extra,
            )
        )
        # Import cost apart: what the flow path imports on top of the plain sequence.
        imp_flow, imp_plain = alternate(
            [sys.executable, "-c", "import capcover.flows.daily"],
            [sys.executable, "-c", "import capcover.flows.sequence"],
            {**no_api, "PREFECT_API_URL": "http://127.0.0.1:9/api"},
            no_api,
            t,
            repeat,
        )
        imp_prefect = repeated(
            lambda: run_cmd([sys.executable, "-c", "import prefect"], no_api, cwd=t), repeat
        )
        extra["import_prefect_s"] = {
            "min": round(imp_prefect.min, 3),
            "median": round(imp_prefect.median, 3),
        }
        figures.append(
            figure_from(
                "overhead",
                "import the flow module with a Prefect API (Prefect + flows.daily)",
                imp_flow,
                "s",
                "import the plain sequence (flows.sequence), new process",
                imp_plain,
                note=f"import prefect alone: median {imp_prefect.median:.2f} s",
                extra=extra,
            )
        )
        if with_server:
            (t / "server").mkdir()
            t0 = time.perf_counter()
            with PrefectServer(t / "server") as server:
                extra["prefect_server_start_s"] = round(time.perf_counter() - t0, 2)
                srv_env = {
                    **base,
                    "PREFECT_HOME": str(t / "server"),
                    "PREFECT_API_URL": server.api_url,
                }
                run_cmd(CAPCOVER_RUN, srv_env, cwd=t)  # registers the flow
                plain_s, flow_s = alternate(
                    [sys.executable, "-c", PLAIN], CAPCOVER_RUN, no_api, srv_env, t, repeat
                )
            figures.append(
                figure_from(
                    "overhead",
                    "capcover run, running Prefect server: the flow (new process)",
                    flow_s,
                    "s",
                    PLAIN_BASELINE,
                    plain_s,
                    note="target <= 3",
                    extra=extra,
                )
            )
    return figures
