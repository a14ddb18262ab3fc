"""Configuration: environment over the TOML file over defaults; masking; one-line errors."""

from __future__ import annotations

import os

import pytest

from capcover.cli.main import main
from capcover.config.settings import ConfigError, load_settings


@pytest.fixture
def clean_env(monkeypatch):
    for key in list(os.environ):
        if key.startswith("CAPCOVER_"):
            monkeypatch.delenv(key)
    return monkeypatch


def _config(tmp_path, clean_env, text: str):
    path = tmp_path / "capcover.toml"
    path.write_text(text)
    clean_env.setenv("CAPCOVER_CONFIG", str(path))
    return path


def test_config_defaults_without_env_or_file(clean_env):
    s = load_settings()
    assert (s.schedule_cron, s.schedule_timezone, s.lock_budget_s) == ("20 0 * * *", "UTC", 30.0)
    assert str(s.publish_path()) == os.path.join("data", "published")


def test_config_file_beats_default(tmp_path, clean_env):
    _config(
        tmp_path,
        clean_env,
        'schedule_cron = "5 1 * * *"\nlock_budget_s = 7\npublish_dir = "/srv/capcover/published"\n',
    )
    s = load_settings()
    assert (s.schedule_cron, s.lock_budget_s) == ("5 1 * * *", 7.0)
    assert str(s.publish_path()) == "/srv/capcover/published"


def test_config_env_beats_file(tmp_path, clean_env):
    _config(tmp_path, clean_env, 'schedule_timezone = "Europe/Berlin"\nlock_budget_s = 7\n')
    clean_env.setenv("CAPCOVER_SCHEDULE_TIMEZONE", "America/New_York")
    s = load_settings()
    assert s.schedule_timezone == "America/New_York"
    assert s.lock_budget_s == 7.0  # not overridden: still from the file


def test_config_command_masks_secrets(tmp_path, clean_env, capsys):
    _config(tmp_path, clean_env, 'coingecko_api_key = "CG-file-secret-123"\n')
    clean_env.setenv(
        "CAPCOVER_ALERT_URLS", "slack://tokenA/tokenB/tokenC,json://hook.local/x?k=sq7z"
    )
    assert main(["config", "--format", "csv"]) == 0
    out = capsys.readouterr().out
    for secret in ("CG-file-secret-123", "tokenA", "hook.local", "sq7z"):
        assert secret not in out
    assert "coingecko_api_key,CAPCOVER_COINGECKO_API_KEY,********,config file" in out
    assert "slack://********" in out
    assert "schedule_cron,CAPCOVER_SCHEDULE_CRON,20 0 * * *,default" in out


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("CAPCOVER_LOCK_BUDGET_S", "-1"),
        ("CAPCOVER_SCHEDULE_CRON", "every day"),
        ("CAPCOVER_SCHEDULE_TIMEZONE", "Mars/Olympus"),
        ("CAPCOVER_PUBLISH_KEEP", "0"),
        ("CAPCOVER_COINGECKO_PLAN", "enterprise"),
    ],
)
def test_config_bad_env_value_is_one_line_naming_the_setting(clean_env, capsys, name, value):
    clean_env.setenv(name, value)
    with pytest.raises(ConfigError, match=f"^{name}: "):
        load_settings()
    assert main(["config"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"capcover: error: {name}: ") and "\n" not in err


def test_config_bad_file_value_names_the_setting(tmp_path, clean_env, capsys):
    _config(tmp_path, clean_env, 'schedule_cron = "61 0 * * *"\n')
    assert main(["status"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("capcover: error: CAPCOVER_SCHEDULE_CRON: ") and "minute" in err.lower()


def test_config_missing_file_is_a_usage_error(tmp_path, clean_env, capsys):
    clean_env.setenv("CAPCOVER_CONFIG", str(tmp_path / "nope.toml"))
    assert main(["config"]) == 2
    assert f"CAPCOVER_CONFIG {tmp_path / 'nope.toml'}: no such file" in capsys.readouterr().err
