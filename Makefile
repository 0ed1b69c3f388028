# Two commands do all set-up on a fresh machine with Python 3.11+:
#   make demo   simulate events, compile the metrics, build on embedded DuckDB, print headlines
#   make test   run the whole test suite (unit; DuckDB, PostgreSQL and Spark integration)
# Both bootstrap .venv/ with uv (installed into the venv by pip when it is not on PATH).

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
PYTEST_ARGS ?=

.PHONY: demo test test-fast check lint typecheck bench compile clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@test -x $(BIN)/uv || $(BIN)/python -m pip install --quiet --disable-pip-version-check uv
	$(BIN)/uv pip install --quiet --python $(BIN)/python --compile-bytecode -e '.[dev]'
	@touch $(STAMP)

demo: $(STAMP)
	$(BIN)/outcomes demo

# two workers (pytest-xdist), a test module per worker so its build is made once: most of the
# suite is dbt's single-threaded Python, so two processes use the machine's two cores
test: $(STAMP)
	$(BIN)/outcomes compile --check
	$(BIN)/python -m pytest -n 2 --dist loadfile $(PYTEST_ARGS)

test-fast: $(STAMP)
	$(BIN)/python -m pytest -m "not slow" $(PYTEST_ARGS)

# the seconds-long gate: lint, types, generated files up to date, fast tests (`make test` is the full suite)
check: lint typecheck test-fast
	$(BIN)/outcomes compile --check

lint: $(STAMP)
	$(BIN)/ruff check src tests bench

typecheck: $(STAMP)
	$(BIN)/mypy

compile: $(STAMP)
	$(BIN)/outcomes compile

bench: $(STAMP)
	$(BIN)/python bench/run.py $(BENCH_ARGS)
	$(BIN)/python bench/track.py

.PHONY: bench-track
bench-track: $(STAMP)
	$(BIN)/python bench/track.py

clean:
	rm -rf $(VENV) target logs .pytest_cache
