"""The distribution installs ONE top-level package, `capcover`, with the rooms as subpackages.

The wheel is built here, offline, with the project's own build backend (setuptools, from the dev
lock), from a copy of the checkout; then it is run from the unpacked wheel alone.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

from tests.helpers import capcover

ROOT = Path(__file__).resolve().parent.parent
ROOMS = ("cli", "config", "flows", "report", "notify", "warehouse", "ingest", "model", "fakeapi")
# What a build does not read: caches, the local warehouse folder, tests (top level only: the
# rooms have `data/` folders of their own that ship).
TOP_SKIP = {
    ".venv",
    ".git",
    "data",
    "build",
    "tests",
    "benchmarks",
    ".pytest_cache",
    ".ruff_cache",
    ".mypy_cache",
}


def _skip(folder: str, names: list[str]) -> set[str]:
    top = {n for n in names if n in TOP_SKIP} if Path(folder) == ROOT else set()
    return top | {n for n in names if n == "__pycache__" or n.endswith(".egg-info")}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"
    shutil.copytree(ROOT, src, ignore=_skip)
    out = tmp / "dist"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "--quiet",
            "-w",
            str(out),
            str(src),
        ],
        check=True,
        capture_output=True,
        text=True,
        timeout=300,
    )
    (built,) = out.glob("capcover-*.whl")
    return built


def test_wheel_top_level_is_capcover_only(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/")[0] for n in names}
    dist_info = {t for t in tops if t.endswith(".dist-info")}
    assert tops - dist_info == {"capcover"}
    (info,) = dist_info
    assert (
        "capcover = capcover.cli.main:run"
        in zipfile.ZipFile(wheel).read(f"{info}/entry_points.txt").decode()
    )


def test_wheel_holds_every_module_and_data_file_of_every_room(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    with open(ROOT / "pyproject.toml", "rb") as f:
        setuptools = tomllib.load(f)["tool"]["setuptools"]
    mapping = setuptools["package-dir"]
    assert {f"capcover.{room}": room for room in ROOMS}.items() <= mapping.items()
    for package, folder in mapping.items():
        installed = package.replace(".", "/")
        for path in (ROOT / folder).rglob("*"):
            if "__pycache__" in path.parts or path.is_dir():
                continue
            rel = path.relative_to(ROOT / folder).as_posix()
            shipped = path.suffix in {".py", ".sql", ".toml", ".json", ".csv", ".j2"}
            if shipped:
                assert f"{installed}/{rel}" in names, f"{folder}/{rel} is not in the wheel"


def test_unpacked_wheel_runs_on_its_own(wheel, tmp_path):
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CAPCOVER_", "PREFECT_"))}
    env.update(PYTHONPATH=str(site), PREFECT_HOME=str(tmp_path / "prefect"))
    where = subprocess.run(
        [
            sys.executable,
            "-c",
            "import capcover.cli.main as m, capcover.flows.demo as d; "
            "print(m.__file__); print(d.SNAPSHOT.is_file())",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    module_file, snapshot_ships = where.stdout.split()
    assert Path(module_file).is_relative_to(site)
    assert snapshot_ships == "True"
    version = capcover("--version", env=env, cwd=tmp_path)
    assert version.returncode == 0 and version.stdout.startswith("capcover "), version.stderr
