"""`capcover serve`: the daily flow on a cron schedule, served to a running Prefect server.

Prefect's temporary (ephemeral) server cannot hold schedules, and a server started and stopped
by `capcover serve` itself would lose its UI and run history on every restart, so serve needs a
server the user runs (`prefect server start`) and says so in one line when there is none.

Concurrency: the deployment has a concurrency limit of 1 with Prefect's CANCEL_NEW collision
strategy, so a run never overlaps the previous one, and when several scheduled runs are due at
once (the machine slept through them) the first takes the slot and the others are cancelled by
the server: a missed day is caught up once, not N times (tests/test_serve_integration.py).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from capcover.config.schedule import next_run
from capcover.errors import one_line
from capcover.flows.prefect_env import ApiSource, prefect_api

if TYPE_CHECKING:
    import requests

    from capcover.config.settings import Settings

FLOW_NAME = "capcover-daily"
DEPLOYMENT_NAME = "daily"
FULL_NAME = f"{FLOW_NAME}/{DEPLOYMENT_NAME}"


def start_hint() -> str:
    """How to start a server, as commands that paste (the `prefect` beside capcover's Python:
    report/advice.py)."""
    from capcover.report.advice import prefect_start_hint

    return prefect_start_hint()


def api_session(retries: int = 5) -> requests.Session:
    """A session for Prefect's REST API that retries 429, 502 and 503 answers (honouring
    Retry-After), as Prefect's own client does (prefect/client/base.py). On SQLite, a write
    that meets another writer (the scheduler filling a new deployment's runs, a runner's
    heartbeat) fails with SQLITE_BUSY, which the server answers
    `503 {"exception_message": "Service Unavailable"}` having changed nothing.

    Every request asks for `Connection: close`: the server (uvicorn) drops a keep-alive
    connection after 5 idle seconds, and a request sent on such a pooled connection meets a
    reset (`ConnectionResetError`) that no retry may repeat safely for a POST
    (`create_flow_run`). A fresh connection per request costs a loopback handshake."""
    import requests  # here, not at the top: `capcover status` without an API never needs it
    from requests.adapters import HTTPAdapter
    from urllib3.util.retry import Retry

    retry = Retry(
        total=retries,
        connect=0,
        read=0,
        status=retries,
        backoff_factor=0.25,
        status_forcelist=(429, 502, 503),
        allowed_methods=None,
        raise_on_status=False,
    )
    session = requests.Session()
    session.headers["Connection"] = "close"
    session.mount("http://", HTTPAdapter(max_retries=retry))
    session.mount("https://", HTTPAdapter(max_retries=retry))
    return session


class PrefectUnavailable(Exception):
    """No usable Prefect server; the message says how to start one."""


def check_server(api: ApiSource, timeout_s: float = 3.0) -> str:
    """The API's URL if a Prefect server answers there; otherwise PrefectUnavailable."""
    if not api.url:
        raise PrefectUnavailable(
            f"capcover serve needs a running Prefect server ({api.where}; the temporary "
            f"server cannot schedule): {start_hint()}"
        )
    import requests

    from capcover.ingest.wait import WaitExpired, call_within

    url = api.url.rstrip("/")
    try:
        # The whole answer within the time, not each read: a dripping server is no server.
        resp = call_within(API_DEADLINE_S, lambda: requests.get(f"{url}/health", timeout=timeout_s))
        resp.raise_for_status()
    except (requests.RequestException, WaitExpired) as exc:
        kind = type(exc).__name__
        raise PrefectUnavailable(
            f"no Prefect server answers at {url} ({api.where}; {kind}): {start_hint()}"
        ) from None
    return url


def serve(settings: Settings) -> None:
    """Create/update the deployment and poll for its runs until interrupted (blocks)."""
    from prefect.client.schemas.objects import ConcurrencyLimitConfig, ConcurrencyLimitStrategy
    from prefect.schedules import Cron
    from prefect.types.entrypoint import EntrypointType

    from capcover.flows.daily import daily_flow

    schedule = Cron(settings.schedule_cron, timezone=settings.schedule_timezone)
    daily_flow.serve(
        name=DEPLOYMENT_NAME,
        schedules=[schedule],
        global_limit=ConcurrencyLimitConfig(
            limit=1, collision_strategy=ConcurrencyLimitStrategy.CANCEL_NEW
        ),
        description="capcover daily: CoinGecko + GPU quotes -> DuckDB -> coverage report",
        tags=["capcover"],
        # Keep the schedule active while serve is down: runs missed meanwhile go Late and
        # are caught up (once) when serve comes back.
        pause_on_shutdown=False,
        print_starting_message=False,
        # `capcover.flows.daily.daily_flow`, importable from the installed package whatever the cwd.
        entrypoint_type=EntrypointType.MODULE_PATH,
    )


