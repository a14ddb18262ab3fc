"""Read-only commands at the floor (issue 13 item 3): `sql`, `report`, `alerts`, `status`,
`quotes list` and `explain` read only the settings they use through config/reader.py, which
agrees with the full settings model on every key it reads (a property test), and none of them
loads the heavy libraries a user does not need for that command (a fresh interpreter each)."""

from __future__ import annotations

import json
import math
import os
from contextlib import contextmanager
from dataclasses import fields
from pathlib import Path
from typing import get_args
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import SecretStr

from capcover.cli.main import main
from capcover.config.defaults import DEFAULTS as TABLE
from capcover.config.defaults import SETTING_NAMES, AlertRule
from capcover.config.errors import ConfigError
from capcover.config.reader import ALWAYS, DEFAULTS, OPTIONAL, load_reader_settings
from capcover.config.settings import Settings, load_settings
from capcover.flows.sequence import run_daily
from tests.helpers import PLAIN_PATH, commands_in_fresh_process

ROOT = Path(__file__).resolve().parent.parent
HEAVY = (
    "prefect",
    "requests",
    "rich",
    "pydantic",
    "pydantic_settings",
    "apprise",
    "matplotlib",
    "jinja2",
)
READERS = [  # (argv, exit code on a warehouse after one daily run)
    (["sql", "SELECT count(*) AS n FROM report_daily"], 0),
    (["report"], 0),
    (["alerts"], 0),
    (["status"], 0),
    (["quotes", "list"], 0),
    (["quotes", "list", "--stats"], 0),
    (["explain"], 1),  # one report day: nothing to compare with, said in one line
]


@pytest.fixture
def clean_env(monkeypatch):
    for key in list(os.environ):
        if key.upper().startswith(("CAPCOVER_", "PREFECT_")):
            monkeypatch.delenv(key)
    return monkeypatch


@pytest.fixture
def warehouse(fake_cg, settings):
    fake_cg.serve()
    run_daily(settings)
    return settings.db


# -- the reader agrees with the settings model ----------------------------------------------


def test_sources_setting_names_are_the_models_fields_in_order():
    assert SETTING_NAMES == tuple(Settings.model_fields)


def _as_table_value(value):
    """A model value as config/defaults.py writes it: lists as tuples, secrets unwrapped."""
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    if isinstance(value, list):
        return tuple(_as_table_value(v) for v in value)
    return value


def test_settings_table_is_every_models_default():
    # The model takes each default from the one table (config/defaults.py): built from no
    # environment and no file, every setting is the table's value.
    model = load_settings(environ=False)
    assert {name: _as_table_value(getattr(model, name)) for name in SETTING_NAMES} == {
        f.name: getattr(TABLE, f.name) for f in fields(TABLE)
    }
    assert set(TABLE.alert_rules) == set(get_args(AlertRule))


def test_reader_defaults_are_the_models(clean_env):
    full = load_settings()
    assert DEFAULTS == {name: getattr(full, name) for name in DEFAULTS}
    assert set(DEFAULTS) == set(ALWAYS) | set(OPTIONAL)
    lean = load_reader_settings(OPTIONAL)
    assert lean.as_dict() == DEFAULTS
    assert lean.publish_path() == full.publish_path()


