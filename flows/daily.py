"""The daily Prefect flow: the one daily sequence (flows/sequence.py), each step a Prefect task.

Tasks never retry (retries live in the HTTP layer only) and never cache (a daily pull must not
be served from yesterday's cache).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from capcover.flows.prefect_env import configure

configure()

from prefect import flow, get_run_logger, task  # noqa: E402
from prefect.cache_policies import NO_CACHE  # noqa: E402
from prefect.context import SyncClientContext  # noqa: E402
from prefect.settings import get_current_settings  # noqa: E402
from prefect.utilities.annotations import quote  # noqa: E402

from capcover.config.settings import Settings, load_settings  # noqa: E402
from capcover.flows.artifacts import publish_artifacts  # noqa: E402
from capcover.flows.clients import Clients  # noqa: E402
from capcover.flows.sequence import daily_sequence  # noqa: E402
from capcover.model.run import RunResult  # noqa: E402

if not get_current_settings().api.url:
    # Without a Prefect API, the temporary server Prefect starts for this process exits with
    # it, even when the process is SIGKILLed (flows/temp_server.py). Only then: that module
    # imports Prefect's whole server (seconds), which a client of a running server never needs.
    from capcover.flows import temp_server

    temp_server.guard()

_TASKS: dict[str, Any] = {}


def run_as_task(name: str, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
    """The sequence's step runner inside the flow: each step a Prefect task named `name`.

    Arguments go in as `quote(...)`: Prefect otherwise walks every argument recursively (the
    market pull's raw responses, hundreds of coins) looking for futures to wait on and to record
    as task inputs, a third of a second per run; the steps pass plain values, never futures.
    The task still receives the unwrapped value."""
    if name not in _TASKS:
        _TASKS[name] = task(name=name, cache_policy=NO_CACHE)(fn)
    return _TASKS[name](*(quote(a) for a in args), **{k: quote(v) for k, v in kwargs.items()})


async def _daily(kind: str, settings: Any, replay_at: Any) -> RunResult:
    """The flow body both flows share: the daily sequence, its steps as tasks, then the
    artifacts and one log line. A run made from a deployment (`capcover serve`, a worker)
    also prints one line when it starts and one when it ends (report/summary.serve_line)."""
    from prefect.events import emit_event
    from prefect.runtime import deployment, flow_run

    from capcover.report.summary import serve_line

    # The Prefect event is a channel only when a Prefect API is configured: on the temporary
    # server (no PREFECT_API_URL) no automation can hear it, and it dies with the run. The
    # demo never emits one: its alerts are ILLUSTRATIVE, and an operator's automations must
    # not hear them as real `capcover.coverage.*` events.
    emit = emit_event if get_current_settings().api.url and kind != "demo" else None
    clients = Clients(settings, now=lambda: replay_at) if replay_at is not None else None
    run_id = flow_run.get_id()
    served = deployment.get_id() is not None
    if served:
        print(serve_line("started", kind=kind, flow_run_id=run_id), flush=True)
    # The steps are sync tasks: in an async flow each runs here, in the loop's thread, one
    # after the other, exactly as in the sync engine. They share one sync API client: without
    # this context each task opens its own (an SSL context loaded from the CA bundle and a
    # server version check, 50-130 ms each, even for an http:// API).
    try:
        with SyncClientContext.get_or_create() as ctx:
            result = daily_sequence(
                settings,
                kind=kind,
                run=run_as_task,
                emit=emit,
                flow_run_id=run_id,
                clients=clients,
                on_as_of=lambda as_of: _name_run(ctx.client, run_id, f"{kind}-as-of-{as_of}"),
            )
    except Exception as exc:
        if served:
            print(serve_line("failed", kind=kind, flow_run_id=run_id, error=exc), flush=True)
        raise
    # the report table + a markdown summary in the Prefect UI
    await publish_artifacts(result)
    logger = get_run_logger()
    logger.info(
        "run %s: as of %s, %d report rows", result.run_id, result.as_of_date, len(result.reports)
    )
    for line in [*result.alert_failures, *result.alert_unknown]:
        logger.warning("alert delivery: %s", line)  # to the Prefect API; the console is quiet
    if served:
        print(serve_line("finished", kind=kind, flow_run_id=run_id, result=result), flush=True)
    return result


def _name_run(client: Any, flow_run_id: str | None, name: str) -> None:
    """Name the flow run after its as-of date; a failure to rename never fails the run."""
    from uuid import UUID

    if not flow_run_id:
        return
    try:
        client.update_flow_run(UUID(flow_run_id), name=name)
    except Exception as exc:  # noqa: BLE001 - a name is a convenience, not the record
        get_run_logger().warning("could not name the flow run %s: %s", name, exc)


def _started_name(kind: str) -> Callable[[], str]:
    """The flow run's name until the as-of date is known: when it started (UTC)."""

    def name() -> str:
        return f"{kind}-started-{datetime.now(UTC):%Y-%m-%dT%H%MZ}"

    return name


# Both flows are `async def` for one reason: Prefect's sync flow engine joins its heartbeat
# thread when the run ends, and that thread sleeps in 1 s steps, so every sync run waited up
# to a second (0.86 s measured) after its work; the async engine leaves the daemon thread to
# stop on its own. Heartbeats (crash detection) are unchanged.
@flow(name="capcover-daily", log_prints=False, flow_run_name=_started_name("daily"))
async def daily_flow() -> RunResult:
    """The daily run: what `capcover run` (with a Prefect API) and the served deployment run.
    No parameters, on purpose: settings are read inside the flow (Prefect stores flow
    parameters in its database, and settings hold secrets), and a flow with parameters makes
    Prefect import FastAPI to serialise them (0.3 s of every run)."""
    return await _daily("daily", load_settings(), None)


def daily_flow_with(settings: Settings) -> Any:
    """`daily_flow` (same name, no parameters) on `settings` given in this process, for
    `run_flow(given=...)`: the settings stay in the closure, never in Prefect's database, and
    the served `daily_flow` keeps nothing of them (Prefect's runner pickles it)."""

    async def daily_flow_given() -> RunResult:
        return await _daily("daily", settings, None)

    return flow(name="capcover-daily", log_prints=False, flow_run_name=_started_name("daily"))(
        daily_flow_given
    )


@flow(name="capcover-demo", log_prints=False, flow_run_name=_started_name("demo"))
async def demo_flow(settings: Any, replay_at: Any) -> RunResult:
    """The demo's daily run on its replayed day: the demo's own settings (a
    `config.settings.Settings`, holding no secret) and `replay_at` (a UTC datetime), the clock
    the quote feeds stamp their quotes with. Typed `Any`: Prefect validates flow parameters
    against a model of this signature."""
    return await _daily("demo", settings, replay_at)


def run_flow(
    flow: Any = daily_flow, *, given: Settings | None = None, **parameters: Any
) -> RunResult:
    """Run an (async) flow of this module to the end from sync code: its RunResult. The
    flow's set-up (its result store asks the server for a default storage) and its tasks
    share one sync API client, opened here. `given`: the settings `daily_flow` runs with
    instead of reading its own (the public API's `capcover.run(db=...)`)."""
    if given is not None:
        flow = daily_flow_with(given)
    with SyncClientContext.get_or_create():
        result: RunResult = asyncio.run(flow(**parameters))
    return result