# -- the next scheduled run, for `capcover status` (plain HTTP: no Prefect import) -----------


@dataclass
class NextRun:
    at: datetime | None
    source: str  # where the answer came from, said to the user


def next_scheduled_from_api(
    api_url: str, timeout_s: float = 3.0, *, where: str = "PREFECT_API_URL"
) -> NextRun | None:
    """The deployment's next Scheduled flow run from the Prefect API, or None if unreachable
    or the deployment does not exist there."""
    import requests

    url = api_url.rstrip("/")
    http = api_session(retries=2)
    try:
        resp = http.get(f"{url}/deployments/name/{FULL_NAME}", timeout=timeout_s)
        if resp.status_code == 404:
            return None
        resp.raise_for_status()
        dep = resp.json()
        body = {
            "deployments": {"id": {"any_": [dep["id"]]}},
            "flow_runs": {"state": {"type": {"any_": ["SCHEDULED"]}}},
            "sort": "EXPECTED_START_TIME_ASC",
            "limit": 1,
        }
        runs = http.post(
            f"{url}/flow_runs/filter",
            data=json.dumps(body),
            headers={"content-type": "application/json"},
            timeout=timeout_s,
        )
        runs.raise_for_status()
        found = runs.json()
        paused = " (schedule paused)" if dep.get("paused") else ""
        if not found:
            return NextRun(
                None, f"Prefect API at {url} ({where}): no scheduled run of {FULL_NAME}{paused}"
            )
        at = datetime.fromisoformat(found[0]["expected_start_time"].replace("Z", "+00:00"))
    except (requests.RequestException, ValueError, KeyError, TypeError, AttributeError):
        return None  # not an answer of Prefect's shape: as if it did not answer
    return NextRun(at, f"Prefect API at {url} ({where}), deployment {FULL_NAME}{paused}")


# The whole lookup of the next run in the Prefect API (two requests, retries included), and
# serve's health check, end within this many seconds: a server that drips bytes or never
# answers does not hang `status` or `serve`.
API_DEADLINE_S = 5.0


def next_scheduled(settings: Any, api: ApiSource | None = None) -> NextRun:
    """From the Prefect API (`api`, default: the one `capcover run` uses) when it answers
    within API_DEADLINE_S, else computed from the cron setting; `source` says which, naming
    the API and where it was configured."""
    api = prefect_api() if api is None else api
    if api.url:
        from capcover.ingest.wait import WaitExpired, call_within

        url, where = api.url, api.where
        try:
            found = call_within(API_DEADLINE_S, lambda: next_scheduled_from_api(url, where=where))
        except WaitExpired:
            found, late = None, True
        else:
            late = False
        if found is not None:
            return found
        why = f"no deployment {FULL_NAME} at {api.url} ({api.where}), or it did not answer"
        if late:
            why = (
                f"the Prefect API at {api.url} ({api.where}) gave no complete answer within "
                f"{API_DEADLINE_S:g} s"
            )
    else:
        why = api.where
    at = next_run(settings.schedule_cron, settings.schedule_timezone)
    return NextRun(
        at,
        f"computed from schedule_cron '{settings.schedule_cron}' "
        f"({settings.schedule_timezone}); {why}",
    )


def cmd_serve(settings: Settings) -> int:
    """`capcover serve`: 2 when no Prefect server answers (one line says how to start one)."""
    import sys

    try:
        api = check_server(prefect_api())
    except PrefectUnavailable as exc:
        from capcover.model.text import terminal_text
        from capcover.report.advice import pasteable

        print(f"capcover: error: {terminal_text(pasteable(str(exc)))}", file=sys.stderr)
        return 2
    at = next_run(settings.schedule_cron, settings.schedule_timezone)
    print(
        f"capcover serve: deployment {FULL_NAME} on {api}, cron '{settings.schedule_cron}' "
        f"({settings.schedule_timezone}), next run {at.isoformat()}; one run at a time, "
        f"missed runs caught up once; one line per run below. Ctrl-C stops serving (the "
        f"schedule stays).",
        flush=True,
    )
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    try:
        serve(settings)
    except KeyboardInterrupt:
        pass
    except Exception as exc:  # noqa: BLE001 - e.g. the server went away: one line, exit 1
        print(
            f"capcover: error: serving {FULL_NAME} stopped: {one_line(exc)}",
            file=sys.stderr,
        )
        return 1
    print(
        "capcover serve: stopped. The schedule stays on the server; runs that fall due "
        "meanwhile are caught up once when `capcover serve` starts again.",
        flush=True,
    )
    return 0
