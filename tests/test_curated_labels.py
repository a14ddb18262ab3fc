"""A hand-edited curated quote reads as `capcover quotes add --label` would write it: what the
entry leaves out (SKU, form factor, memory) its label tells by the SKU catalogue's tokens, as
for a feed's names (red team D11); and the curated words spot, interruptible, preemptible are
the tier `spot`, the one rule the methodology states (red team D12)."""

from __future__ import annotations

import json
import tomllib
from datetime import UTC, date, datetime
from pathlib import Path
from types import SimpleNamespace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from capcover.cli.main import main
from capcover.config.settings import load_settings
from capcover.ingest.curated import build_entry
from capcover.ingest.quotes import curated_entry_to_quote
from capcover.ingest.sku import CATALOGUE_PATH, UNMAPPED, normalise
from capcover.warehouse.db import open_warehouse
from tests.conftest import category_payload

FIXTURES = Path(__file__).parents[1] / "fakeapi" / "fixtures" / "gpu-feeds"
CURATED = Path(__file__).parents[1] / "ingest" / "data" / "quotes.toml"


def _strings(node: object) -> list[str]:
    if isinstance(node, dict):
        return [s for v in node.values() for s in _strings(v)]
    if isinstance(node, list):
        return [s for v in node for s in _strings(v)]
    return [node] if isinstance(node, str) else []


def _real_labels() -> list[str]:
    """Every GPU name the feeds' fixtures (Vast.ai gpu_name, RunPod displayName and id,
    gpuhunt gpu_name and instance_name) and the shipped quotes file write that names a SKU."""
    found = {
        s
        for path in sorted(FIXTURES.glob("*.json"))
        for s in _strings(json.loads(path.read_text(encoding="utf-8")))
        if len(s) < 60 and normalise(s).sku != UNMAPPED
    }
    found |= {q["sku_label"] for q in tomllib.loads(CURATED.read_text())["quote"]}
    return sorted(found)


REAL = _real_labels()
CATALOGUE = tomllib.loads(CATALOGUE_PATH.read_text(encoding="utf-8"))
SKU_TOKENS = sorted({t for e in CATALOGUE["sku"] for t in e["tokens"]})
FORM_TOKENS = sorted({(t, e["name"]) for e in CATALOGUE["form_factor"] for t in e["tokens"]})


def _entry(label: str, **more: object) -> dict:
    return {
        "observed": date(2026, 1, 5),
        "source": "Hand desk",
        "kind": "rental_hourly",
        "sku_label": label,
        "price": 2.5,
        "currency": "USD",
        **more,
    }


def _quotes_add(label: str) -> dict:
    """The [[quote]] `capcover quotes add --label <label>` writes (its own validation)."""
    args = SimpleNamespace(
        price=2.5,
        currency="USD",
        date=date(2026, 1, 5),
        source="Hand desk",
        gpu_count=1,
        label=label,
        sku=None,
        usd_per_unit=None,
        url=None,
        kind="rental_hourly",
        form_factor=None,
        memory_gb=None,
        region=None,
        condition=None,
        note=None,
    )
    return build_entry(args, date(2026, 1, 5))


def test_curated_real_labels_read_as_quotes_add_writes_them():
    assert len(REAL) > 30 and "NVIDIA H100 80GB HBM3" in REAL and "gpu_8x_h100_sxm5" in REAL
    for label in REAL:
        written = _quotes_add(label)
        quote = curated_entry_to_quote(_entry(label))  # no sku, form_factor, memory_gb keys
        assert quote.sku == written["sku"], label
        assert quote.form_factor == written.get("form_factor", "unknown"), label
        assert quote.memory_gb == written.get("memory_gb"), label


@settings(max_examples=200, deadline=None)
@given(
    sku=st.sampled_from(SKU_TOKENS),
    form=st.sampled_from(FORM_TOKENS),
    digit=st.sampled_from(["", "4", "5", "6"]),
    memory=st.sampled_from(["", " 80GB", " 141 GB", "-94GB"]),
    sep=st.sampled_from([" ", "-", "_"]),
    vendor=st.sampled_from(["", "NVIDIA ", "nvidia ", "AMD Instinct "]),
    case=st.sampled_from([str, str.lower, str.upper]),
)
def test_curated_label_form_factor_tokens_apply_at_run_time(
    sku, form, digit, memory, sep, vendor, case
):
    token, name = form
    label = case(f"{vendor}{sku}{sep}{token}{digit}{memory}")
    told = normalise(label)
    quote = curated_entry_to_quote(_entry(label, sku=told.sku if told.sku != UNMAPPED else sku))
    assert quote.form_factor == name, label  # SXM5 is SXM, PCIE is PCIe, ...
    assert quote.form_factor == (_quotes_add(label).get("form_factor") or "unknown")


