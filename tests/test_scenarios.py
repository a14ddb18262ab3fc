"""Scenario definitions: built-ins, user TOML, and the report builder's choices."""

from datetime import UTC, date, datetime

import pytest

from capcover.config.settings import ConfigError, load_settings
from capcover.model.report import QuotePoint, SectorInputs, build_reports, price_stats


def _sector(cap=25e9):
    now = datetime(2024, 4, 3, 6, 40, tzinfo=UTC)
    return SectorInputs(
        date(2024, 4, 3),
        "category",
        "artificial-intelligence",
        cap,
        2e9,
        10,
        24e9,
        40e9,
        1e9,
        now,
        now,
    )


def test_scenarios_builtin_include_the_contract_ones(env):
    names = [s.name for s in load_settings().scenarios()]
    assert names[:2] == ["coindesk-2024", "h100-purchase"]


def test_scenarios_user_file_adds_and_overrides(env, tmp_path, monkeypatch):
    cfg = tmp_path / "capcover.toml"
    cfg.write_text(
        '[[scenario]]\nname = "h100-purchase"\ngpu_sku = "H100"\ngpu_count = 1000\n'
        'price = { kind = "purchase" }\n'
        '[[scenario]]\nname = "my-10k"\ngpu_sku = "H100"\ngpu_count = 10000\n'
        'price = { kind = "fixed", unit_price_usd = 25000 }\n'
    )
    monkeypatch.setenv("CAPCOVER_CONFIG", str(cfg))
    by_name = {s.name: s for s in load_settings().scenarios()}
    assert by_name["h100-purchase"].gpu_count == 1000
    assert by_name["my-10k"].unit_price(None) == 25000


def test_scenarios_bad_user_entry_is_one_line_error(env, tmp_path, monkeypatch):
    cfg = tmp_path / "capcover.toml"
    cfg.write_text(
        '[[scenario]]\nname = "bad"\ngpu_sku = "H100"\ngpu_count = -5\n'
        'price = { kind = "fixed", unit_price_usd = 1 }\n'
    )
    monkeypatch.setenv("CAPCOVER_CONFIG", str(cfg))
    with pytest.raises(ConfigError, match="scenario bad: gpu_count"):
        load_settings()


def test_build_reports_uses_median_of_latest_quotes_and_skips_unpriced(env):
    scenarios = load_settings().scenarios()
    points = [
        QuotePoint("H100", "purchase", s, p, date(2024, 1, 1))
        for s, p in [("a", 25_000), ("b", 30_000), ("c", 31_000)]
    ]
    rows, skipped = build_reports(_sector(), scenarios, price_stats(points), "run-1")
    by = {r.scenario: r for r in rows}
    assert by["coindesk-2024"].coverage_ratio == 25e9 / 21.6e9
    assert by["coindesk-2024"].price_quote_count == 0
    assert by["h100-purchase"].unit_price_usd == 30_000
    assert by["h100-purchase"].price_quote_count == 3
    assert "b200-purchase" in dict(skipped)
