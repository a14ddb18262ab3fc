"""Waits on the network that must end: a whole call bounded in wall-clock time.

A read timeout bounds each socket read, not an answer: a server that drips one byte a second
never trips it, and a name lookup is not a read at all. The sources' HTTP layer cuts its own
sockets at a deadline (ingest/transport.py); calls made through other clients (Prefect's REST
API, read by `capcover status` and `capcover serve`) run under `call_within`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


class WaitExpired(TimeoutError):
    """The call did not end within its time; it is abandoned (a daemon thread)."""


def call_within(seconds: float, fn: Callable[[], T]) -> T:
    """`fn()` run on a daemon thread: its result or its exception, or WaitExpired once
    `seconds` have passed. The thread is left behind, blocked where it was; it holds no lock
    and ends with the process (the callers are short commands or read-only lookups)."""
    outcome: dict[str, Any] = {}

    def work() -> None:
        try:
            outcome["value"] = fn()
        except BaseException as exc:  # noqa: BLE001 - handed to the waiting thread
            outcome["error"] = exc

    worker = threading.Thread(target=work, name="capcover-bounded-call", daemon=True)
    worker.start()
    worker.join(seconds)
    if worker.is_alive():
        raise WaitExpired(f"no answer within {seconds:g} s")
    if "error" in outcome:
        raise outcome["error"]
    value: T = outcome["value"]
    return value
