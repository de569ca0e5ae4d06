# Two entry points for a fresh machine: `make demo` and `make test` (see README).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
ARGS ?=
export TOKENIZERS_PARALLELISM := false

$(VENV)/.installed: pyproject.toml integrations/langchain/pyproject.toml integrations/llama-index/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]' -e integrations/langchain -e integrations/llama-index
	touch $@

.PHONY: install demo test lint bench bench-quick docs docs-serve docs-check
install: $(VENV)/.installed

# The documentation site's tools (the `docs` extra), for the docs targets only.
$(VENV)/.docs-installed: $(VENV)/.installed pyproject.toml
	$(PY) -m pip install -q -e '.[docs]'
	touch $@

# Online, the demo uses cross-encoder/ms-marco-MiniLM-L-6-v2; offline, a zero-shot ColBERT rerank.
demo: install
	$(PY) -m ragrerank.apps.demo $(ARGS)

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

# Tests never reach the hub: they build their models or seed a private cache (tests/hub_cache.py).
test: lint
	HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 $(PY) -m pytest -q -p no:cacheprovider

bench: install
	$(PY) -m benchmarks.run

bench-quick: install
	$(PY) -m benchmarks.run --quick

# The documentation site: build/site, strict (a broken link or anchor, a page missing from the nav,
# a docstring mkdocstrings cannot parse fails the build). docs-check also renders it in Chromium.
DOCS_ENV := NO_MKDOCS_2_WARNING=1
docs: $(VENV)/.docs-installed
	$(DOCS_ENV) $(VENV)/bin/mkdocs build --strict

docs-serve: $(VENV)/.docs-installed
	$(DOCS_ENV) $(VENV)/bin/mkdocs serve

docs-check: docs
	$(PY) -m pytest -q -p no:cacheprovider tests/test_docs_site.py
