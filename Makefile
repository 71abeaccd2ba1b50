# Set-up and entry points. Everything installs from nothing: a virtualenv in .venv,
# the Python packages (pyproject.toml), and the Apache Kafka jars (Maven, cached in
# ~/.cache/cdio-stream). `make test` is what CI runs (.ci/run).
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup test demo lint clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	$(BIN)/cdio-stream broker --fetch-only
	touch $(STAMP)

setup: $(STAMP)

test: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest -q -ra

demo: setup
	$(BIN)/cdio-stream demo

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
