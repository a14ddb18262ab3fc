"""Prefect's temporary server, bound to the life of the run that started it.

With no Prefect API configured, Prefect starts a temporary server in a subprocess on first use
and stops it at exit (atexit). A run killed with SIGKILL never reaches atexit, and that server
(~200 MB) kept running. `guard()` registers, in Prefect's own slot for the default temporary
server (the one `prefect_test_harness` uses too), a server whose process exits when the run's
process is gone, however it ended (flows/_temp_server_child.py). Everything else — the port
choice and retry, start-up wait, the database, the stop at exit — stays Prefect's.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import prefect
from prefect.server.api.server import SubprocessASGIServer
from prefect.settings import get_current_settings

CHILD = Path(__file__).resolve().with_name("_temp_server_child.py")
PIPE_ENV = "CAPCOVER_TEMP_SERVER_PARENT_FD"


class BoundTemporaryServer(SubprocessASGIServer):
    """SubprocessASGIServer whose process dies with the process that started it."""

    _parent_ends: list[int] = []  # write ends, held open (never written) while we live

    def _run_uvicorn_command(self) -> subprocess.Popen[Any]:
        read_end, write_end = os.pipe()  # both non-inheritable; the child gets `read_end` only
        self._parent_ends.append(write_end)
        # The same server as Prefect's own temporary one (prefect/server/api/server.py).
        server_env = {
            "PREFECT_UI_ENABLED": "0",
            "PREFECT__SERVER_EPHEMERAL": "1",
            "PREFECT__SERVER_FINAL": "1",
            PIPE_ENV: str(read_end),
        }
        try:
            return subprocess.Popen(
                [
                    sys.executable,
                    str(CHILD),
                    "--app-dir",
                    str(prefect.__module_path__.parent),
                    "--factory",
                    "prefect.server.api.server:create_app",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(self.port),
                    "--log-level",
                    "error",
                    "--lifespan",
                    "on",
                ],
                env={
                    **os.environ,
                    **server_env,
                    **get_current_settings().to_environment_variables(exclude_unset=True),
                },
                pass_fds=(read_end,),
            )
        finally:
            os.close(read_end)


def guard() -> None:
    """Make the default temporary server a bound one, unless one is already registered (a
    running temporary server, or a test harness's)."""
    if None not in SubprocessASGIServer._instances:
        BoundTemporaryServer()  # SubprocessASGIServer.__new__ registers it under None
