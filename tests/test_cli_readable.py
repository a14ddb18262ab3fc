"""The terminal, read by a person: every read command's default table fits a 100-column
terminal on a warehouse with long (and hostile) names, advice names what exists and pastes
as printed, and one rule holds for empty results in every read command."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from capcover.cli.main import main
from capcover.config.settings import load_settings
from capcover.fakeapi.coingecko import CoinGecko, category_payload, market_pages
from capcover.fakeapi.gpu import FakeFeeds
from capcover.fakeapi.server import FakeAPI
from capcover.flows.sequence import record_failure, run_daily
from capcover.report.tables import text_width
from capcover.warehouse.db import open_warehouse
from tests.conftest import NO_ROUTE

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
LONG_SCENARIO = "an-extremely-long-scenario-name-an-analyst-chose-to-describe-the-buildout-x"
LONG_COIN = "A Coin Whose Name Goes On And On Far Beyond Any Column A Terminal Would Give It"
HOSTILE_SYMBOL = "[x](http://evil.example)\x1b[31mRED\u202eevil"
LONG_SOURCE = (
    "A very long publication name of a market research firm, quoted via a newspaper's "
    "weekend edition, page 42 (low end of the range)"
)
READERS = [
    ["report"],
    ["alerts"],
    ["quotes", "list"],
    ["quotes", "list", "--stats"],
    ["status"],
    ["explain"],
]


def _pages(factor: float) -> list[list[dict]]:
    pages = market_pages()
    top = pages[0][0]
    top.update(name=LONG_COIN, symbol="averyveryverylongsymbolthatneverends" * 2)
    second = pages[0][1]
    second.update(symbol=HOSTILE_SYMBOL, name=HOSTILE_SYMBOL)
    for page in pages:
        for c in page:
            if c["market_cap"]:
                c["market_cap"] *= factor
    top["market_cap"] *= factor  # the top coin moves most: it leads "why it moved"
    return pages


@pytest.fixture(scope="module")
def long_db(tmp_path_factory):
    """A warehouse after two days and a failed run, full of long and hostile names."""
    tmp = tmp_path_factory.mktemp("long")
    config = tmp / "capcover.toml"
    config.write_text(
        f'alert_scenarios = ["{LONG_SCENARIO}", "coindesk-2024"]\n'
        "[[scenario]]\n"
        f'name = "{LONG_SCENARIO}"\n'
        'description = "a long one"\n'
        'gpu_sku = "H100"\n'
        "gpu_count = 720_000\n"
        'price = { kind = "fixed", unit_price_usd = 30_000 }\n',
        encoding="utf-8",
    )
    quotes = tmp / "quotes.toml"
    quotes.write_text(
        "version = 1\n\n[[quote]]\nobserved = 2024-04-01\n"
        f'source = "{LONG_SOURCE}"\n'
        'source_url = "https://example.com/a/very/long/path/to/a/page/about/gpu/prices/2024"\n'
        'kind = "purchase"\nsku_label = "Nvidia H100 80GB SXM5 (as printed in the article)"\n'
        'sku = "H100"\nprice = 31000\ncurrency = "USD"\n',
        encoding="utf-8",
    )
    db = tmp / "capcover.duckdb"
    with (
        pytest.MonkeyPatch.context() as mp,
        CoinGecko(unmatched=NO_ROUTE) as cg,
        FakeAPI(unmatched=NO_ROUTE) as feeds_api,
    ):
        for key in list(os.environ):
            if key.startswith("CAPCOVER_"):
                mp.delenv(key)
        feeds = FakeFeeds(feeds_api)
        env = {
            "CAPCOVER_DB": str(db),
            "CAPCOVER_CONFIG": str(config),
            "CAPCOVER_QUOTES_FILE": str(quotes),
            "CAPCOVER_COINGECKO_BASE_URL": cg.base_url,
            "CAPCOVER_COINGECKO_RATE_PER_MINUTE": "60000",
            "CAPCOVER_VASTAI_BASE_URL": feeds.vast_base_url,
            "CAPCOVER_VASTAI_RATE_PER_MINUTE": "60000",
            "CAPCOVER_RUNPOD_BASE_URL": feeds.runpod_base_url,
            "CAPCOVER_RUNPOD_RATE_PER_MINUTE": "60000",
            "CAPCOVER_GPUHUNT_PROVIDERS": "",
            "CAPCOVER_HTTP_RETRY_BUDGET_S": "5",
        }
        for k, v in env.items():
            mp.setenv(k, v)
        for cap, day, factor in ((21e9, "2024-04-02", 1.0), (24e9, "2024-04-03", 1.2)):
            cg.clear()
            cg.serve(
                categories=category_payload(cap=cap, updated_at=f"{day}T06:00:00Z"),
                pages=_pages(factor),
            )
            run_daily(load_settings())
        record_failure(
            load_settings(),
            run_id="20240404T000000Z-longfail",
            kind="daily",
            started_at=datetime.now(UTC),
            error=RuntimeError(
                "CoinGecko answered something long and unexpected: " + "detail " * 40
            ),
            flow_run_id="0b3f3c2e-8f1a-4c52-9f0e-5d1f2a3b4c5d",
        )
    return {**env, "CAPCOVER_DB": str(db)}


@pytest.fixture
def long_env(long_db, monkeypatch):
    for key in list(os.environ):
        if key.startswith(("CAPCOVER_", "PREFECT_API")):
            monkeypatch.delenv(key)
    for k in ("CAPCOVER_DB", "CAPCOVER_CONFIG", "CAPCOVER_QUOTES_FILE"):
        monkeypatch.setenv(k, long_db[k])
    monkeypatch.setenv("COLUMNS", "100")
    return long_db


def _widest(text: str) -> int:
    return max((text_width(line) for line in text.splitlines()), default=0)


def _cells(out: str) -> list[list[str]]:
    """The body cells of a boxed table, each wrapped cell's lines joined (without the spaces
    and line ends the wrapping introduced)."""
    rows: list[list[str]] = []
    current: list[str] | None = None
    for line in out.splitlines():
        if line.startswith("\u2502"):
            parts = [p.strip() for p in line.strip("\u2502").split("\u2502")]
            if current is None:
                current = parts
            else:
                current = [a + b for a, b in zip(current, parts, strict=True)]
        elif current is not None:
            rows.append(current)
            current = None
    return rows


def _squash(text: str) -> str:
    return "".join(text.split())


@pytest.mark.parametrize("argv", READERS, ids=" ".join)
def test_readers_fit_100_columns_on_a_warehouse_with_long_names(long_env, capsys, argv):
    code = main(argv)
    out, err = capsys.readouterr()
    assert code == (1 if argv == ["status"] else 0), err  # status: the latest run failed
    assert out and _widest(out) <= 100, out
    assert "\x1b" not in out + err and "\u202e" not in out + err  # hostile text escaped
    cells = {_squash(c) for row in _cells(out) for c in row}
    if argv == ["report"]:
        assert _squash(LONG_SCENARIO) in cells  # wrapped, not cut
    if argv == ["quotes", "list"]:
        assert _squash(LONG_SOURCE) in cells
    if argv == ["status"]:
        assert "0b3f3c2e-8f1a-4c52-9f0e-5d1f2a3b4c5d" in out  # the failed run's flow run


def test_readers_fit_the_width_the_console_script_is_given(long_env):
    """`COLUMNS=100 capcover report` through the installed script, as a person runs it."""
    for columns in ("100", "72"):
        proc = subprocess.run(
            [str(BIN / "capcover"), "report"],
            env={**os.environ, "COLUMNS": columns, "PATH": "/usr/bin:/bin"},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert proc.returncode == 0, proc.stderr
        assert _widest(proc.stdout) <= int(columns)


def test_readers_wide_shows_every_column_unfitted(long_env, capsys):
    assert main(["report", "--wide"]) == 0
    out = capsys.readouterr().out
    assert _widest(out) > 100 and LONG_SCENARIO in out  # one line per row: not fitted


def test_readers_csv_and_json_keep_every_value_whole(long_env, capsys):
    assert main(["quotes", "list", "--format", "json"]) == 0
    quotes = json.loads(capsys.readouterr().out)
    assert any(q["source"] == LONG_SOURCE for q in quotes)
    assert main(["explain", "--format", "json"]) == 0
    coins = json.loads(capsys.readouterr().out)["coins"]
    assert HOSTILE_SYMBOL in [c["symbol"] for c in coins]  # exact data, JSON-escaped


# -- advice ----------------------------------------------------------------------------------


def test_advice_unknown_scenario_exits_2_naming_the_known_ones(long_env, capsys):
    for argv in (["report"], ["explain"], ["report", "--html", "x.html"]):
        assert main([*argv, "--scenario", "nope"]) == 2
        err = capsys.readouterr().err
        assert err.startswith("capcover: error: unknown scenario 'nope': ")
        assert f"has reports of {LONG_SCENARIO}, coindesk-2024" in err and err.count("\n") == 1


def test_advice_a_date_without_reports_names_the_nearest_and_the_latest(long_env, capsys):
    assert main(["report", "--date", "2030-01-01"]) == 1
    err = capsys.readouterr().err
    assert "no report on 2030-01-01 in " in err
    assert "nearest report dates: 2024-04-03 (before, the latest) (pass one with --date)" in err
    assert main(["report", "--date", "2024-01-01", "--scenario", "coindesk-2024"]) == 1
    err = capsys.readouterr().err
    assert "no report of coindesk-2024 on 2024-01-01" in err
    assert "nearest report dates: 2024-04-02 (after); the latest: 2024-04-03" in err
    assert main(["explain", "--date", "2030-01-01"]) == 1
    assert "nearest report dates: 2024-04-03" in capsys.readouterr().err


def test_advice_db_after_the_command_means_what_it_means_before(long_env, monkeypatch, capsys):
    monkeypatch.delenv("CAPCOVER_DB")
    db = long_env["CAPCOVER_DB"]
    for argv in (["report", "--db", db], ["--db", db, "report"], ["status", "--db", db]):
        assert main([*argv, "--format", "json"]) in (0, 1)
        assert json.loads(capsys.readouterr().out)
    missing = str(Path(db).with_name("missing.duckdb"))
    assert main(["report", "--db", missing]) == 1
    err = capsys.readouterr().err
    assert f"no warehouse at {missing}" in err
    assert f"`capcover --db {missing} run`" in err  # the hint repeats the --db given


def test_advice_rebuild_refuses_a_missing_warehouse_and_creates_nothing(env, tmp_path, capsys):
    target = tmp_path / "typo" / "nested" / "capcovr.duckdb"
    assert main(["rebuild", "--db", str(target)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"capcover: error: no warehouse at {target} — rebuild re-derives")
    assert not (tmp_path / "typo").exists()


@pytest.mark.parametrize(
    ("argv0", "expected"),
    [
        ("capcover", "capcover"),
        ("/nowhere/bin/capcover", "/nowhere/bin/capcover"),
        ("/opt/some dir/capcover", "'/opt/some dir/capcover'"),
        ("/usr/lib/python3/site-packages/capcover/__main__.py", "{python} -m capcover"),
        ("/usr/bin/pytest", "capcover"),
    ],
)
def test_advice_command_name_is_how_capcover_was_invoked(argv0, expected):
    from capcover.report.advice import command_name

    python = "/nowhere/venv/bin/python"
    assert command_name(argv0, python) == expected.format(python=python)


@pytest.mark.parametrize("how", ["script", "module"])
def test_advice_printed_hints_paste_and_run(tmp_path, how):
    """The hint a fresh user gets runs when pasted (here with --help appended, offline)."""
    launcher = (
        [os.path.relpath(BIN / "capcover", tmp_path)]
        if how == "script"
        else [os.path.relpath(Path(sys.executable), tmp_path), "-m", "capcover"]
    )
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    proc = subprocess.run(
        [*launcher, "--db", "new.duckdb", "report"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 1
    hint = proc.stderr.split("run `", 1)[1].split("`", 1)[0]
    assert hint.startswith(" ".join(launcher)) and "--db new.duckdb run" in hint
    pasted = subprocess.run(
        [*shlex.split(hint), "--help"], cwd=tmp_path, env=env, capture_output=True, timeout=120
    )
    assert pasted.returncode == 0, pasted.stderr


def test_advice_prefect_hint_names_the_prefect_beside_capcover(tmp_path, monkeypatch):
    from capcover.report.advice import prefect_start_hint

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    hint = prefect_start_hint()
    command = hint.split("`", 2)[1]
    assert command.endswith(" server start")
    prefect = shlex.split(command)[0]
    assert Path(prefect).is_absolute() or "/" in prefect
    assert os.access(prefect, os.X_OK)


# -- one rule for empty results ---------------------------------------------------------------


@pytest.fixture
def empty_db(env):
    open_warehouse(env["CAPCOVER_DB"]).close()
    return env["CAPCOVER_DB"]


EMPTY = [
    (["report"], "capcover: no report rows in "),
    (["alerts"], "capcover: no alerts in "),
    (["alerts", "--undelivered"], "capcover: no undelivered alerts in "),
    (["quotes", "list"], "capcover: no GPU quotes in "),
    (["quotes", "list", "--stats"], "capcover: no GPU quotes in "),
    (["status"], "capcover: no runs recorded in "),
    (["explain"], "capcover: no report rows in "),
    (["sql", "SELECT 1 AS n WHERE false"], "capcover: the query returned no rows"),
]


@pytest.mark.parametrize(("argv", "says"), EMPTY, ids=[" ".join(a) for a, _ in EMPTY])
def test_empty_result_rule_holds_in_every_read_command(empty_db, capsys, argv, says):
    for fmt in ("table", "markdown", "csv", "json"):
        assert main([*argv, "--format", fmt]) == 1
        out, err = capsys.readouterr()
        assert err.startswith(says) and err.count("\n") == 1, err
        assert "error" not in err  # nothing went wrong: nothing matched
        if fmt in ("table", "markdown"):
            assert out == ""
        elif fmt == "json":
            assert json.loads(out) is not None  # an empty document, still JSON
        else:
            assert out.strip() == "" or "," in out or out.strip().isidentifier() or "#" in out


def test_config_prints_every_effective_value_one_per_line(env, monkeypatch, capsys):
    monkeypatch.setenv("CAPCOVER_ALERT_URLS", "json://127.0.0.1:9/hooks/S3cr3tPathPart")
    monkeypatch.delenv("CAPCOVER_COINGECKO_BASE_URL")
    monkeypatch.delenv("CAPCOVER_COINGECKO_RATE_PER_MINUTE")
    assert main(["config"]) == 0
    out = capsys.readouterr().out
    lines = dict(line.split("=", 1) for line in out.splitlines() if not line.startswith("#"))
    assert lines["CAPCOVER_COINGECKO_BASE_URL"] == (
        "https://api.coingecko.com/api/v3  # default for plan public"
    )
    assert lines["CAPCOVER_COINGECKO_RATE_PER_MINUTE"] == "10  # default for plan public"
    db = Path(env["CAPCOVER_DB"])
    assert lines["CAPCOVER_QUOTES_FILE"].startswith(str(db.with_name("capcover-quotes.toml")))
    assert lines["CAPCOVER_PUBLISH_DIR"].startswith(str(db.parent / "published"))
    assert lines["CAPCOVER_DB"] == f"{db}  # environment"
    assert lines["CAPCOVER_ALERT_URLS"] == "'json://********'  # environment"
    assert lines["CAPCOVER_COINGECKO_API_KEY"] == "  # not set"
    assert "None" not in out and "S3cr3t" not in out
    assert out.splitlines()[-1].startswith("# scenarios: coindesk-2024, ")
    from capcover.config.settings import Settings

    assert len(lines) == len(Settings.model_fields) - 1  # every setting but [[scenario]]
