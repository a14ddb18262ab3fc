# One command for each habit. `make demo` and `make test` work on a fresh clone with only
# Python 3.11+, make and git: they create .venv from the committed lock files themselves.
# Three lock files: requirements.lock is what capcover runs on (`make install`, `make demo`);
# requirements-dev.lock adds the test and lint tools (`make test`, `make lint`);
# requirements-bench.lock adds what `make bench` compares against. `make lock` re-pins all three.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
DEV_STAMP := $(VENV)/.dev-stamp
BENCH_STAMP := $(VENV)/.bench-stamp
PIP := $(BIN)/python -m pip install --quiet --disable-pip-version-check

.PHONY: install demo test test-fast lint lint-imports fmt lock bench clean

$(STAMP): requirements.lock pyproject.toml
	@$(PY) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "capcover needs Python 3.11+ (set PY=python3.x)")'
	$(PY) -m venv $(VENV)
	$(PIP) -r requirements.lock
	$(PIP) --no-deps -e .
	@touch $(STAMP)

# The runtime set plus pytest, ruff, mypy, import-linter, hypothesis (pinned together).
$(DEV_STAMP): $(STAMP) requirements-dev.lock
	$(PIP) -r requirements-dev.lock
	@touch $(DEV_STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/capcover demo

test: $(DEV_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python scripts/package_tree.py lint-imports
	$(BIN)/python scripts/package_tree.py mypy
	$(BIN)/python -m pytest -q

test-fast: $(DEV_STAMP)
	$(BIN)/python -m pytest -q -m "not slow"

# The import contracts alone (a bare `lint-imports` cannot see the mapped rooms; see docs/development.md).
lint-imports: $(DEV_STAMP)
	$(BIN)/python scripts/package_tree.py lint-imports

lint: $(DEV_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python scripts/package_tree.py lint-imports
	$(BIN)/python scripts/package_tree.py mypy

fmt: $(DEV_STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# Benchmarks, offline, a few minutes on 2 cores: prints the table and writes
# benchmarks/results/latest.json, latest.md and scale.png. Needs the `bench` extra (dlt, pyarrow,
# pyinstrument), pinned in requirements-bench.lock; `make test` does not.
$(BENCH_STAMP): $(STAMP) requirements-bench.lock
	$(PIP) -r requirements-bench.lock
	@touch $(BENCH_STAMP)

bench: $(BENCH_STAMP)
	$(BIN)/python -m benchmarks.run

# Re-pin dependencies after editing pyproject.toml (needs network access to the package index).
lock: $(STAMP)
	$(PIP) uv
	$(BIN)/uv pip compile pyproject.toml --python-version 3.11 -o requirements.lock
	$(BIN)/uv pip compile pyproject.toml --extra dev --python-version 3.11 -o requirements-dev.lock
	$(BIN)/uv pip compile pyproject.toml --extra dev --extra bench --python-version 3.11 -o requirements-bench.lock
	$(BIN)/python -m pip uninstall --quiet --yes uv

clean:
	rm -rf $(VENV) data .pytest_cache .ruff_cache
