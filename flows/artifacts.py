"""Prefect artifacts of a daily run: the report table and a short markdown summary, visible in
the Prefect UI beside the flow run (they work with the temporary local server too)."""

from __future__ import annotations

import logging

from capcover.model.run import RunResult
from capcover.report.artifacts import artifact_keys, report_table, summary_markdown

log = logging.getLogger("capcover")


async def publish_artifacts(result: RunResult) -> None:
    """Create both artifacts for the current (async) flow run; a failure is logged, never
    raised (the run's data is already committed)."""
    from prefect.artifacts import acreate_markdown_artifact, acreate_table_artifact

    table_key, summary_key = artifact_keys(result.kind)
    try:
        await acreate_table_artifact(
            table=report_table(result),
            key=table_key,
            description=f"Coverage per scenario, {result.as_of_date}",
        )
        await acreate_markdown_artifact(
            markdown=summary_markdown(result),
            key=summary_key,
            description=f"capcover run {result.run_id}",
        )
    except Exception as exc:  # noqa: BLE001 - artifacts are a view, not the record
        log.warning("could not publish Prefect artifacts: %s", exc)