def _toml(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return "nan" if math.isnan(value) else repr(value)  # inf and -inf are TOML too
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a TOML basic string
    return repr(value)


_env_text = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=12
)
_numbers = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(-(10**20), 10**20).map(str),
    st.sampled_from(
        [
            "",
            " ",
            "1e3",
            ".5",
            "5.",
            "-0",
            "+2",
            " 5",
            "5 ",
            "1_0",
            "0x10",
            "inf",
            "-inf",
            "nan",
            "1e400",
            "1E-3",
            "٣",
            "true",
        ]
    ),
    _env_text,
)
_paths = st.one_of(
    st.sampled_from(["", " ", "\t", "x.duckdb", "a/b.duckdb", "~/w", "."]), _env_text
)
_crons = st.one_of(
    st.sampled_from(
        [
            "20 0 * * *",
            " 20  0 * * * ",
            "every day",
            "61 0 * * *",
            "*/5 * * * *",
            "0 0 * * 1-5",
            "* * *",
        ]
    ),
    _env_text,
)
_zones = st.one_of(
    st.sampled_from(["UTC", "Europe/Berlin", "Mars/Olympus", "", "utc", "../etc"]), _env_text
)
_days = st.one_of(
    st.integers(-5, 10**20).map(str),
    st.sampled_from(["", "007", "+7", "-0", "7.0", " 7", "1e3", "٧", "0"]),
    _env_text,
)
ENV_VALUES = {
    "db": _paths,
    "lock_budget_s": _numbers,
    "publish_dir": _paths,
    "schedule_cron": _crons,
    "schedule_timezone": _zones,
    "price_max_age_rental_days": _days,
    "price_max_age_purchase_days": _days,
}
_toml_any = st.one_of(
    st.booleans(),
    st.integers(-(2**63), 2**63 - 1),
    st.floats(allow_nan=True, allow_infinity=True),
    _env_text,
)
TOML_VALUES = {
    "db": st.one_of(_paths, _toml_any),
    "lock_budget_s": st.one_of(
        st.floats(allow_nan=True, allow_infinity=True),
        st.integers(-(2**63), 2**63 - 1),
        _numbers,
        _toml_any,
    ),
    "publish_dir": st.one_of(_paths, _toml_any),
    "schedule_cron": st.one_of(_crons, _toml_any),
    "schedule_timezone": st.one_of(_zones, _toml_any),
    "price_max_age_rental_days": st.one_of(st.integers(-3, 10**6), _days, _toml_any),
    "price_max_age_purchase_days": st.one_of(st.integers(-3, 10**6), _days, _toml_any),
}


def _some(strategies: dict) -> st.SearchStrategy[dict]:
    return st.fixed_dictionaries({}, optional=strategies)


@contextmanager
def _environ(values: dict[str, str]):
    keep = {k: v for k, v in os.environ.items() if not k.upper().startswith("CAPCOVER_")}
    with mock.patch.dict(os.environ, {**keep, **values}, clear=True):
        yield


def _outcome(load):
    try:
        return "ok", load()
    except ConfigError as exc:
        return "error", str(exc)


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    env=_some(ENV_VALUES),
    doc=_some(TOML_VALUES),
    lower=st.booleans(),
    db_option=st.one_of(st.none(), _paths),
)
def test_reader_matches_the_settings_model_on_every_key_it_reads(
    tmp_path, env, doc, lower, db_option
):
    _compare(tmp_path, env, doc, lower, db_option)


@pytest.mark.parametrize(
    ("env", "doc"),
    [
        ({}, {"price_max_age_rental_days": -3}),
        ({"price_max_age_purchase_days": "-1"}, {}),
        ({}, {"lock_budget_s": -1.0}),
        ({"lock_budget_s": "1e400"}, {}),
        ({}, {"db": ""}),
        ({"publish_dir": " "}, {}),
        ({}, {"schedule_cron": 5}),
        ({"schedule_timezone": "Mars/X"}, {}),
        ({"db": "env.duckdb"}, {"db": "file.duckdb", "lock_budget_s": 2}),
        ({}, {"price_max_age_purchase_days": 7.0, "lock_budget_s": True}),
    ],
)
def test_reader_matches_the_settings_model_on_edge_values(tmp_path, env, doc):
    _compare(tmp_path, env, doc, lower=False, db_option=None)


def _compare(tmp_path, env, doc, lower, db_option):
    variables = {(f"capcover_{k}" if lower else f"CAPCOVER_{k.upper()}"): v for k, v in env.items()}
    if doc:
        path = tmp_path / "capcover.toml"
        path.write_text("".join(f"{k} = {_toml(v)}\n" for k, v in doc.items()), encoding="utf-8")
        variables["CAPCOVER_CONFIG"] = str(path)
    overrides = {} if db_option is None else {"db": db_option}
    with _environ(variables):
        full = _outcome(lambda: load_settings(**overrides))
        lean = _outcome(lambda: load_reader_settings(OPTIONAL, **overrides))
    assert full[0] == lean[0], (full, lean)
    if full[0] == "error":
        assert lean[1] == full[1]
    else:
        assert lean[1].as_dict() == {name: getattr(full[1], name) for name in DEFAULTS}
        assert lean[1].publish_path() == full[1].publish_path()
        assert lean[1].price_max_age() == full[1].price_max_age()


def _refusals() -> tuple[str, str]:
    """The settings model's ConfigError line and the lean reader's, for the same sources."""
    with pytest.raises(ConfigError) as full:
        load_settings()
    with pytest.raises(ConfigError) as lean:
        load_reader_settings()
    return str(full.value), str(lean.value)


