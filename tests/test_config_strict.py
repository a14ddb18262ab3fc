"""Strict configuration (issue 12.4 and 12.9): every mistake is ONE line naming the key and exit
2 before any network call; arbitrary TOML documents and environment values end as valid
Settings or one ConfigError line, never an unhandled exception (hypothesis)."""

from __future__ import annotations

import json
import logging
import math
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from capcover.cli.main import main
from capcover.config.settings import NON_SETTING_ENV, ConfigError, Settings, load_settings
from tests.helpers import python

ROOT = Path(__file__).resolve().parent.parent
FIELDS = sorted(Settings.model_fields)


@pytest.fixture
def clean_env(monkeypatch):
    for key in list(os.environ):
        if key.upper().startswith("CAPCOVER_"):
            monkeypatch.delenv(key)
    return monkeypatch


def _config(tmp_path, clean_env, text: str) -> Path:
    path = tmp_path / "capcover.toml"
    path.write_text(text, encoding="utf-8")
    clean_env.setenv("CAPCOVER_CONFIG", str(path))
    return path


def _exit_2_line(capsys, args=("config",)) -> str:
    assert main(list(args)) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("capcover: error: ") and "\n" not in err
    return err


SCENARIO = (
    '[[scenario]]\nname = "{name}"\ngpu_sku = "H100"\ngpu_count = {count}\n'
    'price = {{ kind = "fixed", unit_price_usd = {price} }}\n'
)


# -- unknown names --------------------------------------------------------------------------


def test_config_strict_unknown_file_key_suggests_the_closest(tmp_path, clean_env, capsys):
    _config(tmp_path, clean_env, 'coingeko_plan = "demo"\n')
    with pytest.raises(ConfigError, match="unknown key 'coingeko_plan'"):
        load_settings()
    err = _exit_2_line(capsys)
    assert "capcover.toml: unknown key 'coingeko_plan' (did you mean coingecko_plan?)" in err


def test_config_strict_unknown_file_key_without_a_close_match(tmp_path, clean_env, capsys):
    _config(tmp_path, clean_env, "[totally_unrelated]\nx = 1\n")
    err = _exit_2_line(capsys)
    assert "unknown key 'totally_unrelated'" in err and "did you mean" not in err


def test_config_strict_unknown_env_variable_suggests_the_closest(clean_env, capsys):
    clean_env.setenv("CAPCOVER_COINGEKO_PLAN", "demo")
    err = _exit_2_line(capsys)
    assert err == (
        "capcover: error: CAPCOVER_COINGEKO_PLAN: not a capcover setting (did you "
        "mean CAPCOVER_COINGECKO_PLAN?); unset it or fix the name"
    )


def test_config_strict_unknown_lower_case_env_variable_is_refused(clean_env):
    # pydantic-settings reads capcover_db as CAPCOVER_DB, so a lower-case typo counts too.
    clean_env.setenv("capcover_dbb", "x.duckdb")
    with pytest.raises(ConfigError, match=r"^capcover_dbb: not a capcover setting \(did you"):
        load_settings()


def test_config_strict_documented_non_setting_variables_are_allowed(tmp_path, clean_env):
    assert "CAPCOVER_REQUIRE_CHROMIUM" in NON_SETTING_ENV
    clean_env.setenv("CAPCOVER_REQUIRE_CHROMIUM", "1")
    _config(tmp_path, clean_env, 'coingecko_plan = "demo"\n')
    assert load_settings().coingecko_plan == "demo"


def test_config_strict_refuses_before_any_network_call(fake_cg, env, monkeypatch, capsys):
    fake_cg.serve()
    monkeypatch.setenv("CAPCOVER_HTTP_RETRY_BUGDET_S", "5")
    err = _exit_2_line(capsys, ["run", "--dry-run"])
    assert "CAPCOVER_HTTP_RETRY_BUGDET_S" in err and "CAPCOVER_HTTP_RETRY_BUDGET_S" in err
    assert fake_cg.server.log == []


def test_config_strict_scenario_from_the_environment_is_refused(clean_env, capsys):
    clean_env.setenv("CAPCOVER_SCENARIO", "")  # found by the property test below
    assert "CAPCOVER_SCENARIO: scenarios come only from the CAPCOVER_CONFIG file" in (
        _exit_2_line(capsys)
    )


