# `make demo` and `make test` each set up their own virtualenv in .venv and install what they need.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

HARNESS := .harness
HARNESS_STAMP := $(HARNESS)/.installed
# The real harnesses the skill tests drive (offline, against a local Messages API server).
HARNESS_PACKAGES := @anthropic-ai/claude-code@2.1.197 @mariozechner/pi-coding-agent@0.73.1

.PHONY: demo test bench clean harness

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python examples/demo.py

$(HARNESS_STAMP):
	mkdir -p $(HARNESS)
	npm install --prefix $(HARNESS) --no-audit --no-fund --loglevel=error $(HARNESS_PACKAGES)
	touch $(HARNESS_STAMP)

harness: $(HARNESS_STAMP)

test: $(STAMP) $(HARNESS_STAMP)
	$(BIN)/pytest

bench: $(STAMP)
	$(BIN)/python bench/core.py
	$(BIN)/python bench/decisions.py
	$(BIN)/python bench/backends.py
	$(BIN)/python bench/harness.py
	$(BIN)/python bench/view.py
	$(BIN)/python bench/check_bound.py
	$(BIN)/python bench/leakage.py

clean:
	rm -rf $(VENV) $(HARNESS) .demo build src/*.egg-info