def test_reader_refuses_an_unknown_variable_like_the_model(clean_env):
    clean_env.setenv("CAPCOVER_LOCK_BUGDET_S", "5")
    full, lean = _refusals()
    assert lean == full and "did you mean CAPCOVER_LOCK_BUDGET_S?" in lean


def test_reader_refuses_an_unknown_file_key_like_the_model(clean_env, tmp_path):
    path = tmp_path / "capcover.toml"
    path.write_text("lock_budget = 5\n", encoding="utf-8")
    clean_env.setenv("CAPCOVER_CONFIG", str(path))
    full, lean = _refusals()
    assert lean == full and "unknown key 'lock_budget' (did you mean lock_budget_s?)" in lean


def test_reader_asking_for_a_key_it_did_not_read_is_an_attribute_error(clean_env):
    with pytest.raises(AttributeError, match="schedule_cron was not read"):
        _ = load_reader_settings().schedule_cron


# -- the commands: same exits, same precedence ----------------------------------------------


@pytest.mark.parametrize(("argv", "_code"), READERS, ids=[" ".join(a[:2]) for a, _ in READERS])
@pytest.mark.parametrize(
    ("name", "value", "says"),
    [
        ("CAPCOVER_DB", "", "CAPCOVER_DB: must not be empty"),
        ("CAPCOVER_LOCK_BUDGET_S", "-1", "CAPCOVER_LOCK_BUDGET_S: Input should be greater than"),
        ("CAPCOVER_LOCK_BUDGET_S", "inf", "CAPCOVER_LOCK_BUDGET_S: Input should be a finite"),
        ("CAPCOVER_LOCK_BUDGET_S", "soon", "CAPCOVER_LOCK_BUDGET_S: must be a plain decimal"),
        ("CAPCOVER_DB_PATH", "x.duckdb", "CAPCOVER_DB_PATH: not a capcover setting"),
    ],
)
def test_readers_bad_value_they_read_exits_2_naming_it(
    clean_env, capsys, argv, _code, name, value, says
):
    clean_env.setenv(name, value)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"capcover: error: {says}") and err.count("\n") == 1


def test_readers_status_checks_the_schedule_it_reads(warehouse, monkeypatch, capsys):
    monkeypatch.setenv("CAPCOVER_SCHEDULE_CRON", "every day")
    assert main(["status"]) == 2
    assert "CAPCOVER_SCHEDULE_CRON: must be a 5-field cron" in capsys.readouterr().err


def test_readers_refuse_settings_they_do_not_read_too(warehouse, monkeypatch, capsys):
    # A read-only command never uses the CoinGecko plan, but a mistake stops every command
    # (red team C-08): the same line as `run` and `config`.
    monkeypatch.setenv("CAPCOVER_COINGECKO_PLAN", "gold")
    assert main(["report", "--format", "json"]) == 2
    line = capsys.readouterr().err
    assert line.startswith("capcover: error: CAPCOVER_COINGECKO_PLAN") and line.count("\n") == 1
    assert main(["config"]) == 2
    assert capsys.readouterr().err == line


def test_readers_environment_beats_file_beats_default(warehouse, monkeypatch, tmp_path, capsys):
    path = tmp_path / "capcover.toml"
    path.write_text(f'db = "{warehouse}"\nlock_budget_s = 1.5\n', encoding="utf-8")
    monkeypatch.delenv("CAPCOVER_DB")
    monkeypatch.delenv("CAPCOVER_LOCK_BUDGET_S")
    monkeypatch.setenv("CAPCOVER_CONFIG", str(path))
    sql = ["sql", "SELECT count(*) AS n FROM report_daily", "--format", "json"]
    assert main(sql) == 0  # the warehouse named only in the file
    assert json.loads(capsys.readouterr().out)[0]["n"] == 5  # the fixture day's 5 reports
    assert load_reader_settings().lock_budget_s == 1.5
    monkeypatch.setenv("CAPCOVER_DB", str(tmp_path / "elsewhere.duckdb"))
    assert main(sql) == 1  # the environment wins: no warehouse there
    assert "elsewhere.duckdb" in capsys.readouterr().err
    assert main(["--db", str(warehouse), *sql]) == 0  # and --db beats the environment


# -- what each command imports --------------------------------------------------------------


def _loaded(argv: list[str], env: dict[str, str]) -> tuple[int, list[str]]:
    """Exit code and the HEAVY modules loaded after running `argv` in a fresh interpreter."""
    seen = commands_in_fresh_process(argv, env={**env, "PATH": PLAIN_PATH})
    return seen.codes[0], seen.loaded(*HEAVY)


