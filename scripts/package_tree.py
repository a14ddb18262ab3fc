"""Run a static tool (lint-imports, mypy) on the `capcover` package as it is installed.

The rooms live at the repository's top level and setuptools maps them into `capcover.` at install
time (`[tool.setuptools.package-dir]`). Tools that walk the file system instead of importing
(grimp under lint-imports, mypy) cannot follow that mapping, so this builds the installed layout
as a tree of real folders and symlinked files under build/package-tree/ (from the same table in
pyproject.toml, afresh on every call) and runs the tool there. Paths in the tool's output are
given back as repository paths (`capcover/cli/main.py` -> `cli/main.py`).

    python scripts/package_tree.py lint-imports
    python scripts/package_tree.py mypy
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TREE = ROOT / "build" / "package-tree"


def package_dirs() -> dict[str, str]:
    """`capcover.<room>` -> its folder, relative to the repository (pyproject's own table)."""
    with open(ROOT / "pyproject.toml", "rb") as f:
        return tomllib.load(f)["tool"]["setuptools"]["package-dir"]


def build() -> dict[str, str]:
    """Build the tree; return {installed path prefix: repository path prefix}."""
    shutil.rmtree(TREE, ignore_errors=True)
    prefixes: dict[str, str] = {}
    for package, folder in package_dirs().items():
        installed = Path(*package.split("."))
        source = ROOT / folder
        for path in source.rglob("*.py"):
            if "__pycache__" in path.parts:
                continue
            rel = path.relative_to(source)
            # A nested package of its own mapping (none today) would be linked twice: skip it.
            if rel.parts and f"{package}.{rel.parts[0]}" in package_dirs():
                continue
            target = TREE / installed / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            os.symlink(path, target)
        prefixes[f"{installed.as_posix()}/"] = f"{folder}/" if folder != "capcover" else "capcover/"
    return prefixes


def main(argv: list[str]) -> int:
    if not argv:
        print("usage: package_tree.py TOOL [ARGS...]", file=sys.stderr)
        return 2
    prefixes = build()
    tool, *args = argv
    if tool == "lint-imports":
        args = [str(ROOT / "pyproject.toml"), *args]
    elif tool == "mypy":
        args = ["--config-file", str(ROOT / "pyproject.toml"), "-p", "capcover", *args]
    exe = Path(sys.executable).with_name(tool)
    env = {**os.environ, "PYTHONPATH": str(TREE), "MYPY_CACHE_DIR": str(ROOT / ".mypy_cache")}
    proc = subprocess.run([str(exe), *args], cwd=TREE, env=env, capture_output=True, text=True)
    longest_first = sorted(prefixes.items(), key=lambda kv: -len(kv[0]))
    for stream, out in ((sys.stdout, proc.stdout), (sys.stderr, proc.stderr)):
        for line in out.splitlines(keepends=True):
            for installed, repo in longest_first:
                if line.startswith(installed):
                    line = repo + line[len(installed) :]
                    break
            stream.write(line)
    return proc.returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
