"""Effective configuration: environment over the TOML config file over built-in defaults."""

from __future__ import annotations

import logging
import os
import re
import tomllib
from functools import cache
from pathlib import Path
from typing import Annotated, Any

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

from capcover.config.defaults import DEFAULTS as D
from capcover.config.defaults import AlertRule, Plan
from capcover.config.errors import ConfigError
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
    doc = tomllib.loads(BUILTIN_SCENARIOS_PATH.read_text(encoding="utf-8"))
    return tuple(
        parse_scenarios(
            doc["scenario"], where=str(BUILTIN_SCENARIOS_PATH), throughput=throughput_table()
        )
    )


def _split_commas(value: Any) -> Any:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


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
    coingecko_rate_per_minute: float | None = Field(D.coingecko_rate_per_minute, gt=0)

    http_connect_timeout_s: float = Field(D.http_connect_timeout_s, gt=0)
    http_read_timeout_s: float = Field(D.http_read_timeout_s, gt=0)
    http_retry_budget_s: float = Field(D.http_retry_budget_s, ge=0)
    # At the HTTP boundary (ingest/http.py, ingest/transport.py): one attempt's whole answer
    # (connect, redirects, headers, body) within this many seconds, its decoded body within
    # this many MB, and no source timestamp later than arrival plus this skew (seconds).
    http_deadline_s: float = Field(D.http_deadline_s, gt=0)
    http_max_body_mb: float = Field(D.http_max_body_mb, gt=0)
    max_clock_skew_s: float = Field(D.max_clock_skew_s, ge=0)

    quotes_file: Path | None = D.quotes_file  # the user's quotes file
    # GPU price feeds (ingest/vastai.py, ingest/runpod.py); both need no key.
    vastai_base_url: str = D.vastai_base_url
    vastai_gpu_names: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: list(D.vastai_gpu_names), min_length=1
    )
    # Client-side limits; None: the source's documented pace (ingest/vastai.py, runpod.py and
    # gpuhunt.py say what each host documents: Vast.ai 30/min spread, none for the others).
    vastai_rate_per_minute: float | None = Field(D.vastai_rate_per_minute, gt=0)
    runpod_base_url: str = D.runpod_base_url
    runpod_rate_per_minute: float | None = Field(D.runpod_rate_per_minute, gt=0)
    # -- GPU prices: the gpuhunt catalogs (ingest/gpuhunt.py) and the price method
    # (model/prices.py). Providers: gpuhunt's offline ones (the bucket has no others).
    gpuhunt_base_url: str = D.gpuhunt_base_url
    gpuhunt_providers: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: list(D.gpuhunt_providers)
    )
    gpuhunt_rate_per_minute: float | None = Field(D.gpuhunt_rate_per_minute, gt=0)
    # older rental quotes do not price a day; the same for purchase prices
    price_max_age_rental_days: int = Field(D.price_max_age_rental_days, ge=0)
    price_max_age_purchase_days: int = Field(D.price_max_age_purchase_days, ge=0)

    _split_gpuhunt = field_validator("gpuhunt_providers", mode="before")(_split_commas)

    @field_validator("gpuhunt_base_url")
    @classmethod
    def _gpuhunt_url(cls, v: str) -> str:
        if not v.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return v.rstrip("/")

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
    lock_budget_s: float = Field(D.lock_budget_s, ge=0)  # wait for another process's DB lock

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
    alert_levels: Annotated[list[Annotated[float, Field(gt=0)]], NoDecode] = Field(
        default_factory=lambda: list(D.alert_levels)
    )
    alert_relative_change_pct: float = Field(D.alert_relative_change_pct, gt=0)  # day over day
    alert_stale_after_h: float = Field(D.alert_stale_after_h, gt=0)  # as-of vs fetch time
    # consecutive run days a quote feed failed
    alert_feed_failure_days: int = Field(D.alert_feed_failure_days, ge=1)
    # Seconds a receiver has to answer one alert message, the whole exchange; no answer in
    # time after the message went out is an unknown outcome (notify/channels.py).
    alert_timeout_s: float = Field(D.alert_timeout_s, gt=0, le=300)

    # `capcover serve`: when the daily flow runs (CoinGecko closes the UTC day at 00:00).
    schedule_cron: str = D.schedule_cron
    schedule_timezone: str = D.schedule_timezone
    # Parquet snapshot after each successful run; default: `published/` beside the warehouse.
    publish_dir: Path | None = D.publish_dir
    publish_keep: int = Field(D.publish_keep, ge=1)  # snapshots kept; older ones are pruned

    # Plausibility (model/plausibility.py): a sector cap outside [min, max] USD fails the run;
    # a scenario ratio moving more than x max_daily_move (or / it) against its previous report
    # is quarantined instead of reported and alerted on.
    sector_cap_min_usd: float = Field(D.sector_cap_min_usd, gt=0)
    sector_cap_max_usd: float = Field(D.sector_cap_max_usd, gt=0)
    max_daily_move: float = Field(D.max_daily_move, gt=1)

    # Only from the TOML file: `[[scenario]]` tables (see model/scenarios.toml for the format).
    scenario: list[dict[str, Any]] = Field(default_factory=lambda: [dict(s) for s in D.scenario])

    _split = field_validator("categories", "alert_urls", mode="before")(_split_commas)
    _split_feeds = field_validator("vastai_gpu_names", mode="before")(_split_commas)
    _split_alert = field_validator("alert_scenarios", "alert_rules", "alert_levels", mode="before")(
        _split_commas
    )

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

    @field_validator("coingecko_base_url", "vastai_base_url", "runpod_base_url")
    @classmethod
    def _url(cls, v: str | None) -> str | None:
        if v is not None and not v.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return v.rstrip("/") if v else v

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
        counts resolved against the throughput table. Parsed once per Settings object (the
        built-in file once per process): load_settings validates them, and the run, the report
        and the alerts read the same list."""
        if self._scenarios is None:
            try:
                user = parse_scenarios(
                    self.scenario,
                    where=str(self.config or "config"),
                    throughput=throughput_table(),
                )
            except ValueError as exc:
                raise ConfigError(str(exc)) from None
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
    return parse_throughput(tomllib.loads(path.read_text(encoding="utf-8")), where=str(path))


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
