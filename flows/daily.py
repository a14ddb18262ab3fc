"""The daily Prefect flow: ingest -> load -> model -> report, as tasks around flows/pipeline.py.

Tasks never retry (retries live in the HTTP layer only) and never cache (a daily pull must not
be served from yesterday's cache).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

from flows.prefect_env import configure

configure()

from prefect import flow, get_run_logger, task  # noqa: E402
from prefect.cache_policies import NO_CACHE  # noqa: E402

from flows import pipeline  # noqa: E402
from flows.artifacts import publish_artifacts  # noqa: E402
from flows.publish import publish_after_run  # noqa: E402
from flows.settings import Settings, load_settings  # noqa: E402
from warehouse.db import open_warehouse  # noqa: E402

fetch_market = task(pipeline.fetch_market, name="ingest-coingecko", cache_policy=NO_CACHE)
fetch_quotes = task(pipeline.fetch_quotes, name="ingest-gpu-quotes", cache_policy=NO_CACHE)


@task(name="load-model-report", cache_policy=NO_CACHE)
def load_model_report(settings: Settings, run_id: str, kind: str, started_at: datetime,
                      market: pipeline.MarketPull, quotes: list,
                      step_durations: dict | None = None) -> pipeline.RunResult:
    from prefect.runtime import flow_run

    # The write lock is held only here: one transaction, then the Parquet snapshot is exported
    # from the committed data on the same connection, then the file is released.
    with open_warehouse(settings.db, lock_budget_s=settings.lock_budget_s) as wh:
        result = pipeline.load_and_report(wh, settings, run_id=run_id, kind=kind,
                                          started_at=started_at, market=market, quotes=quotes,
                                          step_durations=step_durations,
                                          flow_run_id=flow_run.get_id())
        publish_after_run(wh, settings, run_id=run_id, kind=kind, as_of_date=result.as_of_date)
        return result


@task(name="deliver-alerts", cache_policy=NO_CACHE)
def deliver_alerts(settings: Settings, result: pipeline.RunResult) -> pipeline.RunResult:
    """After commit: Apprise channels plus the Prefect event; never fails the run."""
    from flows.alerts import deliver_after_run

    deliver_after_run(settings, result)
    return result


@flow(name="capcover-daily", log_prints=False)
def daily_flow(kind: str = "daily") -> pipeline.RunResult:
    # Settings are read inside the flow, never passed as parameters: Prefect stores flow
    # parameters in its database, and settings hold secrets.
    settings = load_settings()
    run_id, started = pipeline.new_run_id(), datetime.now(UTC)
    logger = get_run_logger()
    steps: dict[str, float] = {}
    try:
        t0 = time.monotonic()
        market = fetch_market(settings)
        steps["fetch_market"] = time.monotonic() - t0
        t0 = time.monotonic()
        quotes = fetch_quotes(settings)
        steps["fetch_quotes"] = time.monotonic() - t0
        result = load_model_report(settings, run_id, kind, started, market, quotes, steps)
    except Exception as exc:
        pipeline.record_failure(settings, run_id=run_id, kind=kind, started_at=started,
                                error=exc)
        raise
    result = deliver_alerts(settings, result)
    publish_artifacts(result)  # the report table + a markdown summary in the Prefect UI
    logger.info("run %s: as of %s, %d report rows", run_id, result.as_of_date,
                len(result.reports))
    return result
