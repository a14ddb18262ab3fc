"""Prefect defaults set by capcover itself, before Prefect is imported, and the Prefect API that
`run`, `serve` and `status` use (`prefect_api`: Prefect's own settings, asked only when some
source could name one).

prefect.toml in the repository root says the same for runs started from there; this covers the
installed `capcover` command run from any directory. Explicit environment settings still win.
"""

from __future__ import annotations

import gc
import os
import tomllib
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from capcover.errors import one_line

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


@contextmanager
def long_lived_imports() -> Iterator[None]:
    """Around imports whose objects live as long as the process (Prefect's: ~100k classes,
    pydantic schemas and settings objects): the cyclic garbage collector is paused while they
    load, then told to leave them alone (`gc.freeze`). Collections during the import found
    nothing to free and cost 0.15-0.2 s of it; later full collections skip them too (64 ms
    each); ~2 MB of import-time garbage stays. Measured on `import flows.daily`."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if was_enabled:
            gc.enable()


def configure() -> None:
    for key, value in DEFAULTS.items():
        os.environ.setdefault(key, value)


@dataclass(frozen=True)
class ApiSource:
    """The Prefect API a Prefect flow run of this process reports to (`url` None: none, so a
    Prefect flow would start Prefect's temporary server) and where it was found (`where`, said
    to the user)."""

    url: str | None
    where: str


def prefect_api() -> ApiSource:
    """The Prefect API that `capcover run`, `capcover serve` and `capcover status` all use:
    Prefect's own settings decide (its sources, their order, the active profile, validation).

    Importing Prefect costs about a second, so it is asked only when one of the places its
    settings come from names an API URL or picks a profile (`named_in_sources`, a superset
    test: it may send us to Prefect for nothing, never past an API Prefect would use). With
    nothing configured the answer is None without importing Prefect, and `capcover status`
    stays a light read-only command."""
    seen = named_in_sources(os.environ, Path.cwd())
    if seen is None:
        return ApiSource(
            None,
            "no Prefect API URL in the environment, the Prefect profile or the working "
            "directory's .env, prefect.toml or pyproject.toml",
        )
    configure()
    try:
        from prefect.settings import Settings

        # A fresh Settings object, not the one Prefect captured when it was first imported:
        # the environment and the working directory as they are now (the same in a new
        # process).
        url = Settings().api.url
    except Exception as exc:  # noqa: BLE001 - a hand-edited file Prefect cannot read
        # A profiles file or setting of a shape Prefect's own loader fails on (`profiles = 3`,
        # a profile that is a string, a URL that is a number) counts as no Prefect API, said
        # in one line, never a crash: the run stays in this process, status computes the
        # next run from the cron setting.
        return ApiSource(
            None,
            f"Prefect's settings could not be read ({type(exc).__name__}: "
            f"{one_line(exc, 160)}; looked: {seen})",
        )
    if not url:
        return ApiSource(None, f"Prefect's settings name no API URL (looked: {seen})")
    return ApiSource(str(url).rstrip("/"), _where(str(url)))


def _where(url: str) -> str:
    """Which of Prefect's sources gave `url`, in words (the environment, else the active
    profile, else a settings file in the working directory)."""
    if any(k.upper() == "PREFECT_API_URL" and v == url for k, v in os.environ.items()):
        return "PREFECT_API_URL"
    try:
        from prefect.settings import Settings
        from prefect.settings.sources import ProfileSettingsTomlLoader

        loader = ProfileSettingsTomlLoader(Settings)
        if loader.profile_settings.get("PREFECT_API_URL") == url:
            return f"the active Prefect profile in {loader.profiles_path}"
    except Exception:  # noqa: BLE001 - Prefect's internals moved: say less, never fail
        return "Prefect's settings"
    return f"Prefect's settings in {Path.cwd()} (.env, prefect.toml or pyproject.toml)"


def named_in_sources(environ: Mapping[str, str], cwd: Path) -> str | None:
    """The first of Prefect's settings sources that could name an API URL, or None when none
    can (then Prefect finds none either; tests/test_serve.py checks this against Prefect's own
    settings over generated configurations). Conservative: a profile picked by
    PREFECT_PROFILE or a profiles file named anywhere but the environment is handed to Prefect
    unread."""
    env = {k.upper(): v for k, v in environ.items()}
    for name in ("PREFECT_API_URL", "PREFECT_PROFILE"):
        if env.get(name):
            return name
    dotenv = _text(cwd / ".env").upper()
    if "PREFECT_API_URL" in dotenv or "PREFECT_PROFILE" in dotenv:
        return f"{cwd / '.env'}"
    for name, table in (("prefect.toml", ()), ("pyproject.toml", ("tool", "prefect"))):
        doc = _toml_value(cwd / name, table)
        if isinstance(doc, dict) and ("api" in doc or "profiles_path" in doc):
            return f"{cwd / name}"
    if env.get("PREFECT_PROFILES_PATH"):
        path = Path(env["PREFECT_PROFILES_PATH"]).expanduser()
    elif env.get("PREFECT_HOME"):
        path = Path(env["PREFECT_HOME"]).expanduser() / "profiles.toml"
    else:
        path = Path.home() / ".prefect" / "profiles.toml"
    profiles = _toml(path)
    active = profiles.get("active")
    # A profiles file of another shape (hand-edited) names no API here, never a crash.
    listed = profiles.get("profiles")
    chosen = listed.get(active) if isinstance(listed, dict) and isinstance(active, str) else None
    if isinstance(chosen, dict) and any(k.upper() == "PREFECT_API_URL" for k in chosen):
        return f"Prefect profile '{active}' in {path}"
    return None


def _text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return ""


def _toml(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(_text(path))
    except tomllib.TOMLDecodeError:
        return {}


def _toml_value(path: Path, keys: tuple[str, ...]) -> object:
    value: object = _toml(path)
    for key in keys:
        value = value.get(key) if isinstance(value, dict) else None
    return value
