"""capcover: could the AI-token sector buy the GPUs its ambitions need?

The one installed top-level package. Its rooms live in folders at the repository's top level
(`cli/`, `flows/`, `ingest/`, `model/`, `warehouse/`, ...) and are installed as its subpackages
(`capcover.cli`, `capcover.flows`, ...) through setuptools' `package-dir` mapping.

The public Python API (capcover/api.py), which the `capcover` command line calls:

    import capcover

    reader = capcover.Reader(db="data/demo.duckdb")  # read-only: report, explain, sql, ...
    result = capcover.run(db="data/capcover.duckdb")  # the daily run

Importing this package imports nothing else: every command imports it first, and a read-only
command must stay light. The API's names and `__version__` are looked up on first use (reading
the package metadata costs ~15 ms).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from capcover.api import Explanation as Explanation
    from capcover.api import Reader as Reader
    from capcover.api import Table as Table
    from capcover.api import confirm_alerts as confirm_alerts
    from capcover.api import prefect_api as prefect_api
    from capcover.api import release_alerts as release_alerts
    from capcover.api import run as run
    from capcover.api import send_test_alerts as send_test_alerts
    from capcover.api import settings as settings
    from capcover.config.errors import ConfigError as ConfigError
    from capcover.warehouse.db import WarehouseError as WarehouseError

# name -> the module that defines it, imported when the name is first used.
_LAZY = {
    "Reader": "capcover.api",
    "Table": "capcover.api",
    "Explanation": "capcover.api",
    "run": "capcover.api",
    "settings": "capcover.api",
    "prefect_api": "capcover.api",
    "release_alerts": "capcover.api",
    "confirm_alerts": "capcover.api",
    "send_test_alerts": "capcover.api",
    "ConfigError": "capcover.config.errors",
    "WarehouseError": "capcover.warehouse.db",
}
__all__ = ["__version__", *_LAZY]


def installed_version() -> str:
    """The installed distribution's version, or `0+unknown` for a checkout never installed."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("capcover")
    except PackageNotFoundError:
        return "0+unknown"


def __getattr__(name: str) -> Any:
    if name == "__version__":
        return installed_version()
    if name in _LAZY:
        from importlib import import_module

        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'capcover' has no attribute {name!r}")
