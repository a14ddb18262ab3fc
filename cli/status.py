"""`capcover status`: the last runs from the warehouse and the next scheduled one.

Read-only: the warehouse is opened `read_only=True` and released at once; the next run comes
over plain HTTP from the Prefect API that `capcover run` would use (flows/prefect_env.py's
`prefect_api`: Prefect's own settings, imported only when some source names an API) when it
answers, else it is computed from the cron setting, and the output says which.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import click

from capcover.cli.common import EXIT_FAILED, EXIT_OK, echo, without

MAX_LIMIT = 100_000  # `--limit 10^21` is a usage error (exit 2), not an overflow in DuckDB
# Tables leave these out; CSV and JSON carry every column (capcover.api.RUN_COLUMNS).
DETAIL_ONLY = frozenset(
    {"coins_loaded", "quotes_loaded", "http_requests", "http_retries", "published_to"}
)


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


def render_status(data: dict[str, Any], fmt: str) -> str:
    from capcover.report.tables import render

    if fmt == "json":
        runs = [dict(zip(data["columns"], r, strict=True)) for r in data["rows"]]
        return json.dumps(
            {
                "runs": runs,
                "next_run_at": data["next_run_at"],
                "next_run_source": data["next_run_source"],
            },
            default=str,
            indent=2,
        )
    cols, rows = data["columns"], data["rows"]
    if fmt in ("table", "markdown"):
        cols, rows = without(cols, rows, DETAIL_ONLY)
    table = render(cols, rows, fmt, title="capcover runs (latest first)")
    at = data["next_run_at"].isoformat() if data["next_run_at"] else "none"
    return f"{table}\nnext scheduled run: {at} — {data['next_run_source']}"


def status(db: str | None, limit: int, fmt: str) -> int:
    """`capcover status`: the last `limit` runs and the next scheduled one; the exit code."""
    data = status_data(db, limit)
    text = render_status(data, fmt)
    if fmt == "csv":  # keep CSV pure; the schedule line goes to stderr
        text, _, note = text.rpartition("\nnext scheduled run: ")
        echo(f"next scheduled run: {note}", err=True)
    echo(text)
    if not data["rows"]:
        echo(
            f"capcover: error: no runs recorded in {data['db']} yet — run `capcover run` "
            f"or `capcover serve`",
            err=True,
        )
        return EXIT_FAILED
    latest = dict(zip(data["columns"], data["rows"][0], strict=True))
    return EXIT_OK if latest["status"] == "ok" else EXIT_FAILED


def register(group: click.Group) -> None:
    import click

    from capcover.cli.options import format_option, root_db

    @group.command("status")
    @click.option(
        "--limit",
        type=click.IntRange(min=1, max=MAX_LIMIT),
        default=10,
        show_default=True,
        help="runs to show",
    )
    @format_option
    def status_cmd(limit: int, fmt: str) -> int:
        """The last runs and the next scheduled one; exit 0 when the latest run succeeded, 1 when
        it failed or none ran."""
        return status(root_db(), limit, fmt)
