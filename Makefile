# imgrec: the two quick-start commands are `make demo` and `make test`.
# Only python3 (3.11+) and make are needed; everything else is installed here.
PYTHON ?= python3
UV := .tools/bin/uv
VENV := .venv
STAMP := $(VENV)/.installed

.PHONY: demo test test-fast lint format setup clean bench serve

setup: $(STAMP)

$(UV):
	$(PYTHON) -m venv .tools
	.tools/bin/python -m pip install --quiet --disable-pip-version-check uv

$(STAMP): pyproject.toml uv.lock | $(UV)
	$(UV) sync --locked --extra dev --python $(PYTHON)
	bash scripts/ensure-chromium.sh
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/imgrec demo

serve: $(STAMP)
	$(VENV)/bin/imgrec serve

test: $(STAMP)
	$(VENV)/bin/python -m pytest

test-fast: $(STAMP)
	$(VENV)/bin/python -m pytest -m "not slow"

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/ruff format --check src tests benchmarks
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

format: $(STAMP)
	$(VENV)/bin/ruff format src tests benchmarks
	$(VENV)/bin/ruff check --fix src tests benchmarks

bench: $(STAMP)
	$(VENV)/bin/python benchmarks/fashion_mnist.py
	$(VENV)/bin/python benchmarks/throughput.py
	$(VENV)/bin/python benchmarks/cli_startup.py
	$(VENV)/bin/python benchmarks/pruning_pays.py
	$(VENV)/bin/python benchmarks/store_overhead.py
	$(VENV)/bin/python benchmarks/explain_quality.py
	$(VENV)/bin/python benchmarks/web_latency.py
	$(VENV)/bin/python benchmarks/web_watchers.py

clean:
	rm -rf .tools $(VENV) .pytest_cache .mypy_cache .ruff_cache
