"""`capcover verify` compares every table the rebuild re-derives, not only report_daily: a
change to any column of any stored row of any of them (price decisions, quotes, snapshots, coin
history, quarantine), a row set to NULL or deleted, makes verify exit 1 with a line naming the
table, the row's key and the column (red team D14: price_decisions and gpu_quotes tampered,
verify still exited 0)."""

from __future__ import annotations

import io
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from capcover.cli.main import main
from capcover.config.settings import load_settings
from capcover.fakeapi import gpuhunt as hunt
from capcover.fakeapi.coingecko import AI, CoinGecko
from capcover.fakeapi.server import FakeAPI
from capcover.flows.verify import COMPARED
from capcover.warehouse.db import open_warehouse

# A new value of each column type, in SQL of the column itself (`c`): the smallest change the
# type allows where there is one (the next double up: verify compares bit for bit).
CHANGE = {
    "DOUBLE": "coalesce(nextafter({c}, 'inf'::DOUBLE), 1.5)",
    "INTEGER": "coalesce({c} + 1, 7)",
    "BIGINT": "coalesce({c} + 1, 7)",
    "VARCHAR": "coalesce({c} || '~', 'tampered')",
    "DATE": "coalesce({c} + 1, DATE '2000-01-01')",
    "TIMESTAMP WITH TIME ZONE": "coalesce({c} + INTERVAL 1 MICROSECOND, TIMESTAMPTZ '2000-01-01')",
    "BOOLEAN": "coalesce(NOT {c}, true)",
    "VARCHAR[]": "list_append(coalesce({c}, []), 'tampered')",
    "JSON": """'{{"tampered": 1}}'""",
}
# A key column's new value must not meet another row's key.
KEY_CHANGE = {
    "DATE": "DATE '1990-01-01'",
    "INTEGER": "{c} + 1000000",
    "VARCHAR": "{c} || '~'",
}


@dataclass(frozen=True)
class Tamper:
    table: str
    row: int  # index into the table's rows in key order (modulo their count)
    column: int  # index into its columns (modulo their count)
    mode: str  # change | null | delete


def _world(tmp: Path, monkeypatch: pytest.MonkeyPatch, env: dict) -> Path:
    """A warehouse with rows in every compared table: a backfill (coin_history), then a daily
    run over CoinGecko, Vast.ai, RunPod and gpuhunt with one malformed coin (quarantine)."""
    from rich.console import Console

    from capcover.flows.backfill import run_backfill
    from capcover.flows.sequence import run_daily

    cg = CoinGecko.charts(n_coins=8)
    bad = {"id": "broken-coin", "symbol": "brk", "name": "Broken", "market_cap": "lots"}
    cg.coins[AI].append(bad)
    with cg, FakeAPI() as api:
        api.mount(hunt.routes(), "/gpuhunt")
        monkeypatch.setenv("CAPCOVER_COINGECKO_BASE_URL", cg.base_url)
        monkeypatch.setenv("CAPCOVER_GPUHUNT_BASE_URL", api.url_for("/gpuhunt"))
        monkeypatch.setenv("CAPCOVER_GPUHUNT_PROVIDERS", ",".join(hunt.PROVIDERS))
        monkeypatch.setenv("CAPCOVER_GPUHUNT_RATE_PER_MINUTE", "60000")
        settings_ = load_settings()
        run_daily(settings_)
        run_backfill(settings_, 5, console=Console(file=io.StringIO()))
        # The last run reports the day it fetches on, so its feeds' depth is that day's.
        cg.categories[0]["updated_at"] = datetime.now(UTC).isoformat()
        run_daily(settings_)
    db = Path(env["CAPCOVER_DB"])
    with open_warehouse(db, read_only=True) as wh:
        for table in COMPARED:
            assert wh.scalar(f"SELECT count(*) FROM {table}") > 0, table  # noqa: S608
    return db


def _key_text(values: tuple | list) -> str:
    return " ".join(str(v) for v in values)


