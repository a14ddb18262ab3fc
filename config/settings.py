"""Effective configuration: environment over the TOML config file over built-in defaults."""

from __future__ import annotations

import logging
import os
import re
from functools import cache
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
)

from capcover.config.bounds import plain_number_text
from capcover.config.defaults import BOUNDS, ITEM_BOUNDS, SCENARIO_BOUNDS, AlertRule, Plan
from capcover.config.defaults import DEFAULTS as D
from capcover.config.errors import ConfigError
from capcover.config.files import read_toml
from capcover.config.secrets import (
    check_name,
    clean_key,
    clean_url,
    register_key,
    register_url,
)
from capcover.config.sources import (  # noqa: F401 - NON_SETTING_ENV is part of this API
    NON_SETTING_ENV,
    check_env_names,
    env_values,
    one_line_errors,
    price_max_age,
    publish_path,
    read_config_file,
)
from capcover.model.alerts import AlertRules
from capcover.model.prices import MaxAge
from capcover.model.scenarios import (
    BUILTIN_SCENARIOS_PATH,
    Scenario,
    merge_scenarios,
    parse_scenarios,
)
from capcover.model.throughput import THROUGHPUT_PATH, ThroughputTable, parse_throughput


@cache
def builtin_scenarios() -> tuple[Scenario, ...]:
    """The scenarios shipped in model/scenarios.toml, parsed once per process."""
    doc = read_toml(BUILTIN_SCENARIOS_PATH)
    return tuple(
        parse_scenarios(
            doc["scenario"], where=str(BUILTIN_SCENARIOS_PATH), throughput=throughput_table()
        )
    )


def _split_commas(value: Any) -> Any:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


def _within(name: str) -> Any:
    """The range of setting `name` (config/defaults.py) as a constraint pydantic enforces:
    `Annotated[float, _within("http_read_timeout_s")]`."""
    return BOUNDS[name].constraint()


_LEVEL = ITEM_BOUNDS["alert_levels"].constraint()  # each ratio level of alert_levels


class NoDecode:
    """Marks a list setting whose environment value is comma-separated text (split by its
    validator), never JSON."""


