"""The daily Prefect flow: ingest -> load -> model -> report, as tasks around flows/pipeline.py.

Tasks never retry (retries live in the HTTP layer only) and never cache (a daily pull must not
be served from yesterday's cache).
"""

from __future__ import annotations

from datetime import UTC, datetime

from flows.prefect_env import configure

configure()

from prefect import flow, get_run_logger, task  # noqa: E402
from prefect.cache_policies import NO_CACHE  # noqa: E402

from flows import pipeline  # noqa: E402
from flows.settings import Settings, load_settings  # noqa: E402
from warehouse.db import open_warehouse  # noqa: E402

fetch_market = task(pipeline.fetch_market, name="ingest-coingecko", cache_policy=NO_CACHE)
fetch_quotes = task(pipeline.fetch_quotes, name="ingest-gpu-quotes", cache_policy=NO_CACHE)


@task(name="load-model-report", cache_policy=NO_CACHE)
def load_model_report(settings: Settings, run_id: str, kind: str, started_at: datetime,
                      market: pipeline.MarketPull, quotes: list) -> pipeline.RunResult:
    with open_warehouse(settings.db, lock_budget_s=settings.lock_budget_s) as wh:
        return pipeline.load_and_report(wh, settings, run_id=run_id, kind=kind,
                                        started_at=started_at, market=market, quotes=quotes)


@flow(name="capcover-daily", log_prints=False)
def daily_flow(kind: str = "daily") -> pipeline.RunResult:
    # Settings are read inside the flow, never passed as parameters: Prefect stores flow
    # parameters in its database, and settings hold secrets.
    settings = load_settings()
    run_id, started = pipeline.new_run_id(), datetime.now(UTC)
    logger = get_run_logger()
    try:
        market = fetch_market(settings)
        quotes = fetch_quotes(settings)
        result = load_model_report(settings, run_id, kind, started, market, quotes)
    except Exception as exc:
        pipeline.record_failure(settings, run_id=run_id, kind=kind, started_at=started,
                                error=exc)
        raise
    logger.info("run %s: as of %s, %d report rows", run_id, result.as_of_date,
                len(result.reports))
    return result