def _apply(db: Path, t: Tamper) -> tuple[str, list[str]]:
    """Tamper with `db` as `t` says; returns the column touched (or '') and the lines verify
    must print (any one of them names the change)."""
    key = COMPARED[t.table]
    order = ", ".join(key)
    with open_warehouse(db) as wh:
        columns = wh.query(
            "SELECT column_name, data_type, is_nullable FROM information_schema.columns"
            " WHERE table_name = ? AND table_schema = 'main' ORDER BY ordinal_position",
            [t.table],
        )
        n = wh.scalar(f"SELECT count(*) FROM {t.table}")  # noqa: S608
        old = wh.query(
            f"SELECT {order} FROM {t.table} ORDER BY {order} LIMIT 1 OFFSET ?",  # noqa: S608
            [t.row % n],
        )[0]
        match = " AND ".join(f"{k} = ?" for k in key)
        where = f"{t.table} {_key_text(old)}"
        if t.mode == "delete":
            wh.query(f"DELETE FROM {t.table} WHERE {match}", list(old))  # noqa: S608
            if t.table == "report_daily":  # a row only re-derived: the snapshot still has it
                return "", [f"{old[0]} {old[1]}: in the published snapshot but not in the"]
            return "", [f"{where}: in the re-derivation from the raw archive, not in the"]
        name, kind, nullable = columns[t.column % len(columns)]
        if t.mode == "null" and (name in key or nullable == "NO"):
            return _apply(db, Tamper(t.table, t.row, t.column, "change"))
        if t.mode == "null":
            if wh.scalar(f"SELECT {name} IS NULL FROM {t.table} WHERE {match}", list(old)):  # noqa: S608
                return _apply(db, Tamper(t.table, t.row, t.column, "change"))
            expr = "NULL"
        else:
            expr = (KEY_CHANGE if name in key else CHANGE)[kind].format(c=f'"{name}"')
        new_key = old
        if name in key:
            new_key = wh.query(
                f"SELECT {', '.join(expr if k == name else k for k in key)}"  # noqa: S608
                f" FROM {t.table} WHERE {match}",
                list(old),
            )[0]
        wh.query(f'UPDATE {t.table} SET "{name}" = {expr} WHERE {match}', list(old))  # noqa: S608
    if name in key:
        return name, [f"{t.table} {_key_text(new_key)}: not in the re-derivation from the raw"]
    if t.table == "report_daily" and name in ("price_method", "sector_cap_method"):
        return name, [f"{where}: {name} "]  # a method it has no code for: named, left out
    return name, [f"{where}: the re-derivation from the raw archive differs: "]


def _verify(capsys) -> tuple[int, list[str]]:
    code = main(["verify"])
    out = capsys.readouterr()
    return code, out.out.splitlines() + out.err.splitlines()


def _check(db: Path, t: Tamper, tmp: Path, capsys, monkeypatch) -> None:
    copy = tmp / f"tampered-{t.table}-{t.row}-{t.column}-{t.mode}.duckdb"
    shutil.copy(db, copy)
    monkeypatch.setenv("CAPCOVER_DB", str(copy))
    column, expected = _apply(copy, t)
    code, lines = _verify(capsys)
    copy.unlink()
    assert code == 1, (t, lines)
    named = [x for x in lines if any(x.startswith(e) for e in expected)]
    assert named, (t, expected, lines)
    if column and not any(e.endswith("raw") for e in expected):
        assert any(f": {column} " in x or f"differs: {column} " in x for x in named), (
            t,
            column,
            named,
        )


@pytest.fixture
def tampered_world(tmp_path, monkeypatch, env):
    return _world(tmp_path, monkeypatch, env)


def test_verify_untouched_world_of_every_table_matches(tampered_world, capsys):
    code, lines = _verify(capsys)
    assert code == 0, lines
    (line,) = lines
    for table in COMPARED:
        if table != "report_daily":
            assert f"{table} " in line


def test_verify_names_a_change_in_each_compared_table(
    tampered_world, tmp_path, capsys, monkeypatch
):
    for table in COMPARED:
        _check(tampered_world, Tamper(table, 0, -1, "change"), tmp_path, capsys, monkeypatch)


@settings(
    max_examples=10,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    t=st.builds(
        Tamper,
        table=st.sampled_from(sorted(COMPARED)),
        row=st.integers(0, 10_000),
        column=st.integers(0, 60),
        mode=st.sampled_from(["change", "change", "null", "delete"]),
    )
)
def test_verify_names_any_tampered_column_of_any_row(
    tampered_world, tmp_path, capsys, monkeypatch, t
):
    _check(tampered_world, t, tmp_path, capsys, monkeypatch)