def test_config_strict_environ_false_ignores_the_environment(clean_env):
    # The demo's settings: a stray variable in the user's shell must not stop a replay.
    clean_env.setenv("CAPCOVER_NOT_A_SETTING", "1")
    assert load_settings(environ=False).coingecko_plan == "public"


# -- scenarios ------------------------------------------------------------------------------


def test_config_strict_duplicate_scenario_names_in_the_file(tmp_path, clean_env, capsys):
    _config(
        tmp_path,
        clean_env,
        SCENARIO.format(name="mine", count=1, price=1)
        + SCENARIO.format(name="mine", count=2, price=1),
    )
    err = _exit_2_line(capsys)
    assert "scenario mine: defined twice ([[scenario]] #1 and #2)" in err


def test_config_strict_replacing_a_builtin_scenario_once_is_allowed(tmp_path, clean_env):
    _config(tmp_path, clean_env, SCENARIO.format(name="coindesk-2024", count=1, price=2))
    by_name = {s.name: s for s in load_settings().scenarios()}
    assert by_name["coindesk-2024"].gpu_count == 1


# -- non-finite numbers ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("CAPCOVER_LOCK_BUDGET_S", "inf"),
        ("CAPCOVER_HTTP_RETRY_BUDGET_S", "nan"),
        ("CAPCOVER_ALERT_LEVELS", "1.0,inf"),
        ("CAPCOVER_ALERT_RELATIVE_CHANGE_PCT", "Infinity"),
        ("CAPCOVER_PUBLISH_KEEP", "inf"),
        ("CAPCOVER_SECTOR_CAP_MAX_USD", "inf"),
        ("CAPCOVER_MAX_DAILY_MOVE", "inf"),
    ],
)
def test_config_strict_non_finite_env_number_is_refused(clean_env, capsys, name, value):
    clean_env.setenv(name, value)
    err = _exit_2_line(capsys)
    assert err.startswith(f"capcover: error: {name}: ")


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("lock_budget_s = inf\n", "CAPCOVER_LOCK_BUDGET_S"),
        ("alert_levels = [1.0, nan]\n", "CAPCOVER_ALERT_LEVELS"),
        ("sector_cap_min_usd = -inf\n", "CAPCOVER_SECTOR_CAP_MIN_USD"),
        (SCENARIO.format(name="x", count=1, price="inf"), "scenario x: price.unit_price_usd"),
        (SCENARIO.format(name="x", count="inf", price=1), "scenario x: gpu_count"),
        (
            '[[scenario]]\nname = "r"\ngpu_sku = "H100"\ngpu_count = 1\n'
            'price = { kind = "rental_hourly", hours = nan }\n',
            "scenario r: price.hours",
        ),
        (
            '[[scenario]]\nname = "m"\ngpu_sku = "H100"\ngpu_count = 1\n'
            'price = { kind = "purchase", multiplier = inf }\n',
            "scenario m: price.multiplier",
        ),
    ],
)
def test_config_strict_non_finite_file_number_is_refused(tmp_path, clean_env, capsys, text, where):
    _config(tmp_path, clean_env, text)
    err = _exit_2_line(capsys)
    assert where in err and "finite" in err


# -- bounds of the plausibility settings -----------------------------------------------------


def test_config_strict_sector_band_must_be_ordered(clean_env, capsys):
    clean_env.setenv("CAPCOVER_SECTOR_CAP_MIN_USD", "1e15")
    err = _exit_2_line(capsys)
    assert "CAPCOVER_SECTOR_CAP_MAX_USD: must be above CAPCOVER_SECTOR_CAP_MIN_USD" in err


def test_config_strict_max_daily_move_must_exceed_one(clean_env, capsys):
    clean_env.setenv("CAPCOVER_MAX_DAILY_MOVE", "1")
    assert "CAPCOVER_MAX_DAILY_MOVE: " in _exit_2_line(capsys)


def test_config_strict_plausibility_defaults(clean_env):
    s = load_settings()
    assert (s.sector_cap_min_usd, s.sector_cap_max_usd, s.max_daily_move) == (1e6, 1e14, 10.0)


# -- Apprise URLs ---------------------------------------------------------------------------

SECRET = "T0KEN" + "secretpart"


