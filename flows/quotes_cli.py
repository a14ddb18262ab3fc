"""`capcover quotes list` and `capcover quotes add`.

`list` only reads the warehouse (never imports Prefect). `add` validates one published quote
and appends it to the curated quotes file (CAPCOVER_QUOTES_FILE), bumping the file's version.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import sys
import tempfile
from datetime import UTC, date, datetime
from pathlib import Path

from flows.output import FORMATS, render
from flows.settings import load_settings

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
KINDS = ("purchase", "rental_hourly", "assumption")
FORM_FACTORS = ("SXM", "PCIe", "NVL", "OAM")


class BadInput(Exception):
    """The user's input is invalid; the message says which option and why."""


def _fail(message: str, code: int) -> int:
    print(f"capcover: error: {message}", file=sys.stderr)
    return code


# -- list ------------------------------------------------------------------------------------

def cmd_quotes_list(args: argparse.Namespace) -> int:
    import duckdb

    from warehouse.db import open_warehouse
    from warehouse.quotes import list_quotes, quote_stats

    settings = load_settings()
    with open_warehouse(settings.db, read_only=True, lock_budget_s=settings.lock_budget_s) as wh:
        try:
            if args.stats:
                cols, rows = quote_stats(wh, sku=args.sku, kind=args.kind, day=args.date)
            else:
                cols, rows = list_quotes(wh, sku=args.sku, kind=args.kind, day=args.date,
                                         source=args.source)
        except duckdb.CatalogException:
            return _fail(f"{settings.db} predates the GPU feeds schema (migration 003) — run "
                         f"`capcover run` once to migrate it", EXIT_FAILED)
    if not rows:
        return _fail(f"no GPU quotes match in {settings.db} — run `capcover run` first, or "
                     f"widen the filters", EXIT_FAILED)
    title = "GPU quote statistics" if args.stats else "GPU quotes"
    print(render(cols, rows, args.format, title=title))
    return EXIT_OK


# -- add -------------------------------------------------------------------------------------

def _toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, date):
        return value.isoformat()
    return json.dumps(str(value), ensure_ascii=False)  # a valid TOML basic string


def build_entry(args: argparse.Namespace, today: date) -> dict:
    """The new [[quote]] table from the command line, validated (BadInput on bad input)."""
    from ingest.fx import KNOWN_CURRENCIES
    from ingest.sku import UNMAPPED, load_catalogue, normalise

    if not math.isfinite(args.price) or args.price <= 0:
        raise BadInput(f"--price must be a positive number, got {args.price:g}")
    currency = args.currency.upper()
    if currency not in KNOWN_CURRENCIES:
        raise BadInput(f"--currency {args.currency}: unknown; use an ISO code CoinGecko's "
                       f"/exchange_rates lists (USD, EUR, GBP, JPY, ...)")
    observed = args.date or today
    if observed > today:
        raise BadInput(f"--date {observed} is in the future (today is {today} UTC)")
    source = (args.source or "").strip()
    if not source:
        raise BadInput("--source must name where the price was published")
    if args.gpu_count < 1:
        raise BadInput(f"--gpu-count must be at least 1, got {args.gpu_count}")
    known = [name for name, _, _ in load_catalogue().skus]
    label = (args.label or args.sku or "").strip()
    if not label:
        raise BadInput("give --sku (e.g. H100) or --label (the GPU as the source wrote it)")
    match = normalise(label)
    sku = args.sku
    if sku is not None:
        canon = {k.upper(): k for k in known}.get(sku.upper())
        if canon is None:
            raise BadInput(f"--sku {sku}: not in the SKU catalogue (known: {', '.join(known)})")
        if match.sku not in (UNMAPPED, canon):
            raise BadInput(f"--label {label!r} reads as {match.sku}, not --sku {canon}")
        sku = canon
    elif match.sku == UNMAPPED:
        raise BadInput(f"--label {label!r} matches no SKU in the catalogue; pass --sku")
    else:
        sku = match.sku
    if args.usd_per_unit is not None and (not math.isfinite(args.usd_per_unit)
                                          or args.usd_per_unit <= 0):
        raise BadInput(f"--usd-per-unit must be positive, got {args.usd_per_unit:g}")
    if currency == "USD" and args.usd_per_unit not in (None, 1.0):
        raise BadInput("--usd-per-unit is only for non-USD quotes")

    entry: dict = {"observed": observed, "source": source}
    if args.url:
        entry["source_url"] = args.url
    entry.update({"kind": args.kind, "sku_label": label, "sku": sku})
    form = args.form_factor or match.form_factor
    if form:
        entry["form_factor"] = form
    memory = args.memory_gb if args.memory_gb is not None else match.memory_gb
    if memory:
        entry["memory_gb"] = memory
    if args.gpu_count != 1:
        entry["gpu_count"] = args.gpu_count
    entry["price"] = args.price
    entry["currency"] = currency
    if args.kind == "rental_hourly":
        entry["unit"] = f"{currency}/GPU-hour" if args.gpu_count == 1 else f"{currency}/hour"
    for key in ("region", "condition", "note"):
        if getattr(args, key):
            entry[key] = getattr(args, key)
    return entry


def convert_entry(entry: dict, args: argparse.Namespace, today: date, settings) -> str | None:
    """Give a non-USD entry its `usd_per_unit`: the user's, or CoinGecko's rate of today for a
    quote dated today. Returns a note on where the rate came from."""
    currency = entry["currency"]
    if currency == "USD":
        return None
    if args.usd_per_unit is not None:
        entry["usd_per_unit"] = args.usd_per_unit
        return f"{currency} converted at the given {args.usd_per_unit:g} USD per {currency}"
    if entry["observed"] != today:
        raise BadInput(
            f"a {currency} quote dated {entry['observed']} needs --usd-per-unit (USD per 1 "
            f"{currency} on that day): CoinGecko's /exchange_rates only gives today's rates")
    from flows.pipeline import coingecko_client
    from ingest.fx import parse_exchange_rates

    raw = coingecko_client(settings).exchange_rates()
    rate = parse_exchange_rates(raw).usd_per_unit(currency)
    entry["usd_per_unit"] = rate
    return f"{currency} converted at CoinGecko /exchange_rates of {raw.fetched_at:%Y-%m-%d}"


