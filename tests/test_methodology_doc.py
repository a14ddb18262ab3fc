"""docs/methodology.md exists, the README links it, and it names what the code does: every
exclusion rule, every tier, every gpuhunt flag capcover knows, the method id and its limits."""

from __future__ import annotations

from pathlib import Path

from capcover.ingest.gpuhunt import COMPUTED_FLAGS, DUPLICATE_FLAGS, FLAG_TIERS, NEUTRAL_FLAGS
from capcover.model.prices import MAD_SCALE, MAD_Z_LIMIT, METHOD_VERSION, RULES, MaxAge
from capcover.model.prices_v1 import METHOD_VERSION_V1
from capcover.model.tiers import TIERS
from capcover.warehouse.load import SECTOR_CAP_METHODS

ROOT = Path(__file__).resolve().parent.parent
DOC = (ROOT / "docs" / "methodology.md").read_text(encoding="utf-8")


def test_methodology_is_linked_from_the_readme():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "[docs/methodology.md](docs/methodology.md)" in readme
    assert "capcover verify [--date D]" in readme


def test_methodology_names_every_rule_tier_flag_and_method():
    for rule in RULES:
        assert f"`{rule}`" in DOC, rule
    for tier in TIERS:
        assert f"`{tier}`" in DOC, tier
    for flag in (*FLAG_TIERS, *COMPUTED_FLAGS, *NEUTRAL_FLAGS, *DUPLICATE_FLAGS):
        assert f"`{flag}`" in DOC, flag
    for method in SECTOR_CAP_METHODS:
        assert f"`{method}`" in DOC, method
    assert MaxAge().method_id() in DOC and MaxAge().method_id(METHOD_VERSION_V1) in DOC
    assert METHOD_VERSION in DOC and f"**{MAD_Z_LIMIT}**" in DOC and str(MAD_SCALE) in DOC
