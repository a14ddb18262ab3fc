"""`capcover quotes list` and `capcover quotes add`.

`list` only reads the warehouse (never imports Prefect). `add` validates one published quote
and appends it to the curated quotes file (CAPCOVER_QUOTES_FILE), bumping the file's version;
the validation and the file handling are ingest/curated.py's.
"""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace

import click

from cli.common import DATE, EXIT_USAGE, echo, fail, format_option, load
from ingest import FORM_FACTORS
from ingest import QUOTE_KINDS as KINDS


@click.group("quotes")
def quotes_group() -> None:
    """List / add GPU price quotes."""


@quotes_group.command("list")
@click.option("--sku", help="normalised SKU, e.g. H100")
@click.option("--kind", type=click.Choice(KINDS))
@click.option("--source", help="e.g. vastai, runpod, or a curated source name")
@click.option("--date", "day", type=DATE, help="quotes observed on this day")
@click.option("--stats", is_flag=True,
              help="count, min, median, max and sources per day, SKU and kind")
@format_option
def list_cmd(sku, kind, source, day, stats: bool, fmt: str) -> None:
    """Stored quotes (default: each source's latest)."""
    from report.tables import render
    from warehouse.db import open_warehouse
    from warehouse.quotes import list_quotes, quote_stats

    settings = load()
    with open_warehouse(settings.db, read_only=True, lock_budget_s=settings.lock_budget_s) as wh:
        wh.require(3, "the GPU feeds schema")  # warehouse/migrations/003_gpu_feeds.sql
        if stats:
            cols, rows = quote_stats(wh, sku=sku, kind=kind, day=day)
        else:
            cols, rows = list_quotes(wh, sku=sku, kind=kind, day=day, source=source)
    if not rows:
        fail(f"no GPU quotes match in {settings.db} — run `capcover run` first, or widen the "
             f"filters")
    echo(render(cols, rows, fmt, title="GPU quote statistics" if stats else "GPU quotes"))


@quotes_group.command("add")
@click.option("--sku", help="normalised SKU from the catalogue, e.g. H100")
@click.option("--label", help="the GPU as the source wrote it (default: --sku)")
@click.option("--price", type=float, required=True,
              help="price in --currency: per GPU (purchase) or per hour (rental)")
@click.option("--currency", default="USD", show_default=True, help="ISO code")
@click.option("--usd-per-unit", type=float,
              help="USD per 1 unit of --currency on --date (needed for past non-USD)")
@click.option("--source", required=True, help="who published the price")
@click.option("--url", help="where it was published")
@click.option("--date", "day", type=DATE, help="publication date (default today)")
@click.option("--kind", type=click.Choice(KINDS), default="purchase", show_default=True)
@click.option("--form-factor", type=click.Choice(FORM_FACTORS))
@click.option("--memory-gb", type=float)
@click.option("--gpu-count", type=int, default=1, show_default=True,
              help="GPUs the price is for")
@click.option("--region")
@click.option("--condition", help="e.g. new, used, low confidence")
@click.option("--note")
def add_cmd(day, **options) -> None:
    """Add a published quote to the curated quotes file."""
    from ingest.clients import curated_quotes_path
    from ingest.curated import BadInput, append_entry, build_entry, convert_entry, same_quote
    from ingest.errors import IngestError

    args = SimpleNamespace(date=day, **options)
    settings = load()
    path = curated_quotes_path(settings)
    today = datetime.now(UTC).date()
    try:
        entry = build_entry(args, today)
        if same_quote(path, entry):
            raise BadInput(f"this quote is already in {path}")
        how = convert_entry(entry, args, today, settings)
    except BadInput as exc:
        fail(str(exc), EXIT_USAGE)
    except (IngestError, ValueError) as exc:
        fail(f"could not convert {entry['currency']}: {str(exc).splitlines()[0]} — pass "
             f"--usd-per-unit")
    if how:
        entry["note"] = f"{entry['note']}; {how}" if entry.get("note") else how
    try:
        version = append_entry(path, entry)
    except OSError as exc:
        fail(f"cannot write {path}: {exc.strerror}")
    except Exception as exc:  # noqa: BLE001 - an existing bad entry: the file is left as it was
        fail(f"{str(exc).splitlines()[0]} (file unchanged)")
    usd = entry["price"] * entry.get("usd_per_unit", 1.0) / entry.get("gpu_count", 1)
    unit = "GPU-hour" if entry["kind"] == "rental_hourly" else "GPU"
    echo(f"added {entry['sku']} {entry['kind']} quote of {entry['observed']}: "
         f"{entry['price']:,.2f} {entry['currency']} (= ${usd:,.2f} per {unit}) from "
         f"{entry['source']} to {path} (version {version}); the next "
         f"`capcover run` loads it")


def register(group: click.Group) -> None:
    group.add_command(quotes_group)