class Settings(BaseModel):
    """Every knob capcover has. Environment variables are `CAPCOVER_<NAME>`.

    A plain pydantic model: `load_settings` reads the sources (environment over the
    CAPCOVER_CONFIG file over these defaults) itself, so the daily run does not import
    pydantic-settings (and the asyncio it loads), a sixth of its start-up."""

    # scenarios(), parsed on first use (the model is frozen; private attributes are not fields).
    _scenarios: tuple[Scenario, ...] | None = PrivateAttr(default=None)

    # extra="forbid" and no inf/nan: a misspelt key or a non-finite number is an error, never
    # a silent default (load_settings names unknown keys first, with a suggestion). Defaults
    # are validated too (as pydantic-settings did): a band's check sees both of its ends.
    model_config = ConfigDict(
        extra="forbid", frozen=True, allow_inf_nan=False, validate_default=True
    )

    db: Path = D.db
    config: Path | None = D.config
    categories: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: list(D.categories), min_length=1
    )

    coingecko_plan: Plan = D.coingecko_plan
    coingecko_base_url: str | None = D.coingecko_base_url
    coingecko_api_key: SecretStr | None = D.coingecko_api_key
    coingecko_rate_per_minute: Annotated[float | None, _within("coingecko_rate_per_minute")] = (
        D.coingecko_rate_per_minute
    )

    http_connect_timeout_s: Annotated[float, _within("http_connect_timeout_s")] = (
        D.http_connect_timeout_s
    )
    http_read_timeout_s: Annotated[float, _within("http_read_timeout_s")] = D.http_read_timeout_s
    http_retry_budget_s: Annotated[float, _within("http_retry_budget_s")] = D.http_retry_budget_s
    # At the HTTP boundary (ingest/http.py, ingest/transport.py): one attempt's whole answer
    # (connect, redirects, headers, body) within this many seconds, its decoded body within
    # this many MB, and no source timestamp later than arrival plus this skew (seconds).
    http_deadline_s: Annotated[float, _within("http_deadline_s")] = D.http_deadline_s
    http_max_body_mb: Annotated[float, _within("http_max_body_mb")] = D.http_max_body_mb
    max_clock_skew_s: Annotated[float, _within("max_clock_skew_s")] = D.max_clock_skew_s

    quotes_file: Path | None = D.quotes_file  # the user's quotes file
    # GPU price feeds (ingest/vastai.py, ingest/runpod.py); both need no key.
    vastai_base_url: str = D.vastai_base_url
    vastai_gpu_names: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: list(D.vastai_gpu_names), min_length=1
    )
    # Client-side limits; None: the source's documented pace (ingest/vastai.py, runpod.py and
    # gpuhunt.py say what each host documents: Vast.ai 30/min spread, none for the others).
    vastai_rate_per_minute: Annotated[float | None, _within("vastai_rate_per_minute")] = (
        D.vastai_rate_per_minute
    )
    runpod_base_url: str = D.runpod_base_url
    runpod_rate_per_minute: Annotated[float | None, _within("runpod_rate_per_minute")] = (
        D.runpod_rate_per_minute
    )
    # -- GPU prices: the gpuhunt catalogs (ingest/gpuhunt.py) and the price method
    # (model/prices.py). Providers: gpuhunt's offline ones (the bucket has no others).
    gpuhunt_base_url: str = D.gpuhunt_base_url
    gpuhunt_providers: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: list(D.gpuhunt_providers)
    )
    gpuhunt_rate_per_minute: Annotated[float | None, _within("gpuhunt_rate_per_minute")] = (
        D.gpuhunt_rate_per_minute
    )
    # older rental quotes do not price a day; the same for purchase prices
    price_max_age_rental_days: Annotated[int, _within("price_max_age_rental_days")] = (
        D.price_max_age_rental_days
    )
    price_max_age_purchase_days: Annotated[int, _within("price_max_age_purchase_days")] = (
        D.price_max_age_purchase_days
    )

    _split_gpuhunt = field_validator("gpuhunt_providers", mode="before")(_split_commas)

    @field_validator("gpuhunt_providers")
    @classmethod
    def _providers(cls, v: list[str]) -> list[str]:
        import re

        bad = [p for p in v if not re.fullmatch(r"[a-z0-9_-]+", p)]
        if bad:
            raise ValueError(f"not a gpuhunt provider name: {bad[0]!r} (e.g. aws, lambdalabs)")
        return v

    def price_max_age(self) -> MaxAge:
        """The price method's staleness window (model/prices.py)."""
        return price_max_age(self.price_max_age_rental_days, self.price_max_age_purchase_days)

    # -- end of the GPU price block
    # how long to wait for another process's DB lock
    lock_budget_s: Annotated[float, _within("lock_budget_s")] = D.lock_budget_s

    alert_urls: Annotated[list[SecretStr], NoDecode] = Field(
        default_factory=lambda: [SecretStr(u) for u in D.alert_urls]
    )
    # Alert rules (model/alerts.py); in the TOML file as `alert_levels = [1.0, 1.5]` etc.
    alert_scenarios: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: list(D.alert_scenarios)
    )
    alert_rules: Annotated[list[AlertRule], NoDecode] = Field(
        default_factory=lambda: list(D.alert_rules)
    )
    alert_levels: Annotated[list[Annotated[float, _LEVEL]], NoDecode] = Field(
        default_factory=lambda: list(D.alert_levels)
    )
    # percent, day over day; hours between CoinGecko's as-of and the fetch; consecutive run
    # days a quote feed failed
    alert_relative_change_pct: Annotated[float, _within("alert_relative_change_pct")] = (
        D.alert_relative_change_pct
    )
    alert_stale_after_h: Annotated[float, _within("alert_stale_after_h")] = D.alert_stale_after_h
    alert_feed_failure_days: Annotated[int, _within("alert_feed_failure_days")] = (
        D.alert_feed_failure_days
    )
    # Seconds a receiver has to answer one alert message, the whole exchange; no answer in
    # time after the message went out is an unknown outcome (notify/channels.py).
    alert_timeout_s: Annotated[float, _within("alert_timeout_s")] = D.alert_timeout_s

    # `capcover serve`: when the daily flow runs (CoinGecko closes the UTC day at 00:00).
    schedule_cron: str = D.schedule_cron
    schedule_timezone: str = D.schedule_timezone
    # Parquet snapshot after each successful run; default: `published/` beside the warehouse.
    publish_dir: Path | None = D.publish_dir
    # snapshots kept; older ones are pruned
    publish_keep: Annotated[int, _within("publish_keep")] = D.publish_keep

    # Plausibility (model/plausibility.py): a sector cap outside [min, max] USD fails the run;
    # a scenario ratio moving more than x max_daily_move (or / it) against its previous report
    # is quarantined instead of reported and alerted on.
    sector_cap_min_usd: Annotated[float, _within("sector_cap_min_usd")] = D.sector_cap_min_usd
    sector_cap_max_usd: Annotated[float, _within("sector_cap_max_usd")] = D.sector_cap_max_usd
    max_daily_move: Annotated[float, _within("max_daily_move")] = D.max_daily_move
    # `capcover sql` (warehouse/sandbox.py): a query is interrupted after sql_timeout_s
    # seconds, DuckDB may use sql_memory_limit_mb MB (no spilling to disk), and a result may
    # have at most sql_max_rows rows.
    sql_timeout_s: Annotated[float, _within("sql_timeout_s")] = D.sql_timeout_s
    sql_memory_limit_mb: Annotated[int, _within("sql_memory_limit_mb")] = D.sql_memory_limit_mb
    sql_max_rows: Annotated[int, _within("sql_max_rows")] = D.sql_max_rows

    # Only from the TOML file: `[[scenario]]` tables (see model/scenarios.toml for the format).
    scenario: list[dict[str, Any]] = Field(default_factory=lambda: [dict(s) for s in D.scenario])

    _split = field_validator("categories", "alert_urls", mode="before")(_split_commas)
    _split_feeds = field_validator("vastai_gpu_names", mode="before")(_split_commas)
    _split_alert = field_validator("alert_scenarios", "alert_rules", "alert_levels", mode="before")(
        _split_commas
    )

    @field_validator(*BOUNDS, mode="before")
    @classmethod
    def _plain_number(cls, v: Any) -> Any:
        # pydantic reads "1_000" as 1000 and "0x10"-like text in other ways; C2 refuses them.
        return plain_number_text(v)

    @field_validator("alert_levels", mode="before")
    @classmethod
    def _plain_levels(cls, v: Any) -> Any:
        v = _split_commas(v)
        if isinstance(v, list):
            for position, item in enumerate(v, start=1):
                try:
                    plain_number_text(item)
                except ValueError as exc:
                    raise ValueError(f"entry #{position} {exc}") from None
        return v

    @field_validator("db", "config", "quotes_file", "publish_dir", mode="before")
    @classmethod
    def _not_empty_path(cls, v: Any) -> Any:
        # Path("") is Path("."): an empty value would silently mean the current directory.
        if isinstance(v, str) and not v.strip():
            raise ValueError("must not be empty (unset it for the default)")
        return v

    @field_validator("sector_cap_max_usd")
    @classmethod
    def _band(cls, v: float, info: ValidationInfo) -> float:
        low = info.data.get("sector_cap_min_usd")
        if low is not None and v <= low:
            raise ValueError(f"must be above CAPCOVER_SECTOR_CAP_MIN_USD ({low:g})")
        return v

    @field_validator("coingecko_base_url", "vastai_base_url", "runpod_base_url", "gpuhunt_base_url")
    @classmethod
    def _url(cls, v: str | None) -> str | None:
        if v is None:
            return v
        v = clean_url(v)
        if not v.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        if "@" in urlsplit(v).netloc:
            raise ValueError(
                "must not carry credentials (user:password@); capcover sends keys only as the "
                "plan's header"
            )
        return v.rstrip("/")

    @field_validator("coingecko_api_key", mode="before")
    @classmethod
    def _key(cls, v: Any) -> Any:
        # A key ending in a newline (a Kubernetes secret file) or a CR (a CRLF env file) is
        # the key; anything else odd is refused here, before requests would put its repr in
        # an error message. The key is registered so that every output scrubs it.
        if isinstance(v, SecretStr):
            v = v.get_secret_value()
        if v is None:
            return None
        if not isinstance(v, str):
            raise ValueError("must be text")
        if not v.strip():
            return None
        key = clean_key(v)
        register_key(key)
        return key

    @field_validator("alert_urls", mode="before")
    @classmethod
    def _alert_urls(cls, v: Any) -> Any:
        v = _split_commas(v)
        if not isinstance(v, list):
            return v
        out = []
        for position, url in enumerate(v, start=1):
            raw = url.get_secret_value() if isinstance(url, SecretStr) else url
            if not isinstance(raw, str):
                raise ValueError(f"URL #{position} of {len(v)} is not text")
            try:
                raw = clean_url(raw)
            except ValueError as exc:
                raise ValueError(f"URL #{position} of {len(v)} {exc}") from None
            register_url(raw)
            out.append(raw)
        return out

    @field_validator("categories", "vastai_gpu_names")
    @classmethod
    def _names(cls, v: list[str], info: ValidationInfo) -> list[str]:
        for position, name in enumerate(v, start=1):
            try:  # Vast.ai's GPU names have spaces ("H100 SXM"); category ids have none
                check_name(name, spaces_ok=info.field_name == "vastai_gpu_names")
            except ValueError as exc:
                raise ValueError(f"entry #{position} {exc}") from None
            if len(name) > 100:
                raise ValueError(f"entry #{position} is {len(name)} characters; at most 100")
        return v

    @field_validator(
        "categories",
        "vastai_gpu_names",
        "gpuhunt_providers",
        "alert_urls",
        "alert_scenarios",
        "alert_rules",
        "alert_levels",
    )
    @classmethod
    def _no_duplicates(cls, v: list[Any], info: ValidationInfo) -> list[Any]:
        # `CATEGORIES=ai,ai` would otherwise fail only after every request, on a key
        # constraint of the warehouse.
        seen: dict[Any, int] = {}
        for position, item in enumerate(v, start=1):
            key = item.get_secret_value() if isinstance(item, SecretStr) else item
            if key in seen:
                shown = "" if info.field_name == "alert_urls" else f" ({key!r})"
                raise ValueError(
                    f"entry #{position} repeats entry #{seen[key]}{shown}; list each once"
                )
            seen[key] = position
        return v

    @field_validator("schedule_cron")
    @classmethod
    def _cron(cls, v: str) -> str:
        from capcover.config.schedule import check_cron

        return check_cron(v)

    @field_validator("schedule_timezone")
    @classmethod
    def _tz(cls, v: str) -> str:
        from capcover.config.schedule import check_timezone

        return check_timezone(v)

    # -- derived ----------------------------------------------------------------------------

    def scenarios(self) -> list[Scenario]:
        """The built-in scenarios with the config file's over them (by name), compute-equivalent
        counts resolved against the throughput table, the file's numbers within their ranges
        (config/defaults.py SCENARIO_BOUNDS). Parsed once per Settings object (the built-in file
        once per process): load_settings validates them, and the run, the report and the alerts
        read the same list."""
        if self._scenarios is None:
            where = str(self.config or "config")
            try:
                user = parse_scenarios(self.scenario, where=where, throughput=throughput_table())
            except ValueError as exc:
                raise ConfigError(str(exc)) from None
            for sc in user:
                _check_scenario_bounds(sc, where)
            self._scenarios = tuple(merge_scenarios(list(builtin_scenarios()), user))
        return list(self._scenarios)

    def publish_path(self) -> Path:
        """Where successful runs publish their Parquet snapshot."""
        return publish_path(self.db, self.publish_dir)

    def alert_rule_config(self) -> AlertRules:
        return AlertRules(
            scenarios=tuple(self.alert_scenarios),
            enabled=tuple(self.alert_rules),
            levels=tuple(self.alert_levels),
            relative_change_pct=self.alert_relative_change_pct,
            stale_after_h=self.alert_stale_after_h,
            feed_failure_days=self.alert_feed_failure_days,
        )

    def masked(self) -> dict[str, Any]:
        """Effective settings for display, secrets masked."""
        out = {}
        for name in type(self).model_fields:
            value = getattr(self, name)
            if isinstance(value, SecretStr):
                value = "********" if value.get_secret_value() else ""
            elif isinstance(value, list) and value and isinstance(value[0], SecretStr):
                value = [f"{v.get_secret_value().split(':', 1)[0]}://********" for v in value]
            out[name] = value
        return out


