# The only commands README and CI use. Each installs what it needs into .venv itself.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Which Python made .venv; then one stamp per set of extras, each adding to the same venv:
# `make demo` installs the package and its runtime dependencies only, `make test` adds the
# test extras, and neither pulls the lint toolchain (ruff, mypy, zizmor...).
VENV_PYTHON := $(VENV)/.python
DEMO_STAMP := $(VENV)/.installed-demo
TEST_STAMP := $(VENV)/.installed-test
# lint's stamp: the test extras too, since mypy reads the tests.
STAMP := $(VENV)/.installed-lint

.PHONY: demo test lint bench proof clean FORCE

# .venv is rebuilt when $(PYTHON) is not the interpreter that made it (an upgrade, or
# another PYTHON=...): a venv must not outlive its Python. Checked on every run; the
# file changes, and the stamps below with it, only when the venv is rebuilt.
$(VENV_PYTHON): FORCE
	@version="$$($(PYTHON) -c 'import sys; print(sys.version)')" || exit 1; \
	if [ ! -x $(BIN)/python ] || [ "$$(cat $@ 2>/dev/null)" != "$$version" ]; then \
		echo "creating $(VENV) with $(PYTHON) (Python $$version)"; \
		rm -rf $(VENV) && $(PYTHON) -m venv $(VENV) && \
		$(BIN)/pip install --quiet --upgrade pip && \
		printf '%s\n' "$$version" > $@; \
	fi

$(DEMO_STAMP): pyproject.toml $(VENV_PYTHON)
	$(BIN)/pip install --quiet -e .
	touch $@

$(TEST_STAMP): pyproject.toml $(VENV_PYTHON)
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

$(STAMP): pyproject.toml $(TEST_STAMP)
	$(BIN)/pip install --quiet -e '.[test,lint]'
	touch $@

demo: $(DEMO_STAMP)
	$(BIN)/python examples/demo.py

# Four pytest-xdist workers: the suite mostly waits on processes and sockets, so four beat
# two on two CPUs (docs/contributing.md: Tests).
test: $(TEST_STAMP)
	$(BIN)/python -m pytest -q -n 4

# mypy also checks the package as Windows and macOS see it: POSIX-only calls must sit
# behind sys.platform checks; every POSIX-only test must say so (tests/posix_uses.py). The
# import-graph test refuses a circle or an upward import (docs/contributing.md: Layers).
lint: $(STAMP)
	$(BIN)/ruff check spatiafi_ops tests benchmarks proof examples actions .github
	$(BIN)/ruff format --check spatiafi_ops tests benchmarks proof examples actions .github
	$(BIN)/mypy
	$(BIN)/mypy --platform win32 --cache-dir .mypy_cache/win32 spatiafi_ops
	$(BIN)/mypy --platform darwin --cache-dir .mypy_cache/darwin spatiafi_ops
	$(BIN)/python -m pytest -q -p no:cacheprovider tests/unit/test_import_graph.py \
		tests/unit/test_posix_markers.py
	bash actions/lint.sh $(BIN)

bench: $(TEST_STAMP)
	$(BIN)/python benchmarks/bench_emulator.py
	$(BIN)/python benchmarks/bench_token.py
	$(BIN)/python benchmarks/bench_aws.py

# From the root: `python -m` puts it on the path, so the proof imports tests/ and benchmarks/
# as packages. PROOF_FLAGS=--strict exits 1 when a goal is missed (the nightly workflow).
PROOF_FLAGS ?=
proof: $(TEST_STAMP)
	$(BIN)/python -m proof --output PROOF.md $(PROOF_FLAGS)

clean:
	rm -rf $(VENV) build dist .mypy_cache .ruff_cache .hypothesis
