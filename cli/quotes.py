"""`capcover quotes list` and `capcover quotes add`.

`list` only reads the warehouse (never imports Prefect); `--stats` prices each group with the
price method (model/prices.py). `add` validates one published quote and appends it to the
user's quotes file (CAPCOVER_QUOTES_FILE, default <db stem>-quotes.toml beside the warehouse, read
together with the shipped curated file), bumping the file's version; the validation and the
file handling are ingest/curated.py's.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from capcover.cli.common import (
    EXIT_USAGE,
    CommandFailed,
    columns_given,
    echo,
    fail,
    load,
    print_table,
)
from capcover.errors import one_line

if TYPE_CHECKING:
    import click

    from capcover.model.scenarios import Scenario


def quotes_list(
    db: str | None,
    sku: str | None,
    kind: str | None,
    source: str | None,
    day: date | None,
    stats: bool,
    fmt: str,
    wide: bool = False,
    columns: str | None = None,
) -> int:
    """`capcover quotes list`: stored quotes, or with `stats` the price method per group."""
    from capcover.api import Reader
    from capcover.report.views import QUOTE_STATS, QUOTES

    picked = columns_given(columns)
    reader = Reader(db=db)
    if stats:
        cols, rows = reader.quote_stats(sku=sku, kind=kind, day=day)
    else:
        cols, rows = reader.quotes(sku=sku, kind=kind, source=source, day=day)
    filters = ", ".join(
        f"{name} {value}"
        for name, value in (("sku", sku), ("kind", kind), ("source", source), ("date", day))
        if value
    )
    code, _ = print_table(
        QUOTE_STATS if stats else QUOTES,
        cols,
        rows,
        fmt=fmt,
        wide=wide,
        picked=picked,
        what="capcover quotes list" + (" --stats" if stats else ""),
        title="GPU quote statistics" if stats else "GPU quotes",
        empty=f"no GPU quotes{f' match {filters}' if filters else ''} in {reader.db} — "
        "run `capcover run` first, or widen the filters",
    )
    return code


def add_quote(day: date | None, options: dict[str, Any]) -> None:
    """`capcover quotes add`: validate one published quote and append it to the user's quotes
    file."""
    from capcover.flows.clients import coingecko_client, curated_quotes_path, user_quotes_path
    from capcover.ingest.curated import (
        BadInput,
        QuotesFileBusy,
        append_entry,
        build_entry,
        check_price_usd,
        convert_entry,
        locked,
        same_quote,
    )
    from capcover.ingest.errors import IngestError
    from capcover.model.text import safe_href

    if options.get("url") is not None and safe_href(options["url"]) is None:
        fail(
            "--url must be an absolute http(s) URL without spaces, e.g. "
            "https://example.com/gpu-prices (the HTML report links only those)",
            EXIT_USAGE,
        )
    args = SimpleNamespace(date=day, **options)
    settings = load()
    path = user_quotes_path(settings)
    today = datetime.now(UTC).date()
    try:
        entry = build_entry(args, today)
        # A quote already there is refused before any rate is fetched (checked again under
        # the file's lock below, against a `quotes add` running at the same moment).
        for known in (curated_quotes_path(settings), path):
            if same_quote(known, entry):
                raise BadInput(f"this quote is already in {known}")
        how = convert_entry(
            entry, args, today, lambda: coingecko_client(settings).exchange_rates().record
        )
        check_price_usd(entry)
    except BadInput as exc:
        fail(str(exc), EXIT_USAGE)
    except (IngestError, ValueError) as exc:
        fail(f"could not convert {entry['currency']}: {one_line(exc)} — pass --usd-per-unit")
    if how:
        entry["note"] = f"{entry['note']}; {how}" if entry.get("note") else how
    try:
        # Read, check and replace under the file's lock: another `quotes add` running at the
        # same moment waits, then sees this quote (nothing lost, no duplicate).
        with locked(path, settings.lock_budget_s):
            for known in (curated_quotes_path(settings), path):
                if same_quote(known, entry):
                    fail(f"this quote is already in {known}", EXIT_USAGE)
            version = append_entry(path, entry)
    except QuotesFileBusy as exc:
        fail(str(exc))
    except OSError as exc:
        fail(f"cannot write {path}: {exc.strerror}")
    except CommandFailed:
        raise
    except Exception as exc:  # noqa: BLE001 - an existing bad entry: the file is left as it was
        fail(f"{one_line(exc)} (file unchanged)")
    usd = entry["price"] * entry.get("usd_per_unit", 1.0) / entry.get("gpu_count", 1)
    unit = "GPU-hour" if entry["kind"] == "rental_hourly" else "GPU"
    echo(
        f"added {entry['sku']} {entry['kind']} quote of {entry['observed']}: "
        f"{entry['price']:,.2f} {entry['currency']} (= ${usd:,.2f} per {unit}) from "
        f"{entry['source']} to {path} (version {version}); the next "
        f"`capcover run` loads it"
    )
    use = pricing_note(entry, settings.scenarios())
    echo(use, err=use.startswith("warning:"))


def pricing_note(entry: dict[str, Any], scenarios: list[Scenario]) -> str:
    """One line: the scenarios a new quote can price, by the rules the run prices with
    (model/prices.py): same SKU and quote kind; for a rental, the scenario's market selects the
    quote's tier (a committed_1y quote prices a committed_1y scenario, never an on-demand one);
    for a purchase, the scenario's condition takes the quote's; then the form factor. Else a
    warning saying why it prices none, with what to pass."""
    from capcover.model.prices import condition_matches
    from capcover.model.tiers import market_of, tier_from_label

    form = entry.get("form_factor") or "unknown"
    kind = entry["kind"]
    same = [s for s in scenarios if s.gpu_sku == entry["sku"] and s.price.quote_kind == kind]
    if kind == "rental_hourly":
        label = entry.get("tier")
        market = market_of(tier_from_label(label if isinstance(label, str) else None, kind=kind))
        markets = [s for s in same if s.market == market]
        wanted_words = f"the {market or 'unknown'} market"
    else:
        condition = entry.get("condition")
        markets = [s for s in same if condition_matches(condition, s.condition)]
        wanted_words = f"{'used' if condition_matches(condition, 'used') else 'new'} parts"
    fits = [s.name for s in markets if s.form_factor in ("any", form)]
    if fits:
        return f"it can price: {', '.join(fits)}"
    if not markets:
        return (
            f"warning: no scenario prices {entry['sku']} {kind} quotes of {wanted_words}; it is "
            f"stored and listed, and priced by a scenario that asks for it"
        )
    wanted = sorted({s.form_factor for s in markets})
    names = ", ".join(s.name for s in markets)
    if form == "unknown":
        return (
            f"warning: no scenario will price it: its form factor is unknown (neither --label "
            f"nor --form-factor tells it) and {names} price(s) {'/'.join(wanted)} only; add "
            f"it again with --form-factor {wanted[0]} if the source's GPU is that"
        )
    return (
        f"warning: no scenario will price it: its form factor {form} is not the "
        f"{'/'.join(wanted)} that {names} price(s)"
    )


def register(group: click.Group) -> None:
    import click

    from capcover.cli.options import DATE, db_option, format_option, table_options
    from capcover.ingest import CONFIDENCE_LEVELS, FORM_FACTORS, RENTAL_TIERS
    from capcover.ingest import QUOTE_KINDS as KINDS

    @group.group("quotes")
    def quotes_group() -> None:
        """List / add GPU price quotes."""

    @quotes_group.command("list")
    @click.option("--sku", help="normalised SKU, e.g. H100")
    @click.option("--kind", type=click.Choice(KINDS))
    @click.option("--source", help="e.g. vastai, runpod, or a curated source name")
    @click.option("--date", "day", type=DATE, help="quotes observed on this day")
    @click.option(
        "--stats",
        is_flag=True,
        help="the price method per SKU, form factor, kind and market: count, "
        "quartiles, central value, sources",
    )
    @format_option
    @table_options
    @db_option
    def list_cmd(
        sku: str | None,
        kind: str | None,
        source: str | None,
        day: date | None,
        stats: bool,
        fmt: str,
        wide: bool,
        columns: str | None,
    ) -> int:
        """Stored quotes (default: each source's latest)."""
        from capcover.cli.options import root_db

        return quotes_list(root_db(), sku, kind, source, day, stats, fmt, wide, columns)

    @quotes_group.command("add")
    @click.option("--sku", help="normalised SKU from the catalogue, e.g. H100")
    @click.option("--label", help="the GPU as the source wrote it (default: --sku)")
    @click.option(
        "--price",
        type=float,
        required=True,
        help="price in --currency: per GPU (purchase) or per hour (rental)",
    )
    @click.option("--currency", default="USD", show_default=True, help="ISO code")
    @click.option(
        "--usd-per-unit",
        type=float,
        help="USD per 1 unit of --currency on --date (needed for past non-USD)",
    )
    @click.option("--source", required=True, help="who published the price")
    @click.option("--url", help="where it was published")
    @click.option("--date", "day", type=DATE, help="publication date (default today)")
    @click.option("--kind", type=click.Choice(KINDS), default="purchase", show_default=True)
    @click.option("--form-factor", type=click.Choice(FORM_FACTORS))
    @click.option("--memory-gb", type=float)
    @click.option(
        "--gpu-count", type=int, default=1, show_default=True, help="GPUs the price is for"
    )
    @click.option("--region")
    @click.option("--condition", help="e.g. new, used, refurbished")
    @click.option(
        "--confidence",
        type=click.Choice(CONFIDENCE_LEVELS),
        help="high: the vendor's own; medium: an analyst or newspaper; low: a blog or estimate",
    )
    @click.option(
        "--tier",
        type=click.Choice(RENTAL_TIERS),
        help="rentals: a committed term (a contract price); default on-demand",
    )
    @click.option("--note")
    @db_option
    def add_cmd(day: date | None, **options: Any) -> None:
        """Add a published quote to your quotes file (beside the warehouse)."""
        add_quote(day, options)
