"""The few settings a read-only command needs, read without the settings model.

`capcover sql`, `report`, `alerts`, `status`, `quotes list` and `explain` need the warehouse
path and the lock budget (and `sql` the publish folder, `status` the schedule). Building the
full pydantic settings model for them costs more than their query (~130 ms of imports), so this
reader takes exactly those keys from the same places with the same precedence (given values >
`CAPCOVER_*` environment > CAPCOVER_CONFIG file > defaults) and the same strictness: unknown
`CAPCOVER_*` names and file keys are refused as config/sources.py words it, and a value the
plain parsers below do not accept is handed to the full model, so a bad CAPCOVER_DB or
CAPCOVER_LOCK_BUDGET_S fails with exactly the model's one-line message.

Every OTHER setting that is set is checked too (a mistake stops every command, rule C2 and
section 4 of docs/threat-model.md), cheaply: `CHECKS` accepts the plain values (a number within
its range, a path, an http(s) URL, a plan, a list of plain names) without pydantic; a value it
does not accept, and settings it has no plain check for (alert URLs, which need Apprise's
parser, alert scenarios, which need the scenarios, `[[scenario]]` tables), are handed to the
full model with every value set, which refuses a mistake in exactly its one line.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from capcover.config.bounds import PLAIN_NUMBER
from capcover.config.defaults import BOUNDS, ITEM_BOUNDS, SETTING_NAMES
from capcover.config.defaults import DEFAULTS as TABLE
from capcover.config.sources import (
    check_env_names,
    env_values,
    one_line_errors,
    price_max_age,
    publish_path,
    read_config_file,
)

if TYPE_CHECKING:
    from capcover.model.prices import MaxAge

# What every read-only command reads; OPTIONAL keys only when asked for (`sql` the publish
# folder, `status` the schedule, `quotes list --stats` the price method's staleness window).
ALWAYS = ("db", "config", "lock_budget_s")
OPTIONAL = (
    "price_max_age_rental_days",
    "price_max_age_purchase_days",
    "schedule_cron",
    "schedule_timezone",
    "publish_dir",
    "sql_timeout_s",
    "sql_memory_limit_mb",
    "sql_max_rows",
)
SQL_LIMITS = ("sql_timeout_s", "sql_memory_limit_mb", "sql_max_rows")
PRICE_AGE = ("price_max_age_rental_days", "price_max_age_purchase_days")

# The built-in defaults of these keys (config/defaults.py's table), in the model's field order.
DEFAULTS: dict[str, Any] = {
    name: getattr(TABLE, name) for name in SETTING_NAMES if name in (*ALWAYS, *OPTIONAL)
}

# A plain decimal number, as a string (config/bounds.py); anything fancier goes to the model.
_NUMBER = PLAIN_NUMBER
_DAYS = re.compile(r"0|[1-9][0-9]{0,17}")


class _Unsure(Exception):
    """The plain parser does not accept this value; the settings model decides."""


def _path(value: Any) -> Path:
    if isinstance(value, Path):  # e.g. `--db` given as a Path by a caller; the model keeps it
        return value
    if type(value) is str and value.strip():
        return Path(value)
    raise _Unsure


def _seconds(name: str) -> Callable[[Any], float]:
    """A finite number within the setting's range (config/defaults.py)."""

    def parse(value: Any) -> float:
        if type(value) is str and _NUMBER.fullmatch(value):
            number = float(value)
        elif type(value) is float:
            number = value
        elif type(value) is int and abs(value) <= 2**53:  # exactly representable
            number = float(value)
        else:
            raise _Unsure
        if not math.isfinite(number) or not BOUNDS[name].contains(number):
            raise _Unsure
        return number

    return parse


def _whole(name: str) -> Callable[[Any], int]:
    """A whole number within the setting's range; strings only in plain decimal digits."""

    def parse(value: Any) -> int:
        if type(value) is str and _DAYS.fullmatch(value):
            number = int(value)
        elif type(value) is int:
            number = value
        else:
            raise _Unsure
        if not BOUNDS[name].contains(number):
            raise _Unsure
        return number

    return parse


