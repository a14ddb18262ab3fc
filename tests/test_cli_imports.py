"""A read-only command loads none of the modules it does not need to print its answer (a
fresh `python -X importtime -m capcover` process each): no Prefect, no settings model, no requests,
no rich unless it draws the table, no model code it does not print with."""

from __future__ import annotations

from pathlib import Path

import pytest

from capcover.flows.sequence import run_daily
from tests.helpers import PLAIN_PATH, python

ROOT = Path(__file__).resolve().parent.parent
FORMATS = ("table", "csv", "json", "markdown")


@pytest.fixture
def warehouse(fake_cg, settings):
    fake_cg.serve()
    run_daily(settings)
    return settings.db


# -- what a read-only command loads ------------------------------------------------------------

# Not needed to print any read-only answer (rich only draws tables the plain drawer cannot).
NEVER = (
    "rich",
    "pydantic",
    "pydantic_settings",
    "requests",
    "prefect",
    "apprise",
    "jinja2",
    "matplotlib",
    "capcover.model.alerts",
    "capcover.model.scenarios",
    "capcover.model.plausibility",
    "capcover.warehouse.alerts",
    "capcover.warehouse.load",
    "capcover.warehouse.history",
    "capcover.config.settings",
    "capcover.ingest.http",
    "capcover.flows.clients",
    "capcover.flows.sequence",
    "capcover.report.html",
)
PRICE_METHOD = ("capcover.model.report", "capcover.model.prices", "capcover.model.coverage")


def _imported(argv: list[str], env: dict[str, str]) -> tuple[int, set[str]]:
    """Exit code and every module `python -X importtime -m capcover argv` imported."""
    proc = python("-X", "importtime", "-m", "capcover", *argv, env={**env, "PATH": PLAIN_PATH})
    names = {
        line.rsplit("|", 1)[1].strip()
        for line in proc.stderr.splitlines()
        if line.startswith("import time:") and "imported package" not in line
    }
    return proc.returncode, names


@pytest.mark.parametrize(
    ("argv", "code", "allowed"),
    [
        (["sql", "select 1"], 0, ()),
        (["report"], 0, ()),
        (["alerts"], 0, ()),
        (["status"], 0, ()),
        (["quotes", "list"], 0, ()),
        (["quotes", "list", "--stats"], 0, PRICE_METHOD),
        (["explain"], 1, ("capcover.model.explain",)),
    ],
    ids=lambda a: " ".join(a) if isinstance(a, list) else "",
)
def test_read_only_commands_import_only_what_they_print_with(warehouse, env, argv, code, allowed):
    for fmt in FORMATS:
        rc, names = _imported([*argv, "--format", fmt], env)
        assert rc == code
        loaded = {n for n in names if n.split(".")[0] in NEVER or n in NEVER}
        assert loaded == set(), fmt
        price_or_explain = (*PRICE_METHOD, "capcover.model.explain")
        unneeded = {n for n in names if n in price_or_explain} - set(allowed)
        assert unneeded == set(), fmt