@cache
def throughput_table(path: Path = THROUGHPUT_PATH) -> ThroughputTable:
    """The versioned per-chip throughput table (model/throughput.toml), validated; read once
    per process (with the built-in scenarios that need it)."""
    return parse_throughput(read_toml(path), where=str(path))


def _check_scenario_bounds(sc: Scenario, where: str) -> None:
    """A scenario's numbers within SCENARIO_BOUNDS (config/defaults.py): one ConfigError line."""
    values = {
        "gpu_count": sc.gpu_count,
        "price.unit_price_usd": sc.price.unit_price_usd,
        "price.hours": sc.price.hours,
        "price.multiplier": sc.price.multiplier,
    }
    for field, value in values.items():
        b = SCENARIO_BOUNDS[field]
        if value is not None and not b.contains(value):
            raise ConfigError(
                f"{where}: scenario {sc.name}: {field}: {value:g} is outside {b.describe()}"
            )


def _scheme(url: str) -> str:
    # Only a short, scheme-shaped prefix is shown: anything else might be the secret itself.
    match = re.match(r"([A-Za-z][A-Za-z0-9+.-]{0,15})://", url)
    return f"scheme {match.group(1).lower()}://" if match else "no scheme"


def _check_alert_urls(urls: list[SecretStr]) -> None:
    """Each CAPCOVER_ALERT_URLS entry parses as an Apprise URL (Apprise's own parser); the
    error names its position and scheme, never the URL (it holds the webhook's secret)."""
    if not urls:
        return
    import apprise  # only when channels are configured: it loads ~160 plugins

    logger = logging.getLogger("apprise")
    was_disabled = logger.disabled
    logger.disabled = True  # Apprise logs a rejected URL whole
    try:
        for position, url in enumerate(urls, start=1):
            raw = url.get_secret_value()
            try:
                parsed = apprise.Apprise.instantiate(raw, suppress_exceptions=True)
            except Exception:  # noqa: BLE001 - a plugin's parser may raise anything
                parsed = None
            if parsed is None:
                raise ConfigError(
                    f"CAPCOVER_ALERT_URLS: URL #{position} of {len(urls)} ({_scheme(raw)}) is "
                    "not a valid Apprise URL; check it against Apprise's URL formats"
                )
    finally:
        logger.disabled = was_disabled