def _schedule_text(value: Any, check: Callable[[str], str]) -> str:
    """`value` through one of config.schedule's checks; anything it refuses goes to the model."""
    if type(value) is not str:
        raise _Unsure
    try:
        return check(value)
    except ValueError:
        raise _Unsure from None


def _cron(value: Any) -> str:
    from capcover.config.schedule import check_cron

    return _schedule_text(value, check_cron)


def _timezone(value: Any) -> str:
    from capcover.config.schedule import check_timezone

    return _schedule_text(value, check_timezone)


def _number_of(name: str) -> Callable[[Any], Any]:
    whole = isinstance(getattr(TABLE, name), int) and not isinstance(getattr(TABLE, name), bool)
    return _whole(name) if whole else _seconds(name)


_URL = re.compile(r"https?://[A-Za-z0-9.\-]+(?::[0-9]{1,5})?(?:/[\x21-\x7e]*)?")


def _url(value: Any) -> str:
    if type(value) is str and _URL.fullmatch(value) and "@" not in value:
        return value
    raise _Unsure


def _one_of(*allowed: str) -> Callable[[Any], str]:
    def parse(value: Any) -> str:
        if type(value) is str and value in allowed:
            return value
        raise _Unsure

    return parse


def _names(pattern: str, *, empty_ok: bool = False) -> Callable[[Any], Any]:
    """A list setting (comma-separated text or a TOML list) of distinct names, each matching
    `pattern`."""
    item = re.compile(pattern)

    def parse(value: Any) -> Any:
        if type(value) is str:
            items = [p.strip() for p in value.split(",") if p.strip()]
        elif type(value) is list:
            items = value
        else:
            raise _Unsure
        if not items and not empty_ok:
            raise _Unsure
        if len(set(map(str, items))) != len(items):
            raise _Unsure
        if not all(type(i) is str and item.fullmatch(i) for i in items):
            raise _Unsure
        return value

    return parse


def _levels(value: Any) -> Any:
    items = value.split(",") if type(value) is str else value
    if type(items) is not list or not items:
        raise _Unsure
    numbers: list[float] = []
    for raw in items:
        text = raw.strip() if type(raw) is str else None
        if text is not None and PLAIN_NUMBER.fullmatch(text):
            number = float(text)
        elif type(raw) in (int, float):
            number = float(raw)
        else:
            raise _Unsure
        if not ITEM_BOUNDS["alert_levels"].contains(number):
            raise _Unsure
        numbers.append(number)
    if len(set(numbers)) != len(numbers):
        raise _Unsure
    return value


def _key(value: Any) -> Any:
    from capcover.config.secrets import clean_key, register_key

    if type(value) is not str:
        raise _Unsure
    if not value.strip():
        return None
    try:
        key = clean_key(value)
    except ValueError:
        raise _Unsure from None
    register_key(key)  # scrubbed from everything this command prints
    return key


# The plain check of every other setting (None: always the model's to judge).
CHECKS: dict[str, Callable[[Any], Any] | None] = {
    **{name: _number_of(name) for name in BOUNDS},
    "db": _path,
    "config": _path,
    "quotes_file": _path,
    "publish_dir": _path,
    "categories": _names(r"[a-z0-9][a-z0-9._-]{0,99}"),
    "coingecko_plan": _one_of("public", "demo", "pro"),
    "coingecko_base_url": _url,
    "coingecko_api_key": _key,
    "vastai_base_url": _url,
    "vastai_gpu_names": _names(r"[A-Za-z0-9][A-Za-z0-9 ._+-]{0,99}"),
    "runpod_base_url": _url,
    "gpuhunt_base_url": _url,
    "gpuhunt_providers": _names(r"[a-z0-9_-]+", empty_ok=True),
    "alert_urls": None,
    "alert_scenarios": None,
    "alert_rules": _names(r"threshold_crossed|relative_change|stale_data"),
    "alert_levels": _levels,
    "schedule_cron": _cron,
    "schedule_timezone": _timezone,
    "scenario": None,
}


