"""Every numeric setting bounded (docs/threat-model.md, "Settings"): the CLASS of values a
setting can be given, not a list of examples. For each numeric setting, hypothesis draws from
its whole domain (any float or integer, huge, tiny, negative, subnormal, non-finite, and text
that only looks like a number) and the outcome is either a value inside the setting's range
(config/defaults.py) or exactly one line naming the setting, exit 2. List settings refuse a
repeated entry at load time; scenario numbers and command-line numbers are bounded the same way.
"""

from __future__ import annotations

import math
import os
import typing

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from capcover.cli.main import main
from capcover.config.defaults import BOUNDS, ITEM_BOUNDS, SCENARIO_BOUNDS
from capcover.config.errors import ConfigError
from capcover.config.reader import DEFAULTS, load_reader_settings
from capcover.config.settings import Settings, load_settings

PROPERTY = settings(
    derandomize=True,
    deadline=None,
    max_examples=300,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.fixture
def clean_env(monkeypatch):
    for key in list(os.environ):
        if key.upper().startswith("CAPCOVER_"):
            monkeypatch.delenv(key)
    return monkeypatch


def _numeric_fields() -> dict[str, type]:
    out = {}
    for name, field in Settings.model_fields.items():
        args = typing.get_args(field.annotation) or (field.annotation,)
        kinds = {a for a in args if a in (int, float)}
        if kinds and not any(a is list for a in args):
            out[name] = float if float in kinds else int
    return out


NUMERIC = _numeric_fields()


def test_settings_bounds_cover_every_numeric_setting():
    assert set(NUMERIC) == set(BOUNDS)
    assert set(ITEM_BOUNDS) == {"alert_levels"}
    for name, b in BOUNDS.items():
        default = Settings.model_fields[name].default
        assert default is None or b.contains(default), name


# Any number a setting can be given, as the environment carries it: text.
NUMBERS = (
    st.floats(allow_nan=True, allow_infinity=True).map(repr)
    | st.floats(allow_nan=False, allow_infinity=False, min_value=-1e6, max_value=1e6).map(repr)
    | st.integers(-(10**30), 10**30).map(str)
    | st.sampled_from(
        ["1e308", "1e-9", "1e-300", "10^21", "-0", "0", "0x10", " 5 ", "5s", "", "1_000", "½"]
    )
)


def _one_line_naming(exc: ConfigError, name: str) -> None:
    text = str(exc)
    assert "\n" not in text and "\r" not in text
    assert text.startswith(f"CAPCOVER_{name.upper()}: "), text


@PROPERTY
@given(name=st.sampled_from(sorted(BOUNDS)), raw=NUMBERS)
def test_settings_bounds_any_value_is_in_range_or_one_line_naming_the_setting(clean_env, name, raw):
    os.environ[f"CAPCOVER_{name.upper()}"] = raw
    try:
        try:
            value = getattr(load_settings(), name)
        except ConfigError as exc:
            _one_line_naming(exc, name)
            return
        assert isinstance(value, NUMERIC[name])
        assert BOUNDS[name].contains(value), (name, raw, value)
    finally:
        os.environ.pop(f"CAPCOVER_{name.upper()}", None)


@PROPERTY
@given(data=st.data(), name=st.sampled_from(sorted(BOUNDS)))
def test_settings_bounds_every_value_inside_the_range_is_accepted(clean_env, data, name):
    b = BOUNDS[name]
    if NUMERIC[name] is int:
        value: float = data.draw(st.integers(math.ceil(b.low), math.floor(b.high)))
    else:
        value = data.draw(st.floats(b.low, b.high, exclude_min=b.low_open, allow_nan=False))
    given: dict[str, float] = {name: value}
    # The band's two ends must stay ordered (a rule of its own, tested in test_config_strict).
    if name == "sector_cap_max_usd":
        given = {name: max(value, 2e6), "sector_cap_min_usd": 1e6}
    if name == "sector_cap_min_usd":
        given = {name: min(value, 1e17), "sector_cap_max_usd": 1e18}
    assert getattr(load_settings(**given), name) == given[name]


@pytest.mark.parametrize(
    ("name", "raw"),
    [
        ("HTTP_READ_TIMEOUT_S", "1e308"),
        ("COINGECKO_RATE_PER_MINUTE", "1e-9"),
        ("COINGECKO_RATE_PER_MINUTE", "0.01"),  # would sleep 105 minutes between requests
        ("VASTAI_RATE_PER_MINUTE", "0.5"),
        ("HTTP_MAX_BODY_MB", "1e9"),
        ("LOCK_BUDGET_S", "1e308"),
        ("PUBLISH_KEEP", "1000000000000000000000"),
        ("SQL_TIMEOUT_S", "0"),
        ("SQL_MEMORY_LIMIT_MB", "1"),
        ("ALERT_LEVELS", "1.0,1e300"),
    ],
)
def test_settings_bounds_issue_examples_exit_2_with_one_line(clean_env, capsys, name, raw):
    clean_env.setenv(f"CAPCOVER_{name}", raw)
    assert main(["config"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"capcover: error: CAPCOVER_{name}: ") and err.count("\n") == 1
    assert "Traceback" not in err and "unexpected" not in err


# -- the lean reader of read-only commands agrees with the model -----------------------------

READER_NUMERIC = sorted(k for k in DEFAULTS if k in BOUNDS)


@PROPERTY
@given(name=st.sampled_from(READER_NUMERIC), raw=NUMBERS)
def test_settings_bounds_reader_accepts_exactly_what_the_model_accepts(clean_env, name, raw):
    os.environ[f"CAPCOVER_{name.upper()}"] = raw
    try:
        try:
            model: object = getattr(load_settings(), name)
        except ConfigError as exc:
            model = ("error", str(exc))
        try:
            lean: object = getattr(load_reader_settings([name]), name)
        except ConfigError as exc:
            lean = ("error", str(exc))
        assert lean == model
    finally:
        os.environ.pop(f"CAPCOVER_{name.upper()}", None)


# -- list settings: each entry once, checked at load time -----------------------------------

LISTS = {
    "categories": st.text("abcdefghijklmnopqrstuvwxyz0123456789-", min_size=1, max_size=20),
    "vastai_gpu_names": st.sampled_from(["H100 SXM", "H100 PCIE", "H200", "B200", "A100"]),
    "gpuhunt_providers": st.sampled_from(["aws", "azure", "gcp", "oci", "runpod", "verda"]),
    "alert_scenarios": st.sampled_from(["h100-purchase", "coindesk-2024", "h100-all-in"]),
    "alert_rules": st.sampled_from(["threshold_crossed", "relative_change", "stale_data"]),
    "alert_levels": st.sampled_from(["1.0", "1.5", "2", "0.5"]),
    "alert_urls": st.sampled_from(["json://hook.local/a", "json://hook.local/b"]),
}


@settings(
    derandomize=True,
    deadline=None,
    max_examples=120,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(data=st.data(), name=st.sampled_from(sorted(LISTS)))
def test_settings_bounds_a_repeated_list_entry_is_refused_at_load_time(clean_env, data, name):
    items = data.draw(st.lists(LISTS[name], min_size=1, max_size=4, unique=True))
    twice = data.draw(st.sampled_from(items))
    at = data.draw(st.integers(0, len(items)))
    listed = [*items[:at], twice, *items[at:]]
    os.environ[f"CAPCOVER_{name.upper()}"] = ",".join(listed)
    try:
        with pytest.raises(ConfigError) as info:
            load_settings()
    finally:
        os.environ.pop(f"CAPCOVER_{name.upper()}", None)
    _one_line_naming(info.value, name)
    first = listed.index(twice) + 1
    second = listed.index(twice, first) + 1
    assert f"entry #{second} repeats entry #{first}" in str(info.value)
    if name == "alert_urls":  # a URL is a secret: never shown
        assert "hook.local" not in str(info.value)


def test_settings_bounds_categories_ai_ai_fails_before_any_request(fake_cg, env, monkeypatch):
    fake_cg.serve()
    monkeypatch.setenv("CAPCOVER_CATEGORIES", "artificial-intelligence,artificial-intelligence")
    assert main(["run"]) == 2
    assert fake_cg.server.log == []


# -- scenario numbers ----------------------------------------------------------------------

SCENARIO = (
    '[[scenario]]\nname = "edge"\ngpu_sku = "H100"\ngpu_count = {count}\n'
    'price = {{ kind = "{kind}", {field} = {value} }}\n'
)


@settings(
    derandomize=True,
    deadline=None,
    max_examples=150,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    field=st.sampled_from(["unit_price_usd", "hours", "multiplier", "gpu_count"]),
    value=st.floats(min_value=1e-320, max_value=1e300, allow_subnormal=True),
)
def test_settings_bounds_scenario_numbers_are_bounded(tmp_path, clean_env, field, value):
    if field == "gpu_count":
        count, kind, pfield, pvalue = max(1, min(int(value), 10**18)), "fixed", "unit_price_usd", 1
    elif field == "unit_price_usd":
        count, kind, pfield, pvalue = 1, "fixed", field, value
    else:
        count, kind, pfield, pvalue = 1, "purchase", field, value
    path = tmp_path / "c.toml"
    path.write_text(
        SCENARIO.format(count=count, kind=kind, field=pfield, value=repr(float(pvalue))),
        encoding="utf-8",
    )
    os.environ["CAPCOVER_CONFIG"] = str(path)
    key = "gpu_count" if field == "gpu_count" else f"price.{field}"
    checked = count if field == "gpu_count" else pvalue
    try:
        try:
            scenarios = {s.name: s for s in load_settings().scenarios()}
        except ConfigError as exc:
            text = str(exc)
            assert "\n" not in text and "scenario edge: " in text
            assert not SCENARIO_BOUNDS[key].contains(checked) or "gpu_count" in text
            return
        assert SCENARIO_BOUNDS[key].contains(checked)
        assert scenarios["edge"].gpu_count == count
    finally:
        os.environ.pop("CAPCOVER_CONFIG", None)


def test_settings_bounds_a_scenario_priced_at_1e_300_exits_2(tmp_path, clean_env, capsys):
    path = tmp_path / "c.toml"
    path.write_text(
        SCENARIO.format(count=720_000, kind="fixed", field="unit_price_usd", value="1e-300")
    )
    clean_env.setenv("CAPCOVER_CONFIG", str(path))
    assert main(["config"]) == 2
    err = capsys.readouterr().err
    assert "scenario edge: price.unit_price_usd: 1e-300 is outside [0.01, 1e+09] USD" in err


# -- numbers on the command line --------------------------------------------------------------


@pytest.mark.parametrize(
    "argv",
    [
        ["status", "--limit", str(10**21)],
        ["status", "--limit", "0"],
        ["backfill", "--days", str(10**21)],
        ["backfill", "--days", "36501"],
    ],
)
def test_settings_bounds_command_line_numbers_exit_2_with_one_line(env, capsys, argv):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("capcover: error: ") and err.count("\n") == 1
    assert "unexpected" not in err and "Traceback" not in err


PAST = ["--date", "2024-01-02"]


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        (["--price", "1e300"], "--price must be a positive number up to 1e+12"),
        (["--price", "0.00001"], "outside $0.0001..$1e+09"),
        (["--price", "5", "--gpu-count", "0"], "--gpu-count must be 1 to"),
        (["--price", "5", "--memory-gb", "1e300"], "--memory-gb must be above 0"),
        (
            ["--price", "5", "--currency", "EUR", "--usd-per-unit", "1e300", *PAST],
            "--usd-per-unit must be positive, at most 1e+06",
        ),
        (
            ["--price", "1e9", "--currency", "EUR", "--usd-per-unit", "1000", *PAST],
            "outside $0.0001..$1e+09",
        ),
    ],
)
def test_settings_bounds_quotes_add_numbers_are_bounded(env, capsys, extra, words):
    argv = ["quotes", "add", "--sku", "H100", "--source", "Test dealer", *extra]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert words in err and err.count("\n") == 1