@pytest.mark.parametrize(
    ("urls", "where"),
    [
        (f"json://hook.local/x,slak://{SECRET}/b", "URL #2 of 2 (scheme slak://)"),
        (SECRET, "URL #1 of 1 (no scheme)"),
        (f"json://,json://hook.local/{SECRET}", "URL #1 of 2 (scheme json://)"),
        (f"mailto://{SECRET}", "URL #1 of 1 (scheme mailto://)"),
    ],
)
def test_config_strict_invalid_apprise_url_names_position_and_scheme_never_the_url(
    clean_env, capsys, caplog, urls, where
):
    clean_env.setenv("CAPCOVER_ALERT_URLS", urls)
    with caplog.at_level(logging.DEBUG):
        err = _exit_2_line(capsys)
    assert err.startswith("capcover: error: CAPCOVER_ALERT_URLS: ") and where in err
    assert SECRET not in err and "hook.local" not in err
    assert all(SECRET not in r.getMessage() for r in caplog.records)
    assert not logging.getLogger("apprise").disabled  # restored after the check


def test_config_strict_valid_apprise_urls_pass(clean_env):
    clean_env.setenv("CAPCOVER_ALERT_URLS", "json://hook.local/x,slack://tA/tB/tC")
    assert len(load_settings().alert_urls) == 2


def test_config_strict_apprise_is_imported_only_when_urls_are_set(clean_env):
    probe = (
        "import sys; from capcover.config.settings import load_settings; load_settings(); "
        "print('apprise' in sys.modules)"
    )
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("CAPCOVER_")}
    out = python("-c", probe, env=env, check=True).stdout.strip()
    assert out == "False"


# -- empty paths ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["CAPCOVER_DB", "CAPCOVER_QUOTES_FILE", "CAPCOVER_PUBLISH_DIR", "CAPCOVER_CONFIG"]
)
def test_config_strict_empty_path_is_refused(clean_env, capsys, name):
    clean_env.setenv(name, "  " if name == "CAPCOVER_PUBLISH_DIR" else "")
    err = _exit_2_line(capsys)
    assert err.startswith(f"capcover: error: {name}: must not be empty")


def test_config_strict_empty_path_in_the_file_is_refused(tmp_path, clean_env, capsys):
    _config(tmp_path, clean_env, 'db = ""\n')
    assert "CAPCOVER_DB: must not be empty" in _exit_2_line(capsys)


def test_config_strict_unreadable_config_file_is_one_line(tmp_path, clean_env, capsys):
    path = tmp_path / "capcover.toml"
    path.write_bytes(b"\xff\xfe not utf-8")
    clean_env.setenv("CAPCOVER_CONFIG", str(path))
    assert "not UTF-8 text (byte 0 is 0xff) — save it as UTF-8" in _exit_2_line(capsys)


def test_config_strict_report_command_goes_through_the_same_checks(clean_env, capsys):
    clean_env.setenv("CAPCOVER_DB", "")
    assert "CAPCOVER_DB: must not be empty" in _exit_2_line(capsys, ["report"])


# -- property-based: any document, any environment ------------------------------------------


