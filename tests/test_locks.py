"""The lock files: what `make demo` installs (requirements.lock) is the runtime set only, and
the dev and bench locks pin that same set plus their own tools, at the same versions."""

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _pins(name: str) -> dict[str, str]:
    pins = {}
    for line in (ROOT / name).read_text().splitlines():
        m = re.match(r"^([A-Za-z0-9_.\-\[\]]+)==(\S+)", line)
        if m:
            pins[re.sub(r"\[.*\]", "", m.group(1)).lower().replace("_", "-")] = m.group(2)
    return pins


def _extra(name: str) -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return {
        re.split(r"[<>=\[ ;]", req, maxsplit=1)[0].lower()
        for req in project["optional-dependencies"][name]
    }


def test_locks_runtime_set_holds_no_test_or_lint_tool():
    runtime = _pins("requirements.lock")
    tools = _extra("dev") - {"setuptools"}  # a build backend, not a test tool
    assert tools == {t for t in tools if t not in runtime}
    for tool in ("pytest", "ruff", "mypy", "hypothesis", "import-linter", "pytest-timeout"):
        assert tool not in runtime
    # What capcover imports at run time is there.
    for package in ("duckdb", "requests", "pydantic", "prefect", "pycoingecko", "click"):
        assert package in runtime


def test_locks_dev_and_bench_pin_the_runtime_set_at_the_same_versions():
    runtime, dev, bench = (
        _pins(n) for n in ("requirements.lock", "requirements-dev.lock", "requirements-bench.lock")
    )
    assert {k: dev.get(k) for k in runtime} == runtime
    assert {k: bench.get(k) for k in dev} == dev
    assert {"pytest", "ruff", "mypy"} <= set(dev)
    assert {"dlt", "pyarrow"} <= set(bench)


def test_locks_name_no_package_index_host():
    for name in ("requirements.lock", "requirements-dev.lock", "requirements-bench.lock"):
        text = (ROOT / name).read_text()
        assert "--index-url" not in text and "://" not in text, name
