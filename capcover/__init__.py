"""capcover: could the AI-token sector buy the GPUs its ambitions need?

The one installed top-level package. Its rooms live in folders at the repository's top level
(`cli/`, `flows/`, `ingest/`, `model/`, `warehouse/`, ...) and are installed as its subpackages
(`capcover.cli`, `capcover.flows`, ...) through setuptools' `package-dir` mapping.

Importing this package imports nothing else: every command imports it first, and a read-only
command must stay light. `__version__` is looked up on first use (reading the package metadata
costs ~15 ms).
"""

from __future__ import annotations


def installed_version() -> str:
    """The installed distribution's version, or `0+unknown` for a checkout never installed."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("capcover")
    except PackageNotFoundError:
        return "0+unknown"


def __getattr__(name: str) -> str:
    if name == "__version__":
        return installed_version()
    raise AttributeError(f"module 'capcover' has no attribute {name!r}")