def _toml(value) -> str:
    """A TOML literal for a JSON-like value (hypothesis builds them; tomli_w is not a dep)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        return {math.inf: "inf", -math.inf: "-inf"}.get(value, repr(value))
    if isinstance(value, str):
        # A JSON string is a TOML basic string once DEL is escaped too (JSON leaves it raw).
        return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return "{" + ", ".join(f"{_toml(k)} = {_toml(v)}" for k, v in value.items()) + "}"


def _settings_or_one_line() -> str:
    """Load; the only allowed failure is one ConfigError line."""
    try:
        load_settings()
    except ConfigError as exc:
        assert str(exc) and "\n" not in str(exc) and "\r" not in str(exc)
        text = str(exc)
        unknown = "not a capcover setting" in text or "unknown key" in text
        event(
            "ConfigError: unknown name"
            if unknown
            # --hypothesis-show-statistics
            else f"ConfigError: {text.split(': ')[1 if text.startswith('CAPCOVER_CONFIG') else 0]}"[
                :60
            ]
        )
        return "error"
    event("valid Settings")
    return "ok"


SCALARS = (
    st.booleans()
    | st.integers(-(10**20), 10**20)
    | st.floats()
    | st.text(max_size=20)
    | st.sampled_from(
        [
            "",
            "0",
            "1",
            "-1",
            "inf",
            "nan",
            "1e30",
            "public",
            "demo",
            "h100-purchase",
            "20 0 * * *",
            "UTC",
            "json://h.local/x",
        ]
    )
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=6,
)
SCENARIO_KEYS = [
    "name",
    "description",
    "gpu_sku",
    "gpu_count",
    "price",
    "kind",
    "unit_price_usd",
    "hours",
    "multiplier",
]
SCENARIO_TABLE = st.dictionaries(
    st.sampled_from(SCENARIO_KEYS),
    VALUES
    | st.fixed_dictionaries(
        {"kind": st.sampled_from(["fixed", "purchase", "x"])},
        optional={"unit_price_usd": SCALARS, "hours": SCALARS, "multiplier": SCALARS},
    ),
    max_size=6,
)
KNOWN_KEYS = st.sampled_from([f for f in FIELDS if f != "scenario"])
DOCUMENTS = st.dictionaries(
    KNOWN_KEYS | KNOWN_KEYS | KNOWN_KEYS | st.text(min_size=1, max_size=12),
    VALUES,
    max_size=5,
).flatmap(
    lambda doc: st.lists(SCENARIO_TABLE, max_size=3).map(
        lambda tables: {**doc, **({"scenario": tables} if tables else {})}
    )
)
PROPERTY = settings(
    derandomize=True,
    deadline=None,
    max_examples=150,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@PROPERTY
@given(doc=DOCUMENTS)
def test_config_property_any_toml_document_is_settings_or_one_config_error(
    tmp_path, clean_env, doc
):
    path = _config(tmp_path, clean_env, "")
    lines = [f"{_toml(k)} = {_toml(v)}" for k, v in doc.items() if k != "scenario"]
    for table in doc.get("scenario", []):
        lines.append("[[scenario]]")
        lines += [f"{_toml(k)} = {_toml(v)}" for k, v in table.items()]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8", errors="surrogatepass")
    _settings_or_one_line()


@PROPERTY
@given(text=st.text(max_size=200) | st.binary(max_size=200).map(lambda b: b.decode("latin-1")))
def test_config_property_any_file_text_is_settings_or_one_config_error(tmp_path, clean_env, text):
    path = _config(tmp_path, clean_env, "")
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    _settings_or_one_line()


ENV_TEXT = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=30
)


@PROPERTY
@given(
    values=st.dictionaries(
        # Mostly real names (their values are what is tried), now and then an unknown one.
        st.sampled_from([f"CAPCOVER_{f.upper()}" for f in FIELDS if f != "config"])
        | st.sampled_from([f"CAPCOVER_{f.upper()}" for f in FIELDS if f != "config"])
        | st.sampled_from([f"CAPCOVER_{f.upper()}" for f in FIELDS if f != "config"])
        | st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZ_", min_size=1, max_size=10).map(
            lambda s: f"CAPCOVER_{s}"
        ),
        ENV_TEXT
        | st.sampled_from(
            [
                "",
                "0",
                "-1",
                "inf",
                "nan",
                "1e30",
                "demo",
                "1,2",
                "h100-purchase",
                "json://h.local/x",
                "slak://x",
                "[]",
            ]
        ),
        max_size=5,
    )
)
def test_config_property_any_environment_is_settings_or_one_config_error(clean_env, values):
    try:
        os.environ.update(values)
        _settings_or_one_line()
    finally:
        for key in values:
            os.environ.pop(key, None)


@settings(
    derandomize=True,
    deadline=None,
    max_examples=40,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    values=st.dictionaries(
        st.sampled_from(
            [
                "CAPCOVER_DB",
                "CAPCOVER_LOCK_BUDGET_S",
                "CAPCOVER_ALERT_LEVELS",
                "CAPCOVER_PUBLISH_KEEP",
                "CAPCOVER_SCHEDULE_CRON",
                "CAPCOVER_CATEGRIES",
            ]
        ),
        ENV_TEXT,
        max_size=3,
    )
)
def test_config_property_cli_exits_0_or_2_with_one_line(clean_env, capsys, values):
    try:
        os.environ.update(values)
        code = main(["config", "--format", "json"])
    finally:
        for key in values:
            os.environ.pop(key, None)
    err = capsys.readouterr().err.strip()
    assert code in (0, 2)
    if code == 2:
        assert err.startswith("capcover: error: ") and "\n" not in err
