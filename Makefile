# CosmoReg: make demo (the main job) and make test. Everything runs inside .venv.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: setup test lint parity demo vectors clean

setup: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[all,dev]' -c constraints.txt
	touch $@

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

test: lint
	$(PY) -m pytest -q

parity: setup
	$(PY) -m parity_tests.report

demo: parity

vectors: setup
	$(PY) -m parity_tests.make_vectors

clean:
	rm -rf $(VENV) results .pytest_cache .hypothesis
