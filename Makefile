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

# mypy also checks the package as Windows and macOS see it: POSIX-only calls must sit
# behind sys.platform checks (tests and benchmarks run on POSIX).
lint: $(STAMP)
	$(BIN)/ruff check spatiafi_ops tests benchmarks examples actions
	$(BIN)/ruff format --check spatiafi_ops tests benchmarks examples actions
	$(BIN)/mypy
	$(BIN)/mypy --platform win32 --cache-dir .mypy_cache/win32 spatiafi_ops
	$(BIN)/mypy --platform darwin --cache-dir .mypy_cache/darwin spatiafi_ops
	bash actions/lint.sh $(BIN)

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_emulator.py
	$(BIN)/python benchmarks/bench_token.py

proof: $(STAMP)
	$(BIN)/python benchmarks/proof.py --output PROOF.md

clean:
	rm -rf $(VENV) build dist .mypy_cache .ruff_cache .hypothesis
