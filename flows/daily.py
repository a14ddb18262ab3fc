"""The daily Prefect flow: the one daily sequence (flows/sequence.py), each step a Prefect task.

Tasks never retry (retries live in the HTTP layer only) and never cache (a daily pull must not
be served from yesterday's cache).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flows.prefect_env import configure

configure()

from prefect import flow, get_run_logger, task  # noqa: E402
from prefect.cache_policies import NO_CACHE  # noqa: E402
from prefect.settings import get_current_settings  # noqa: E402
from prefect.utilities.annotations import quote  # noqa: E402

from config.settings import load_settings  # noqa: E402
from flows.artifacts import publish_artifacts  # noqa: E402
from flows.sequence import daily_sequence  # noqa: E402
from ingest.clients import Clients  # noqa: E402
from model.run import RunResult  # noqa: E402

if not get_current_settings().api.url:
    # Without a Prefect API, the temporary server Prefect starts for this process exits with
    # it, even when the process is SIGKILLed (flows/temp_server.py). Only then: that module
    # imports Prefect's whole server (seconds), which a client of a running server never needs.
    from flows import temp_server

    temp_server.guard()

_TASKS: dict[str, Any] = {}


def run_as_task(name: str, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
    """The sequence's step runner inside the flow: each step a Prefect task named `name`.

    Arguments go in as `quote(...)`: Prefect otherwise walks every argument recursively (the
    market pull's raw responses, hundreds of coins) looking for futures to wait on and to record
    as task inputs, a third of a second per run; the steps pass plain values, never futures.
    The task still receives the unwrapped value."""
    if name not in _TASKS:
        _TASKS[name] = task(fn, name=name, cache_policy=NO_CACHE)
    return _TASKS[name](*(quote(a) for a in args), **{k: quote(v) for k, v in kwargs.items()})


@flow(name="capcover-daily", log_prints=False)
def daily_flow(kind: str = "daily", settings: Any = None, replay_at: Any = None) -> RunResult:
    """`settings=None` (every scheduled run) reads them inside the flow: Prefect stores flow
    parameters in its database, and settings hold secrets. The demo passes its own settings
    (a `config.settings.Settings`, holding none). Typed `Any` because Prefect validates flow
    parameters against a model of this signature, and a deployment's worker process builds
    that model before `Settings` can be resolved. `replay_at` (a UTC datetime, the demo's)
    is the clock the quote feeds stamp their quotes with."""
    from prefect.events import emit_event
    from prefect.runtime import flow_run

    settings = settings if settings is not None else load_settings()
    # The Prefect event is a channel only when a Prefect API is configured: on the temporary
    # server (no PREFECT_API_URL) no automation can hear it, and it dies with the run.
    emit = emit_event if get_current_settings().api.url else None
    clients = Clients(settings, now=lambda: replay_at) if replay_at is not None else None
    result = daily_sequence(settings, kind=kind, run=run_as_task, emit=emit,
                            flow_run_id=flow_run.get_id(), clients=clients)
    publish_artifacts(result)  # the report table + a markdown summary in the Prefect UI
    get_run_logger().info("run %s: as of %s, %d report rows", result.run_id, result.as_of_date,
                          len(result.reports))
    return result
