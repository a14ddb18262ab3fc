"""Prefect defaults set by capcover itself, before Prefect is imported, and whether a Prefect API
is configured at all (answered without importing Prefect).

prefect.toml in the repository root says the same for runs started from there; this covers the
installed `capcover` command run from any directory. Explicit environment settings still win.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

DEFAULTS = {
    # No telemetry and no non-loopback traffic from the temporary server.
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "DO_NOT_TRACK": "1",
    # Readable output: capcover prints its own summary, so Prefect's console handler only
    # passes CRITICAL. The `prefect` loggers themselves stay at INFO: flow and task run logs
    # (state changes, the run's one-line result, tracebacks) go to the Prefect API through
    # Prefect's API handler, which a WARNING logger level would starve on successful runs.
    "PREFECT_LOGGING_LEVEL": "INFO",
    "PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL": "CRITICAL",
    "PREFECT_RESULTS_PERSIST_BY_DEFAULT": "false",
    # The temporary server gives up after 20 s by default; a busy laptop or CI runner can
    # need longer the first time (fresh database).
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
}


def configure() -> None:
    for key, value in DEFAULTS.items():
        os.environ.setdefault(key, value)


@dataclass(frozen=True)
class ApiSource:
    """Where a Prefect API URL was found (`url` None: nowhere; `where` says what was read)."""

    url: str | None
    where: str


def configured_api(environ: Mapping[str, str] | None = None, cwd: Path | None = None) -> ApiSource:
    """The Prefect API URL Prefect itself would use, read from the same places Prefect reads
    (the environment, `.env`, `prefect.toml`, `pyproject.toml` [tool.prefect], the active
    profile) without importing Prefect (an import costs seconds). `url` None means Prefect
    would start its temporary server."""
    env = os.environ if environ is None else environ
    cwd = Path.cwd() if cwd is None else cwd
    if env.get("PREFECT_API_URL"):
        return ApiSource(env["PREFECT_API_URL"], "PREFECT_API_URL")
    dotenv = _dotenv(cwd / ".env")
    if dotenv.get("PREFECT_API_URL"):
        return ApiSource(dotenv["PREFECT_API_URL"], f"PREFECT_API_URL in {cwd / '.env'}")
    for name, keys in (
        ("prefect.toml", ("api", "url")),
        ("pyproject.toml", ("tool", "prefect", "api", "url")),
    ):
        url = _toml_value(cwd / name, keys)
        if url:
            return ApiSource(str(url), f"{'.'.join(keys)} in {cwd / name}")
    path = _profiles_path(env, dotenv, cwd)
    data = _toml(path)
    profile = str(env.get("PREFECT_PROFILE") or data.get("active") or "ephemeral")
    # A profiles file of another shape (hand-edited) counts as no profile, never a crash.
    profiles = data.get("profiles")
    entry = profiles.get(profile) if isinstance(profiles, dict) else None
    url = entry.get("PREFECT_API_URL") if isinstance(entry, dict) else None
    if url:
        return ApiSource(str(url), f"Prefect profile '{profile}' in {path}")
    return ApiSource(None, f"no PREFECT_API_URL in the environment or Prefect profile '{profile}'")


def _profiles_path(env: Mapping[str, str], dotenv: dict[str, str], cwd: Path) -> Path:
    # Prefect's own order (prefect/settings/sources.py `_get_profiles_path`).
    explicit = (
        env.get("PREFECT_PROFILES_PATH")
        or dotenv.get("PREFECT_PROFILES_PATH")
        or _toml_value(cwd / "prefect.toml", ("profiles_path",))
        or _toml_value(cwd / "pyproject.toml", ("tool", "prefect", "profiles_path"))
    )
    if explicit:
        return Path(str(explicit)).expanduser()
    home = (
        Path(env["PREFECT_HOME"]).expanduser()
        if env.get("PREFECT_HOME")
        else Path.home() / ".prefect"
    )
    return home / "profiles.toml"


def _toml(path: Path) -> dict:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError):
        return {}


def _toml_value(path: Path, keys: tuple[str, ...]) -> object:
    value: object = _toml(path)
    for key in keys:
        value = value.get(key) if isinstance(value, dict) else None
    return value


def _dotenv(path: Path) -> dict[str, str]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return {}
    out = {}
    for line in text.splitlines():
        key, sep, value = line.strip().removeprefix("export ").partition("=")
        if sep and not key.startswith("#"):
            out[key.strip()] = value.strip().strip("'\"")
    return out
