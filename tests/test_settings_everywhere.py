"""One rule for every setting in every command (red team C-02, C-08): a number setting is a
plain decimal (`1_000`, `٣`, `５`, `0x10` are refused, not read as 1000, 3, 5 or 16), and a
mistake in ANY setting stops every command with the same one line and exit 2, the read-only
commands included (config/reader.py checks every value set, cheaply, and hands what it cannot
check to the settings model)."""

from __future__ import annotations

import math
import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from capcover.cli.main import main
from capcover.config.defaults import BOUNDS, DEFAULTS, SETTING_NAMES
from capcover.config.errors import ConfigError
from capcover.config.reader import CHECKS, PARSERS, load_reader_settings
from capcover.config.settings import load_settings
from capcover.flows.sequence import run_daily

PROPERTY = settings(
    deadline=None, max_examples=200, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
FULLWIDTH = str.maketrans("0123456789", "０１２３４５６７８９")
ARABIC_INDIC = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")


@st.composite
def odd_spelling(draw, name: str) -> str:
    """Text for setting `name` that only looks like a number within its range."""
    b = BOUNDS[name]
    whole = isinstance(getattr(DEFAULTS, name), int)
    low = math.floor(b.low) + 1 if b.low_open else math.ceil(b.low)
    number = draw(st.integers(max(low, 10), max(10, int(min(b.high, 1e6)))))
    text = str(number)
    how = draw(st.sampled_from(["underscore", "fullwidth", "arabic", "hex", "exp_underscore"]))
    if how == "underscore":
        at = draw(st.integers(1, len(text) - 1))
        text = text[:at] + "_" + text[at:]
    elif how == "fullwidth":
        text = text.translate(FULLWIDTH)
    elif how == "arabic":
        text = text.translate(ARABIC_INDIC)
    elif how == "hex":
        text = hex(number)
    else:
        text = f"{text}e0_0" if not whole else f"{text[0]}_{text[1:]}"
    return text


@pytest.fixture
def clean_env(monkeypatch, tmp_path):
    for key in list(os.environ):
        if key.upper().startswith(("CAPCOVER_", "PREFECT_")):
            monkeypatch.delenv(key)
    monkeypatch.setenv("CAPCOVER_DB", str(tmp_path / "w.duckdb"))
    return monkeypatch


@PROPERTY
@given(data=st.data(), name=st.sampled_from(sorted(BOUNDS)))
def test_settings_everywhere_numbers_are_plain_decimals_in_every_loader(clean_env, data, name):
    text = data.draw(odd_spelling(name))
    variable = f"CAPCOVER_{name.upper()}"
    with pytest.MonkeyPatch.context() as mp:  # one example's variable, not the next one's
        mp.setenv(variable, text)
        with pytest.raises(ConfigError) as model:
            load_settings()
        with pytest.raises(ConfigError) as reader:
            load_reader_settings()

    assert str(model.value).startswith(f"{variable}: must be a plain decimal number"), text
    assert str(reader.value) == str(model.value)


def test_settings_everywhere_the_reader_has_a_check_for_every_setting():
    assert set(CHECKS) == set(SETTING_NAMES)
    assert set(PARSERS) <= set(CHECKS)


# One mistake of each kind; each is a setting no read-only command uses itself.
MISTAKES = [
    ("CAPCOVER_HTTP_READ_TIMEOUT_S", "nan"),
    ("CAPCOVER_HTTP_READ_TIMEOUT_S", "1_0"),
    ("CAPCOVER_SECTOR_CAP_MIN_USD", "-1"),
    ("CAPCOVER_SECTOR_CAP_MIN_USD", "1e15"),  # above the band's default top
    ("CAPCOVER_COINGECKO_BASE_URL", "ftp://x"),
    ("CAPCOVER_COINGECKO_PLAN", "gold"),
    ("CAPCOVER_COINGECKO_API_KEY", "CG-with space-inside-1234"),
    ("CAPCOVER_CATEGORIES", "ai,ai"),
    ("CAPCOVER_VASTAI_GPU_NAMES", "H100\x07SXM"),
    ("CAPCOVER_GPUHUNT_PROVIDERS", "../etc"),
    ("CAPCOVER_ALERT_LEVELS", "1,1.0"),
    ("CAPCOVER_ALERT_RULES", "always"),
    ("CAPCOVER_ALERT_SCENARIOS", "no-such-scenario"),
    ("CAPCOVER_ALERT_URLS", "slak://T0KEN/b"),
    ("CAPCOVER_SCHEDULE_TIMEZONE", "Mars/Olympus"),
    ("CAPCOVER_PUBLISH_KEEP", "0"),
    ("CAPCOVER_QUOTES_FILE", ""),
]
COMMANDS = [
    ["sql", "SELECT 1"],
    ["report"],
    ["alerts"],
    ["status"],
    ["quotes", "list"],
    ["quotes", "list", "--stats"],
    ["explain"],
    ["config"],
]


@pytest.mark.parametrize(("variable", "value"), MISTAKES, ids=[f"{v}={x!r}" for v, x in MISTAKES])
def test_settings_everywhere_a_mistake_stops_every_command(
    fake_cg, env, monkeypatch, capsys, variable, value
):
    fake_cg.serve()
    run_daily(load_settings())  # a warehouse every read-only command can read
    monkeypatch.setenv(variable, value)
    assert main(["config"]) == 2
    line = capsys.readouterr().err
    assert line.startswith("capcover: error: CAPCOVER_") and line.count("\n") == 1
    assert variable in line or variable == "CAPCOVER_SECTOR_CAP_MIN_USD"  # the band names MAX

    for argv in COMMANDS:
        code = main(argv)
        out, err = capsys.readouterr()
        assert (code, err, out) == (2, line, ""), argv
