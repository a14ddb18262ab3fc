# One command for each habit. `make demo` and `make test` work on a fresh clone with only
# Python 3.11+, make and git: they create .venv from the committed lock file themselves.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
BENCH_STAMP := $(VENV)/.bench-stamp

.PHONY: install demo test test-fast lint fmt lock bench clean

$(STAMP): requirements.lock pyproject.toml
	@$(PY) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "capcover needs Python 3.11+ (set PY=python3.x)")'
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
	@touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/capcover demo

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python scripts/package_tree.py lint-imports
	$(BIN)/python scripts/package_tree.py mypy
	$(BIN)/python -m pytest -q

test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -m "not slow"

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python scripts/package_tree.py lint-imports
	$(BIN)/python scripts/package_tree.py mypy

fmt: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# Benchmarks, offline, a few minutes on 2 cores: prints the table and writes
# benchmarks/results/latest.json, latest.md and scale.png. Needs the `bench` extra (dlt, pyarrow,
# pyinstrument), pinned in requirements-bench.lock; `make test` does not.
$(BENCH_STAMP): $(STAMP) requirements-bench.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-bench.lock
	@touch $(BENCH_STAMP)

bench: $(BENCH_STAMP)
	$(BIN)/python -m benchmarks.run

# Re-pin dependencies after editing pyproject.toml (needs network access to the package index).
lock: $(STAMP)
	$(BIN)/python -m pip install --quiet uv
	$(BIN)/uv pip compile pyproject.toml --extra dev --python-version 3.11 -o requirements.lock
	$(BIN)/uv pip compile pyproject.toml --extra dev --extra bench --python-version 3.11 -o requirements-bench.lock

clean:
	rm -rf $(VENV) data .pytest_cache .ruff_cache
