"""docs/threat-model.md stays true to the code: its table of ranges is config/defaults.py's, every
test file it names exists, every rule number is given once, and the README's Reliability section
points to it."""

from __future__ import annotations

import re
from pathlib import Path

from capcover.config.defaults import BOUNDS, ITEM_BOUNDS, SCENARIO_BOUNDS

ROOT = Path(__file__).resolve().parent.parent
DOC = (ROOT / "docs" / "threat-model.md").read_text(encoding="utf-8")


def test_threat_model_doc_lists_every_setting_range_as_the_code_has_it():
    for name, bound in {**BOUNDS, **ITEM_BOUNDS}.items():
        row = next(
            (line for line in DOC.splitlines() if line.startswith(f"| `CAPCOVER_{name.upper()}`")),
            None,
        )
        assert row is not None, name
        assert f"| {bound.describe()}" in row, (row, bound.describe())
    for field, bound in SCENARIO_BOUNDS.items():
        bracket = bound.describe().rsplit("]", 1)[0] + "]"
        assert f"`{field}` {bracket}" in DOC, field


def test_threat_model_doc_names_only_test_files_that_exist():
    named = set(re.findall(r"tests/(test_\w+\.py)", DOC))
    assert named and all((ROOT / "tests" / n).exists() for n in named), sorted(
        n for n in named if not (ROOT / "tests" / n).exists()
    )


def test_threat_model_doc_gives_each_rule_number_once():
    rules = re.findall(r"\*\*([A-Z]\d+)\*\*", DOC)
    assert len(rules) == len(set(rules)) and len(rules) > 40


def test_threat_model_doc_is_where_the_readme_reliability_section_points():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Reliability", 1)[1].split("\n## ", 1)[0]
    assert "docs/threat-model.md" in section
