# CosmoReg: make demo (the main job) and make test. Everything runs inside .venv.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: setup test lint parity demo evidence bench vectors clean

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

demo: setup
	$(PY) examples/full_demo.py

evidence: setup
	$(PY) examples/evidence.py

bench: setup
	$(PY) benchmarks/step_overhead.py

vectors: setup
	$(PY) -m parity_tests.make_vectors

clean:
	rm -rf $(VENV) results .pytest_cache .hypothesis
