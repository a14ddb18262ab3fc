"""`capcover status`: the last runs from the warehouse and the next scheduled one.

Read-only and Prefect-free (the public API's Reader.status): the warehouse is opened
`read_only=True` and released at once; the next run comes over plain HTTP from the Prefect API
that `capcover run` would use (flows/prefect_env.py's `prefect_api`: Prefect's own settings,
imported only when some source names an API) when it answers, else it is computed from the
cron setting, and the output says which. A run made by a Prefect flow names its flow run (and
where the Prefect UI shows it, when the API is known).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from capcover.cli.common import EXIT_FAILED, EXIT_OK, EXIT_USAGE, echo, fail, nothing

if TYPE_CHECKING:
    import click

MAX_LIMIT = 100_000  # `--limit 10^21` is a usage error (exit 2), not an overflow in DuckDB


def status_data(db: str | None, limit: int) -> dict[str, Any]:
    from capcover.api import Reader

    reader = Reader(db=db)
    now = reader.status(limit=limit)
    return {
        "db": reader.db,
        "columns": now.runs.columns,
        "rows": now.runs.rows,
        "next_run_at": now.next_run.at,
        "next_run_source": now.next_run.source,
    }


def _next_line(data: dict[str, Any]) -> str:
    from capcover.model.text import fmt_time

    at = fmt_time(data["next_run_at"]) if data["next_run_at"] else "none"
    return f"next scheduled run: {at} — {data['next_run_source']}"


def _flow_run_lines(runs: list[dict[str, Any]]) -> list[str]:
    """For the latest run and every failed run shown: its flow run and where to see it."""
    lines = []
    for n, run in enumerate(runs):
        if not run.get("flow_run_id") or (n and run.get("status") == "ok"):
            continue
        url = run.get("flow_run_url")
        where = f" — {url}" if url else ""
        lines.append(
            f"run {run['run_id']} ({run['status']}): Prefect flow run {run['flow_run_id']}{where}"
        )
    return lines


def render_status(
    data: dict[str, Any], fmt: str, *, wide: bool = False, picked: Sequence[str] | None = None
) -> str:
    from capcover.report.advice import flow_run_url
    from capcover.report.tables import render, wrap_paragraph
    from capcover.report.views import STATUS, choose

    runs = [dict(zip(data["columns"], r, strict=True)) for r in data["rows"]]
    for run in runs:
        if "flow_run_id" in run:
            run["flow_run_url"] = flow_run_url(run["flow_run_id"])
    if fmt == "json":
        if picked:
            runs = [{k: run.get(k) for k in picked} for run in runs]
        from capcover.model.text import json_text

        return json_text(
            {
                "runs": runs,
                "next_run_at": data["next_run_at"],
                "next_run_source": data["next_run_source"],
            },
            indent=2,
        )
    cols, rows, labels = choose(
        STATUS,
        data["columns"],
        data["rows"],
        fmt=fmt,
        wide=wide,
        picked=picked,
        what="capcover status",
    )
    table = render(
        cols,
        rows,
        fmt,
        title="capcover runs (latest first)",
        labels=labels,
        width=0 if wide else None,
    )
    if fmt == "csv":
        return table
    lines = [table, *_flow_run_lines(runs), _next_line(data)]
    if fmt == "table" and not wide:
        lines = [table, *(wrap_paragraph(line, indent="  ") for line in lines[1:])]
    return "\n".join(lines)


def status(
    db: str | None, limit: int, fmt: str, wide: bool = False, columns: str | None = None
) -> int:
    """`capcover status`: the last `limit` runs and the next scheduled one; the exit code."""
    from capcover.api import RUN_COLUMNS
    from capcover.report.views import STATUS, ColumnError, available, parse_columns

    try:
        picked = parse_columns(columns)
        if picked:
            known = available(STATUS, RUN_COLUMNS)
            unknown = [c for c in picked if c not in known]
            if unknown:
                raise ColumnError(
                    f"capcover status has no column {', '.join(repr(c) for c in unknown)}; "
                    f"its columns: {', '.join(known)}"
                )
    except ColumnError as exc:
        fail(str(exc), EXIT_USAGE)
    data = status_data(db, limit)
    if picked and fmt != "json":  # an older warehouse lacks some columns
        picked = [c for c in picked if c in data["columns"] or c in STATUS.derived]
    text = render_status(data, fmt, wide=wide, picked=picked)
    if fmt == "csv" and data["rows"]:  # keep CSV pure; the schedule line goes to stderr
        echo(_next_line(data), err=True)
    if not data["rows"]:
        return nothing(
            f"no runs recorded in {data['db']} yet — run `capcover run` or `capcover serve`",
            fmt,
            text,
        )
    echo(text)
    latest = dict(zip(data["columns"], data["rows"][0], strict=True))
    return EXIT_OK if latest["status"] == "ok" else EXIT_FAILED


def register(group: click.Group) -> None:
    import click

    from capcover.cli.options import db_option, format_option, root_db, table_options

    @group.command("status")
    @click.option(
        "--limit",
        type=click.IntRange(min=1, max=MAX_LIMIT),
        default=10,
        show_default=True,
        help="runs to show",
    )
    @format_option
    @table_options
    @db_option
    def status_cmd(limit: int, fmt: str, wide: bool, columns: str | None) -> int:
        """The last runs and the next scheduled one; exit 0 when the latest run succeeded, 1 when
        it failed or none ran."""
        return status(root_db(), limit, fmt, wide, columns)