def _validation_line(exc: ValidationError) -> str:
    err = exc.errors()[0]
    name = str(err["loc"][0]) if err["loc"] else "?"
    shown = repr(err.get("input"))
    shown = shown if len(shown) <= 80 else shown[:77] + "..."
    value = "" if "key" in name or "url" in name else f" (got {shown})"
    if err["type"] == "extra_forbidden":
        return f"{name}: not a capcover setting"
    msg = err["msg"].removeprefix("Value error, ")
    return f"CAPCOVER_{name.upper()}: {msg}{value}"


def load_settings(*, environ: bool = True, **overrides: Any) -> Settings:
    """Build settings, turning every mistake into one ConfigError line that names the setting
    (the CLI exits 2 on it, before any network call).

    Refused: unknown `CAPCOVER_*` variables and unknown keys in the CAPCOVER_CONFIG file (with
    the closest known name), bad values, inf/nan, empty paths, duplicate or invalid scenarios,
    unknown alert scenarios, CAPCOVER_ALERT_URLS entries Apprise cannot parse.

    `environ=False` ignores the environment and CAPCOVER_CONFIG: the settings are `overrides`
    over the built-in defaults (the demo uses this so a user's key, config file and alert
    channels never reach a replay).
    """
    with one_line_errors():
        return _load(environ, overrides)


