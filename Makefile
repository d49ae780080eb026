# The only commands README and CI use. Each installs what it needs into .venv itself.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench proof clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test,lint]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python examples/demo.py

test: $(STAMP)
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check spatiafi_ops tests benchmarks examples actions .github
	$(BIN)/ruff format --check spatiafi_ops tests benchmarks examples actions .github
	$(BIN)/mypy
	bash actions/lint.sh $(BIN)

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_emulator.py
	$(BIN)/python benchmarks/bench_token.py

proof: $(STAMP)
	$(BIN)/python benchmarks/proof.py --output PROOF.md

clean:
	rm -rf $(VENV) build dist .mypy_cache .ruff_cache .hypothesis