def test_curated_explicit_keys_win_over_the_label():
    quote = curated_entry_to_quote(
        _entry("NVIDIA H100 SXM5 80GB", sku="H100", form_factor="PCIe", memory_gb=94)
    )
    assert (quote.sku, quote.form_factor, quote.memory_gb) == ("H100", "PCIe", 94)
    assert quote.form_factor_v1 == "PCIe"  # what price method v1 saw: the key only
    assert curated_entry_to_quote(_entry("NVIDIA H100 SXM5")).form_factor_v1 is None


def test_curated_label_without_a_sku_is_one_line_error():
    with pytest.raises(ValueError, match="sku: missing, and the label 'Mystery Card' names no"):
        curated_entry_to_quote(_entry("Mystery Card"))


@settings(max_examples=100, deadline=None)
@given(
    word=st.sampled_from(["spot", "interruptible", "preemptible"]),
    before=st.sampled_from(["", "AWS ", "lambda-", "Community "]),
    after=st.sampled_from(["", " instance", "_price", "-1h"]),
    case=st.sampled_from([str, str.lower, str.upper, str.title]),
)
def test_curated_spot_words_are_tier_spot(word, before, after, case):
    label = case(f"{before}{word}{after}")
    quote = curated_entry_to_quote(_entry("H100 SXM", sku="H100", tier=label))
    assert (quote.tier, quote.tier_label) == ("spot", label)


def test_curated_tier_words_of_the_taxonomy_stay_as_written():
    for word in ("on_demand", "on-demand", "committed_1y", "reserved", "cluster"):
        tier = curated_entry_to_quote(_entry("H100 SXM", sku="H100", tier=word)).tier
        assert tier == word.replace("-", "_")
    assert curated_entry_to_quote(_entry("H100 SXM", sku="H100", tier="mystery")).tier == "unknown"


SPOT = """
[[scenario]]
name = "h100-spot-1y"
gpu_sku = "H100"
gpu_count = 720_000
price = { kind = "rental_hourly", hours = 8_760 }
form_factor = "SXM"
market = "spot"
"""


def test_curated_hand_edited_quotes_price_their_scenarios_in_a_run(
    fake_cg, env, monkeypatch, tmp_path
):
    """The red team's two entries through a daily run: the label-only SXM5 quote votes for
    h100-rent-1y, the interruptible one for a spot scenario."""
    today = datetime.now(UTC).date()
    fake_cg.serve(categories=category_payload(updated_at=datetime.now(UTC).isoformat()))
    quotes = tmp_path / "mine.toml"
    quotes.write_text(
        f'version = 1\n[[quote]]\nobserved = {today}\nsource = "Hand desk"\n'
        f'kind = "rental_hourly"\nsku_label = "NVIDIA H100 SXM5 80GB"\nprice = 2.18\n'
        f'[[quote]]\nobserved = {today}\nsource = "Spot desk"\nkind = "rental_hourly"\n'
        f'sku_label = "H100 SXM"\nsku = "H100"\nform_factor = "SXM"\n'
        f'tier = "interruptible"\nprice = 1.5\n'
    )
    config = tmp_path / "spot.toml"
    config.write_text(SPOT)
    monkeypatch.setenv("CAPCOVER_QUOTES_FILE", str(quotes))
    monkeypatch.setenv("CAPCOVER_CONFIG", str(config))
    assert main(["run"]) == 0
    with open_warehouse(load_settings().db, read_only=True) as wh:
        stored = wh.query(
            "SELECT source, sku, form_factor, memory_gb, tier, market FROM gpu_quotes"
            " WHERE source LIKE '% desk' ORDER BY source"
        )
        kept = wh.query(
            "SELECT scenario, source, kept FROM price_decisions WHERE source LIKE '% desk'"
            " ORDER BY scenario, source"
        )
    assert stored == [
        ("Hand desk", "H100", "SXM", 80.0, "on_demand", "on_demand"),
        ("Spot desk", "H100", "SXM", None, "spot", "spot"),
    ]
    assert ("h100-rent-1y", "Hand desk", True) in kept
    assert ("h100-spot-1y", "Spot desk", True) in kept
