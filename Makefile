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

.PHONY: install demo test lint bench bench-quick
install: $(VENV)/.installed

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