def append_entry(path: Path, entry: dict) -> int:
    """Append `entry` to the quotes file and bump its version; returns the new version.

    The file is re-parsed before it replaces the old one, and replaced atomically."""
    from ingest.quotes import parse_curated_entries

    text = path.read_text(encoding="utf-8") if path.exists() else ""
    found = re.search(r"^version\s*=\s*(\d+)\s*$", text, flags=re.MULTILINE)
    version = int(found.group(1)) + 1 if found else 1
    if found:
        text = text[:found.start()] + f"version = {version}" + text[found.end():]
    else:
        text = f"version = {version}\n" + text
    block = "\n[[quote]]\n" + "".join(f"{k} = {_toml_value(v)}\n" for k, v in entry.items())
    text = text.rstrip("\n") + "\n" + block
    parse_curated_entries(text, where=str(path))  # never write a file capcover cannot read
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.replace(tmp, path)
    return version


def _same_quote(path: Path, entry: dict) -> bool:
    import tomllib

    if not path.exists():
        return False
    keys = ("observed", "source", "sku_label", "price", "currency", "kind")
    for old in tomllib.loads(path.read_text(encoding="utf-8")).get("quote", []):
        if all(str(old.get(k, "purchase" if k == "kind" else None)) == str(entry.get(k))
               for k in keys):
            return True
    return False


def cmd_quotes_add(args: argparse.Namespace) -> int:
    from ingest.errors import IngestError

    settings = load_settings()
    today = datetime.now(UTC).date()
    try:
        entry = build_entry(args, today)
        if _same_quote(settings.quotes_file, entry):
            raise BadInput(f"this quote is already in {settings.quotes_file}")
        how = convert_entry(entry, args, today, settings)
    except BadInput as exc:
        return _fail(str(exc), EXIT_USAGE)
    except (IngestError, ValueError) as exc:
        return _fail(f"could not convert {entry['currency']}: {str(exc).splitlines()[0]} — "
                     f"pass --usd-per-unit", EXIT_FAILED)
    if how:
        entry["note"] = f"{entry['note']}; {how}" if entry.get("note") else how
    try:
        version = append_entry(settings.quotes_file, entry)
    except OSError as exc:
        return _fail(f"cannot write {settings.quotes_file}: {exc.strerror}", EXIT_FAILED)
    except Exception as exc:  # noqa: BLE001 - an existing bad entry: the file is left as it was
        return _fail(f"{str(exc).splitlines()[0]} (file unchanged)", EXIT_FAILED)
    usd = entry["price"] * entry.get("usd_per_unit", 1.0) / entry.get("gpu_count", 1)
    unit = "GPU-hour" if entry["kind"] == "rental_hourly" else "GPU"
    print(f"added {entry['sku']} {entry['kind']} quote of {entry['observed']}: "
          f"{entry['price']:,.2f} {entry['currency']} (= ${usd:,.2f} per {unit}) from "
          f"{entry['source']} to {settings.quotes_file} (version {version}); the next "
          f"`capcover run` loads it")
    return EXIT_OK


# -- parser ----------------------------------------------------------------------------------

def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from None


def register(sub) -> None:
    """Add `quotes list` and `quotes add` to the `capcover` sub-command parser."""
    quotes = sub.add_parser("quotes", help="list / add GPU price quotes")
    qsub = quotes.add_subparsers(dest="quotes_command", required=True, metavar="ACTION")

    ls = qsub.add_parser("list", help="stored quotes (default: each source's latest)")
    ls.add_argument("--sku", help="normalised SKU, e.g. H100")
    ls.add_argument("--kind", choices=KINDS)
    ls.add_argument("--source", help="e.g. vastai, runpod, or a curated source name")
    ls.add_argument("--date", type=_date, help="quotes observed on this day, YYYY-MM-DD")
    ls.add_argument("--stats", action="store_true",
                    help="count, min, median, max and sources per day, SKU and kind")
    ls.add_argument("--format", choices=FORMATS, default="table")
    ls.set_defaults(func=cmd_quotes_list)

    add = qsub.add_parser("add", help="add a published quote to the curated quotes file")
    add.add_argument("--sku", help="normalised SKU from the catalogue, e.g. H100")
    add.add_argument("--label", help="the GPU as the source wrote it (default: --sku)")
    add.add_argument("--price", type=float, required=True,
                     help="price in --currency: per GPU (purchase) or per hour (rental)")
    add.add_argument("--currency", default="USD", help="ISO code, default USD")
    add.add_argument("--usd-per-unit", type=float,
                     help="USD per 1 unit of --currency on --date (needed for past non-USD)")
    add.add_argument("--source", required=True, help="who published the price")
    add.add_argument("--url", help="where it was published")
    add.add_argument("--date", type=_date, help="publication date, YYYY-MM-DD (default today)")
    add.add_argument("--kind", choices=KINDS, default="purchase")
    add.add_argument("--form-factor", choices=FORM_FACTORS)
    add.add_argument("--memory-gb", type=float)
    add.add_argument("--gpu-count", type=int, default=1, help="GPUs the price is for")
    add.add_argument("--region")
    add.add_argument("--condition", help="e.g. new, used, low confidence")
    add.add_argument("--note")
    add.set_defaults(func=cmd_quotes_add)
