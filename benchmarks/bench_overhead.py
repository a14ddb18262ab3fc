"""Part 5 — daily run overhead: `capcover run` (the Prefect flow) against a local fake API, with a
running Prefect server and with Prefect's temporary one, against the same work as a plain
function call without Prefect (`flows.sequence.run_daily`). Every figure is a new process, so
imports and start-up count the same on both sides; the in-process call time is recorded too."""

from __future__ import annotations

import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

from benchmarks.bench_latency import capcover_exe
from benchmarks.common import (
    Figure,
    capcover_environ,
    capcover_settings,
    clean_env,
    run_cmd,
    timed,
)
from fakeapi.coingecko import CoinGecko

PLAIN = ("from flows.sequence import run_daily; from config.settings import load_settings; "
         "run_daily(load_settings())")


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
        env = clean_env(PREFECT_HOME=str(self.home), PREFECT_SERVER_ANALYTICS_ENABLED="false",
                        PREFECT_SERVER_API_HOST="127.0.0.1",
                        PREFECT_SERVER_API_PORT=str(self.port))
        self.log = open(self.home / "server.log", "w")  # noqa: SIM115 - closed in __exit__
        self.proc = subprocess.Popen(
            [str(prefect), "server", "start", "--host", "127.0.0.1", "--port", str(self.port)],
            env=env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"prefect server exited early; see {self.home}/server.log")
            try:
                if requests.get(f"{self.api_url}/health", timeout=1).ok:
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.5)
        raise RuntimeError("prefect server did not become healthy within 120 s")

    def __exit__(self, *exc: object) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)  # its own session: the server and its kids
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.log.close()


def run(repeat: int = 3, with_server: bool = True) -> list[Figure]:
    from flows.sequence import run_daily

    figures = []
    with tempfile.TemporaryDirectory(prefix="capcover-bench-overhead-") as tmp, \
            CoinGecko.generated({"artificial-intelligence": 260}) as fake:
        t = Path(tmp)
        settings = capcover_settings(fake, t / "capcover.duckdb")
        in_process = statistics.median(timed(lambda: run_daily(settings))[0]
                                       for _ in range(repeat))
        cap_env = capcover_environ(fake, t / "capcover.duckdb")
        base = clean_env(**cap_env)
        plain = statistics.median(run_cmd([sys.executable, "-c", PLAIN], base, cwd=t)
                                  for _ in range(repeat))
        (t / "ephemeral").mkdir()
        eph_env = {**base, "PREFECT_HOME": str(t / "ephemeral")}
        first = run_cmd([capcover_exe(), "run"], eph_env, cwd=t)
        eph = statistics.median(run_cmd([capcover_exe(), "run"], eph_env, cwd=t)
                                for _ in range(repeat))
        extra = {"repeat": repeat, "in_process_run_daily_s": round(in_process, 4),
                 "temporary_server_first_run_s": round(first, 3)}
        figures.append(Figure(
            "overhead", "capcover run, Prefect temporary server (new process)", round(eph, 3),
            "s", "plain run_daily() in a new process, no Prefect", round(plain, 3),
            note=f"first run on a fresh Prefect database: {first:.1f} s", extra=extra))
        if with_server:
            (t / "server").mkdir()
            t0 = time.perf_counter()
            with PrefectServer(t / "server") as server:
                extra["prefect_server_start_s"] = round(time.perf_counter() - t0, 2)
                srv_env = {**base, "PREFECT_HOME": str(t / "server"),
                           "PREFECT_API_URL": server.api_url}
                run_cmd([capcover_exe(), "run"], srv_env, cwd=t)  # registers the flow
                srv = statistics.median(run_cmd([capcover_exe(), "run"], srv_env, cwd=t)
                                        for _ in range(repeat))
            figures.append(Figure(
                "overhead", "capcover run, running Prefect server (new process)", round(srv, 3),
                "s", "plain run_daily() in a new process, no Prefect", round(plain, 3),
                extra=extra))
    return figures
