"""Prefect defaults set by capcover itself, before Prefect is imported.

prefect.toml in the repository root says the same for runs started from there; this covers the
installed `capcover` command run from any directory. Explicit environment settings still win.
"""

from __future__ import annotations

import os

DEFAULTS = {
    # No telemetry and no non-loopback traffic from the temporary server.
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "DO_NOT_TRACK": "1",
    # Readable output: capcover prints its own summary; Prefect says only what matters.
    # Flow and task logs (tracebacks included) still reach the Prefect server and its UI; the
    # terminal only gets capcover's one-line errors and summaries.
    "PREFECT_LOGGING_LEVEL": "WARNING",
    "PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL": "CRITICAL",
    "PREFECT_RESULTS_PERSIST_BY_DEFAULT": "false",
    # The temporary server gives up after 20 s by default; a busy laptop or CI runner can
    # need longer the first time (fresh database).
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
}


def configure() -> None:
    for key, value in DEFAULTS.items():
        os.environ.setdefault(key, value)