def _sources(environ: bool, overrides: dict[str, Any]) -> dict[str, Any]:
    """The values to validate: `overrides` over the `CAPCOVER_*` environment (names read
    case-insensitively, values as text) over the CAPCOVER_CONFIG file; only `overrides` when
    not `environ`."""
    values: dict[str, Any] = {}
    if environ:
        path = os.environ.get("CAPCOVER_CONFIG")
        if path:
            values.update(read_config_file(path))
        fields = Settings.model_fields
        values.update({k: v for k, v in env_values(os.environ).items() if k in fields})
    values.update(overrides)
    return values


def _load(environ: bool, overrides: dict[str, Any]) -> Settings:
    if environ:
        check_env_names(dict(os.environ))
    try:
        settings = Settings.model_validate(_sources(environ, overrides))
    except ValidationError as exc:
        raise ConfigError(_validation_line(exc)) from None
    names = {s.name for s in settings.scenarios()}  # validate user scenarios now, not mid-run
    unknown = [s for s in settings.alert_scenarios if s not in names]
    if unknown:
        raise ConfigError(
            f"CAPCOVER_ALERT_SCENARIOS: unknown scenario(s) {', '.join(unknown)}"
            f" (known: {', '.join(sorted(names))})"
        )
    _check_alert_urls(settings.alert_urls)
    return settings