PARSERS: dict[str, Callable[[Any], Any]] = {
    "db": _path,
    "config": _path,
    "publish_dir": _path,
    "lock_budget_s": _seconds("lock_budget_s"),
    "schedule_cron": _cron,
    "schedule_timezone": _timezone,
    "price_max_age_rental_days": _whole("price_max_age_rental_days"),
    "price_max_age_purchase_days": _whole("price_max_age_purchase_days"),
    "sql_timeout_s": _seconds("sql_timeout_s"),
    "sql_memory_limit_mb": _whole("sql_memory_limit_mb"),
    "sql_max_rows": _whole("sql_max_rows"),
}


class ReaderSettings:
    """The settings one read-only command asked for, as attributes (`db` a Path,
    `lock_budget_s` seconds, ...); asking for one that was not read is an AttributeError."""

    __slots__ = ("_values",)

    def __init__(self, values: dict[str, Any]) -> None:
        object.__setattr__(self, "_values", dict(values))

    def __getattr__(self, name: str) -> Any:
        values = object.__getattribute__(self, "_values")
        if name in values:
            return values[name]
        raise AttributeError(f"{name} was not read: pass it to load_reader_settings()")

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("ReaderSettings is read-only")

    def __repr__(self) -> str:
        return f"ReaderSettings({self._values!r})"

    def as_dict(self) -> dict[str, Any]:
        return dict(self._values)

    def publish_path(self) -> Path:
        """Where successful runs publish their Parquet snapshot (needs `publish_dir`)."""
        return publish_path(self.db, self.publish_dir)

    def price_max_age(self) -> MaxAge:
        """The price method's staleness window in days (needs the PRICE_AGE keys)."""
        return price_max_age(self.price_max_age_rental_days, self.price_max_age_purchase_days)


def load_reader_settings(keys: Iterable[str] = (), **overrides: Any) -> ReaderSettings:
    """The ALWAYS keys plus `keys` (from OPTIONAL), as `load_settings(**overrides)` would give
    them, or the ConfigError line it would raise for them (the CLI exits 2 on it)."""
    wanted = set(ALWAYS) | set(keys)
    unknown = wanted - set(DEFAULTS)
    if unknown:
        raise ValueError(f"not a reader setting: {', '.join(sorted(unknown))}")
    names = [name for name in DEFAULTS if name in wanted]  # the model's field order
    with one_line_errors():
        return _load(names, overrides)


def _load(names: list[str], overrides: dict[str, Any]) -> ReaderSettings:
    check_env_names(os.environ)
    path = os.environ.get("CAPCOVER_CONFIG")  # the file the model reads (exact name)
    doc = read_config_file(path) if path else {}
    env = env_values(os.environ)
    raw: dict[str, Any] = {}  # every setting that is set, from the first source naming it
    for name in SETTING_NAMES:
        for source in (overrides, env, doc):
            if name in source:
                raw[name] = source[name]
                break
    values = {}
    try:
        for name in names:
            values[name] = PARSERS[name](raw[name]) if name in raw else DEFAULTS[name]
        for name, value in raw.items():
            if name not in values:
                check = CHECKS.get(name)
                if check is None:
                    raise _Unsure
                check(value)
        if "sector_cap_min_usd" in raw or "sector_cap_max_usd" in raw:  # the band's two ends
            low, high = (
                float(raw.get(n, getattr(TABLE, n)))
                for n in ("sector_cap_min_usd", "sector_cap_max_usd")
            )
            if not low < high:
                raise _Unsure
    except _Unsure:
        return _from_model(names, raw)
    return ReaderSettings(values)


def _from_model(names: list[str], raw: dict[str, Any]) -> ReaderSettings:
    """Let the settings model judge every value set: its error line, or its parsed values."""
    from capcover.config.settings import load_settings

    model = load_settings(environ=False, **raw)
    return ReaderSettings({name: getattr(model, name) for name in names})
