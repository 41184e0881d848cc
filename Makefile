# The two set-up commands are `make demo` and `make test`; both create .venv and install first.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
BENCH_STAMP := $(VENV)/.installed-bench
PYTEST_ARGS ?= -n auto --dist loadgroup -q

.PHONY: demo test lint typecheck contracts pytest bench install clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

$(BENCH_STAMP): $(STAMP)
	$(BIN)/pip install -q -e '.[dev,bench]'
	touch $@

install: $(STAMP)

# Half a simulated hour with the in-process venue: the whole story in well under a minute.
# `hufimm demo` alone runs the full hour through ccxt over loopback HTTP (a few minutes).
DEMO_ARGS ?= --fast --minutes 30

demo: $(STAMP)
	$(BIN)/hufimm demo $(DEMO_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check src tests
	$(BIN)/ruff format --check src tests

typecheck: $(STAMP)
	$(BIN)/mypy

contracts: $(STAMP)
	$(BIN)/lint-imports

# pytest exits 5 when it collected nothing: for this suite that is a broken selection, not a pass.
pytest: $(STAMP)
	@$(BIN)/pytest $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: the selection matched nothing" >&2; exit 1; fi; \
	exit $$rc

test: lint typecheck contracts pytest

bench: $(BENCH_STAMP)
	$(BIN)/hufimm bench

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .bench bench-results.json
