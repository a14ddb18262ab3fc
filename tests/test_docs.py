"""The generated references are current (as sqlite-utils checks its docs with `cog --check`):
docs/cli.md names every command and option of the click tree, docs/settings.md every setting
with its variable, default and bounds."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from capcover.cli.main import cli
from capcover.config.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "docs_reference.py"


def _generator():
    import importlib.util

    spec = importlib.util.spec_from_file_location("docs_reference", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_docs_references_are_current():
    gen = _generator()
    for path, text in gen.expected().items():
        assert path.read_text(encoding="utf-8") == text, (
            f"{path.relative_to(ROOT)} is stale: run `python scripts/docs_reference.py`"
        )


def test_docs_check_mode_fails_on_a_stale_reference(tmp_path, monkeypatch):
    gen = _generator()
    stale = tmp_path / "settings.md"
    stale.write_text("old\n", encoding="utf-8")
    monkeypatch.setattr(gen, "SETTINGS_DOC", stale)
    monkeypatch.setattr(gen, "ROOT", tmp_path.parent)
    monkeypatch.setattr(gen, "CLI_DOC", ROOT / "docs" / "cli.md")
    assert gen.main(["--check"]) == 1
    assert stale.read_text(encoding="utf-8") == "old\n"  # --check writes nothing


def _commands(group, path="capcover"):
    import click

    for name, cmd in group.commands.items():
        yield f"{path} {name}", cmd
        if isinstance(cmd, click.Group):
            yield from _commands(cmd, f"{path} {name}")


def test_docs_cli_names_every_command_and_option():
    text = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    for path, cmd in _commands(cli):
        assert f"### `{path}`" in text, path
        section = text.split(f"### `{path}`", 1)[1].split("\n### ", 1)[0]
        for param in cmd.params:
            for opt in getattr(param, "opts", []):
                if opt.startswith("-"):
                    assert f"`{opt}`" in section, (path, opt)


def test_docs_settings_names_every_setting_with_its_default_and_bounds():
    text = (ROOT / "docs" / "settings.md").read_text(encoding="utf-8")
    for name, field in Settings.model_fields.items():
        (row,) = [line for line in text.splitlines() if line.startswith(f"| `{name}` |")]
        if name != "scenario":
            assert f"`CAPCOVER_{name.upper()}`" in row
        for m in field.metadata:
            for attr in ("gt", "ge", "le", "lt"):
                if getattr(m, attr, None) is not None:
                    assert re.search(r"[<>]=? ", row), (name, row)
    assert (
        "| `alert_timeout_s` | `CAPCOVER_ALERT_TIMEOUT_S` | float | `10.0` | > 0, <= 300 |" in text
    )


def test_docs_check_command_passes_on_the_committed_docs():
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--check"], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