@pytest.mark.parametrize(("argv", "code"), READERS, ids=[" ".join(a[:2]) for a, _ in READERS])
def test_readers_load_no_heavy_module_for_csv_and_json(warehouse, env, argv, code):
    for fmt in ("csv", "json"):
        assert _loaded([*argv, "--format", fmt], env) == (code, [])


def test_readers_status_asks_prefect_only_for_a_configured_api(warehouse, env):
    # With a Prefect API named, status asks Prefect's own settings which one (what `run` and
    # `serve` use) and that server for the next run over requests. Nothing listens on port 9:
    # status falls back to the cron schedule, having asked.
    api = {**env, "PREFECT_API_URL": "http://127.0.0.1:9/api"}
    code, loaded = _loaded(["status", "--format", "json"], api)
    assert code == 0 and {"prefect", "requests"} <= set(loaded)
    assert _loaded(["status", "--format", "json"], env) == (0, [])  # none named: none loaded


@pytest.mark.parametrize(("argv", "code"), READERS, ids=[" ".join(a[:2]) for a, _ in READERS])
def test_readers_plain_tables_load_no_rich(warehouse, env, argv, code):
    assert _loaded(argv, env) == (code, [])  # the default format: a table, drawn without rich


# -- tables without rich: fitted to the terminal ---------------------------------------------

_ascii = st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=40)
_any_text = st.text(max_size=30)
_wide_text = st.text(st.sampled_from("漢字テスト한국어ｆｕｌｌé\u0301ab -_/"), max_size=30)


@settings(max_examples=300, deadline=None)
@given(
    columns=st.lists(st.one_of(_ascii, _any_text), min_size=1, max_size=6),
    data=st.data(),
    title=st.one_of(st.none(), _ascii, _any_text),
    width=st.integers(67, 160),
)
def test_tables_every_line_fits_the_width_and_no_cell_text_is_lost(columns, data, title, width):
    from capcover.model.text import escape_controls
    from capcover.report.tables import render, text_width

    cell = st.one_of(_ascii, _any_text, _wide_text, st.sampled_from(["[b]x", ":smile:", "a\tb"]))
    rows = data.draw(
        st.lists(st.lists(cell, min_size=len(columns), max_size=len(columns)), max_size=4)
    )
    out = render(columns, [tuple(r) for r in rows], "table", title=title, width=width)
    lines = out.splitlines()
    # Text columns can always shrink to 8 characters: six of them fit 6 x (8 + 3) + 1 = 67.
    assert all(text_width(line) <= width for line in lines), out
    # Every character of every cell is still there (wrapping drops only the spaces it breaks at).
    flat = "".join("".join(line.split()) for line in lines)
    for r in rows:
        for value in r:
            for word in escape_controls(value).split():
                for ch in word:
                    assert ch in flat
    assert not any(c in out for c in "\x1b\x00\r\x85\u202e")  # controls never reach it raw


def test_tables_plain_table_draws_typical_results():
    from capcover.report.tables import render

    cols, rows = ["report_date", "scenario", "coverage_ratio"], [("2024-04-03", "h100", 0.4492)]
    assert render(cols, rows, "table", title="capcover daily report", width=0).splitlines() == [
        " " * 11 + "capcover daily report",
        "\u250f" + "\u2533".join("\u2501" * n for n in (13, 10, 16)) + "\u2513",
        "\u2503 report_date \u2503 scenario \u2503 coverage_ratio \u2503",
        "\u2521" + "\u2547".join("\u2501" * n for n in (13, 10, 16)) + "\u2529",
        "\u2502 2024-04-03  \u2502 h100     \u2502          0.449 \u2502",
        "\u2514" + "\u2534".join("\u2500" * n for n in (13, 10, 16)) + "\u2518",
    ]


def test_tables_wrap_text_columns_but_never_numbers():
    from capcover.report.tables import render

    out = render(
        ["scenario", "coverage_ratio", "unit_price_usd"],
        [("a-scenario-name-of-sixty-characters-that-a-user-gave-it-here", 1.1574, 30000.0)],
        "table",
        width=40,
    )
    lines = out.splitlines()
    assert max(len(line) for line in lines) <= 40
    body = [line for line in lines if line.startswith("\u2502")]
    assert len(body) > 1  # the name wrapped over several lines of one row
    assert "1.157" in body[0] and "$30,000" in body[0]  # numbers whole, on the row's first line
