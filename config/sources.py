"""Where settings come from, checked without pydantic: the `CAPCOVER_*` names in the environment
and the CAPCOVER_CONFIG TOML file.

Both the full settings model (config/settings.py) and the read-only commands' reader
(config/reader.py) use these checks, so a typo in a name is refused the same way by every
command; the names are config/defaults.py's table. Importing this module loads no pydantic
(about 130 ms at import).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from capcover.config.defaults import SETTING_NAMES
from capcover.config.errors import ConfigError

if TYPE_CHECKING:
    from capcover.model.prices import MaxAge

# CAPCOVER_* variables that are not settings: CI's switch that turns the "no Chromium" skip of
# the HTML-report tests into a failure, and CAPCOVER_VERBOSE (long waits are told on stderr even
# when it is not a terminal; ingest/network.py). Any other unknown CAPCOVER_* variable is a
# mistake.
NON_SETTING_ENV = frozenset({"CAPCOVER_REQUIRE_CHROMIUM", "CAPCOVER_VERBOSE"})


def suggest(name: str, known: list[str]) -> str:
    import difflib  # only when a name is wrong

    close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    return f" (did you mean {close[0]}?)" if close else ""


def check_env_names(environ: Mapping[str, str]) -> None:
    """An unknown `CAPCOVER_*` variable (a typo) is an error, not a silently ignored value."""
    known = sorted(f"CAPCOVER_{name.upper()}" for name in SETTING_NAMES if name != "scenario")
    for key in sorted(environ):
        name = key.upper()  # the settings read the variables case-insensitively
        if name == "CAPCOVER_SCENARIO":
            raise ConfigError(
                f"{key!s}: scenarios come only from the CAPCOVER_CONFIG file, "
                "as [[scenario]] tables; unset it"
            )
        if name.startswith("CAPCOVER_") and name not in known and name not in NON_SETTING_ENV:
            raise ConfigError(
                f"{key!s}: not a capcover setting{suggest(name, known)}; unset it or fix the name"
            )


def env_values(environ: Mapping[str, str]) -> dict[str, str]:
    """Setting name -> raw value from `CAPCOVER_<NAME>` variables, matched case-insensitively
    (when two spellings are set, the later one in `environ` wins); config/settings.py reads
    the environment through this too."""
    out = {}
    for key, value in environ.items():
        lower = key.lower()
        if lower.startswith("capcover_"):
            out[lower.removeprefix("capcover_")] = value
    return out


def read_config_file(path: str) -> dict[str, Any]:
    """The CAPCOVER_CONFIG file's document: a regular UTF-8 file, TOML, with only known
    top-level keys (config/files.py: a FIFO, a device, a huge or deeply nested file is refused
    in one line naming the file)."""
    from capcover.config.files import FileRefused, read_toml

    try:
        doc = read_toml(path)
    except FileRefused as exc:
        raise ConfigError(f"CAPCOVER_CONFIG {exc}") from None
    known = sorted(SETTING_NAMES)
    for key in doc:
        if key not in SETTING_NAMES:
            raise ConfigError(f"CAPCOVER_CONFIG {path}: unknown key {key!r}{suggest(key, known)}")
    return doc


def publish_path(db: Path, publish_dir: Path | None) -> Path:
    """Where successful runs publish their Parquet snapshot: CAPCOVER_PUBLISH_DIR, else
    `published/` beside the warehouse."""
    return publish_dir if publish_dir is not None else db.parent / "published"


def price_max_age(rental_days: int, purchase_days: int) -> MaxAge:
    """The price method's staleness window (model/prices.py) from the two settings."""
    from capcover.model.prices import MaxAge

    return MaxAge(rental_days=rental_days, purchase_days=purchase_days)


def _flattened(exc: ConfigError) -> ConfigError:
    """The same error with all its lines on one, whatever a value or a file path held (a TOML
    error quotes the file)."""
    text = " ".join(str(exc).split())
    return exc if text == str(exc) else ConfigError(text)


@contextmanager
def one_line_errors() -> Iterator[None]:
    """Every ConfigError raised inside re-raised on one line (`_flattened`), without the chain
    of the multi-line original; both settings loaders run inside it."""
    try:
        yield
    except ConfigError as exc:
        single = _flattened(exc)
        if single is exc:
            raise
        raise single from None
