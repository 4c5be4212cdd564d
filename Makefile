# The two commands of the README are the contract: `make run` and `make test`.
# Both create .venv if it is missing and install qlight with all its dependencies.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
OUT    ?= out

.PHONY: run test lint typecheck contracts pytest bench install clean browser

# The browser tests drive Debian's Chromium through Playwright (no browser download).
CHROMIUM ?= /usr/bin/chromium

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# The device service on the twin (first boot maps the chip, then EMITTING); Ctrl+C stops it.
# Emission is wall-paced so a demo does not spin a core; `qlight demo --out out` is the
# one-shot scan → HBT → g2 demonstration.
DATA ?= qlight-data
run: $(STAMP)
	QLIGHT_SUPERVISOR__WALL_PACED=true $(BIN)/qlight run --data-dir $(DATA)

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

typecheck: $(STAMP)
	$(BIN)/mypy src

contracts: $(STAMP)
	$(BIN)/lint-imports

browser:
	@if [ ! -x "$(CHROMIUM)" ]; then \
	  if command -v apt-get >/dev/null && { [ "$$(id -u)" = 0 ] || sudo -n true 2>/dev/null; }; then \
	    SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo -n); \
	    echo "make: installing Debian's chromium for the browser tests" >&2; \
	    ($$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium) \
	      >/dev/null 2>&1 || { echo "make: installing chromium failed" >&2; exit 1; }; \
	  else \
	    echo "make: the browser tests need $(CHROMIUM) (Debian: apt-get install chromium)" >&2; exit 1; \
	  fi; \
	fi

pytest: $(STAMP) browser
	$(BIN)/python -m pytest -n 2 --dist loadfile

test: lint typecheck contracts pytest

bench: $(STAMP)
	$(BIN)/python -m pip install --quiet -e ".[dev,bench]"
	$(BIN)/python benchmarks/run_all.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
