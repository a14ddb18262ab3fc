"""Adding a published quote to a curated quotes file: validation, currency conversion, append.

`capcover quotes add` is a thin layer over `build_entry` -> `convert_entry` -> `append_entry`.
The file is re-parsed by the very parser a run uses before it replaces the old one, so capcover
never writes a file it cannot read.
"""

from __future__ import annotations

import fcntl
import json
import math
import os
import re
import stat
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from capcover.config.defaults import DEFAULTS
from capcover.config.files import FileRefused, loads_toml, read_text
from capcover.ingest.fx import KNOWN_CURRENCIES, parse_exchange_rates
from capcover.ingest.models import RawResponse
from capcover.ingest.quotes import parse_curated_entries
from capcover.ingest.sku import UNMAPPED, load_catalogue, normalise


class BadInput(Exception):
    """The user's input is invalid; the message says which option and why."""


def _toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, date):
        return value.isoformat()
    return json.dumps(str(value), ensure_ascii=False)  # a valid TOML basic string


# The numbers `quotes add` takes (docs/threat-model.md "Numbers"): a price in USD per GPU or
# per GPU-hour within PRICE_USD_RANGE once converted, and the options' own ranges.
PRICE_USD_RANGE = (1e-4, 1e9)
MAX_RAW_PRICE = 1e12  # in the quote's currency (1e12 KRW is about $700M)
MAX_USD_PER_UNIT = 1e6
MAX_MEMORY_GB = 1e5
MAX_GPU_COUNT = 1_000_000


def build_entry(args: SimpleNamespace, today: date) -> dict[str, Any]:
    """The new [[quote]] table from the command line's values (attributes of `args`, named as
    the `capcover quotes add` options), validated: BadInput names the option on bad input."""
    if not math.isfinite(args.price) or not 0 < args.price <= MAX_RAW_PRICE:
        raise BadInput(
            f"--price must be a positive number up to {MAX_RAW_PRICE:g}, got {args.price:g}"
        )
    currency = args.currency.upper()
    if currency not in KNOWN_CURRENCIES:
        raise BadInput(
            f"--currency {args.currency}: unknown; use an ISO code CoinGecko's "
            f"/exchange_rates lists (USD, EUR, GBP, JPY, ...)"
        )
    observed = args.date or today
    if observed > today:
        raise BadInput(f"--date {observed} is in the future (today is {today} UTC)")
    source = (args.source or "").strip()
    if not source:
        raise BadInput("--source must name where the price was published")
    if not 1 <= args.gpu_count <= MAX_GPU_COUNT:
        raise BadInput(f"--gpu-count must be 1 to {MAX_GPU_COUNT:,}, got {args.gpu_count}")
    if args.memory_gb is not None and (
        not math.isfinite(args.memory_gb) or not 0 < args.memory_gb <= MAX_MEMORY_GB
    ):
        raise BadInput(f"--memory-gb must be above 0 and at most {MAX_MEMORY_GB:g}")
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
    if args.usd_per_unit is not None and (
        not math.isfinite(args.usd_per_unit) or not 0 < args.usd_per_unit <= MAX_USD_PER_UNIT
    ):
        raise BadInput(
            f"--usd-per-unit must be positive, at most {MAX_USD_PER_UNIT:g}, got "
            f"{args.usd_per_unit:g}"
        )
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
    tier = getattr(args, "tier", None)
    if tier:
        if args.kind != "rental_hourly":
            raise BadInput(f"--tier {tier} is a rental term: use it with --kind rental_hourly")
        entry["tier"] = tier
    for key in ("region", "condition", "confidence", "note"):
        if getattr(args, key, None):
            entry[key] = getattr(args, key)
    return entry


def convert_entry(
    entry: dict[str, Any],
    args: SimpleNamespace,
    today: date,
    fetch_rates: Callable[[], RawResponse],
) -> str | None:
    """Give a non-USD entry its `usd_per_unit`: the user's, or CoinGecko's rate of today for a
    quote dated today (`fetch_rates`: CoinGecko's /exchange_rates answer, from the wiring).
    Returns a note on where the rate came from."""
    currency = entry["currency"]
    if currency == "USD":
        return None
    if args.usd_per_unit is not None:
        entry["usd_per_unit"] = args.usd_per_unit
        return f"{currency} converted at the given {args.usd_per_unit:g} USD per {currency}"
    if entry["observed"] != today:
        raise BadInput(
            f"a {currency} quote dated {entry['observed']} needs --usd-per-unit (USD per 1 "
            f"{currency} on that day): CoinGecko's /exchange_rates only gives today's rates"
        )
    raw = fetch_rates()
    rate = parse_exchange_rates(raw).usd_per_unit(currency)
    entry["usd_per_unit"] = rate
    return f"{currency} converted at CoinGecko /exchange_rates of {raw.fetched_at:%Y-%m-%d}"


