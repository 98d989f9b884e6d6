# `make demo` and `make test` each set up their own virtualenv in .venv and install what they need.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

HARNESS := .harness
HARNESS_STAMP := $(HARNESS)/.installed
# The real harnesses the skill tests drive (offline, against the package's local server): one pinned version each.
# Keep in step with HARNESS_VERSIONS in src/autoresearch/targets/__init__.py.
HARNESS_PACKAGES := @anthropic-ai/claude-code@2.1.332 @earendil-works/pi-coding-agent@1.6.0 \
	@openai/codex@0.171.0 @google/gemini-cli@0.61.0 opencode-ai@1.18.33 \
	node@22.23.3
# node@22: pi 1.6 needs node >= 22.19; a harness target puts the binary's own folder (.harness/node_modules/.bin) first on PATH.

.PHONY: demo test bench clean harness

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python examples/demo.py

$(HARNESS_STAMP): Makefile
	mkdir -p $(HARNESS)
	npm install --prefix $(HARNESS) --no-audit --no-fund --loglevel=error $(HARNESS_PACKAGES)
	touch $(HARNESS_STAMP)

harness: $(HARNESS_STAMP)

# One worker per core (the tests share no state but the read-only .harness); tests are handed out one at a
# time, the ones marked slow first (tests/conftest.py), so no long test is left to run alone at the end.
test: $(STAMP) $(HARNESS_STAMP)
	$(BIN)/pytest -n auto --dist load --maxschedchunk 1

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