def check_price_usd(entry: dict) -> float:
    """The entry's price in USD per GPU (or per GPU-hour), once converted; BadInput outside
    PRICE_USD_RANGE (a typo of a few zeros, or a rate the wrong way round)."""
    usd = float(entry["price"] * entry.get("usd_per_unit", 1.0) / entry.get("gpu_count", 1))
    low, high = PRICE_USD_RANGE
    if not (math.isfinite(usd) and low <= usd <= high):
        unit = "GPU-hour" if entry.get("kind") == "rental_hourly" else "GPU"
        raise BadInput(
            f"--price {entry['price']:g} {entry['currency']} is ${usd:.4g} per {unit}, outside "
            f"${low:g}..${high:g} — check --price, --currency, --usd-per-unit and --gpu-count"
        )
    return usd


class QuotesFileBusy(Exception):
    """Another process held the quotes file's lock for the whole lock budget."""


@contextmanager
def locked(path: Path, budget_s: float = DEFAULTS.lock_budget_s) -> Iterator[None]:
    """Hold the exclusive lock of quotes file `path` (an flock on `.<name>.lock` beside it,
    not on the file itself, which is replaced) for a read-modify-write; waits at most
    `budget_s` seconds for another process's lock, then QuotesFileBusy."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path.with_name(f".{path.name}.lock"), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        deadline = time.monotonic() + budget_s
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise QuotesFileBusy(
                        f"{path} is being written by another process (waited {budget_s:g} s, "
                        f"CAPCOVER_LOCK_BUDGET_S) — retry when it finishes"
                    ) from None
                time.sleep(0.05)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def append_entry(path: Path, entry: dict) -> int:
    """Append `entry` to the quotes file and bump its version; returns the new version.

    Call it under `locked(path)` (with the duplicate check): two `quotes add` at once would
    otherwise both read the old file and one quote would be lost. The file is re-parsed before
    it replaces the old one, written to disk, and replaced atomically (readers see the old
    file or the new one, never part of one)."""
    text = _quotes_text(path) if path.exists() else ""
    found = re.search(r"^version\s*=\s*(\d+)\s*$", text, flags=re.MULTILINE)
    version = int(found.group(1)) + 1 if found else 1
    if found:
        text = text[: found.start()] + f"version = {version}" + text[found.end() :]
    else:
        text = f"version = {version}\n" + text
    block = "\n[[quote]]\n" + "".join(f"{k} = {_toml_value(v)}\n" for k, v in entry.items())
    text = text.rstrip("\n") + "\n" + block
    parse_curated_entries(text, where=str(path))  # never write a file capcover cannot read
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        if path.exists():  # keep the file's permissions (mkstemp makes it 0600)
            os.chmod(tmp, stat.S_IMODE(os.stat(path).st_mode))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return version


def _quotes_text(path: Path) -> str:
    """The quotes file's text by the rule for every file capcover reads (config/files.py:
    a regular UTF-8 file within the size cap); BadInput naming the file otherwise."""
    try:
        return read_text(path)
    except FileRefused as exc:
        raise BadInput(f"quotes file {exc}") from None


def same_quote(path: Path, entry: dict) -> bool:
    """Whether the quotes file already holds this quote (same day, source, GPU, price)."""
    if not path.exists():
        return False
    keys = ("observed", "source", "sku_label", "price", "currency", "kind")
    try:
        doc = loads_toml(_quotes_text(path), where=str(path))
    except FileRefused as exc:
        raise BadInput(f"quotes file {exc}") from None
    for old in doc.get("quote", []):
        if all(
            str(old.get(k, "purchase" if k == "kind" else None)) == str(entry.get(k)) for k in keys
        ):
            return True
    return False
