# Two entry points for a fresh machine:  `make demo`  and  `make test`.
# Each creates or updates the virtual environment in .venv (re-installed when pyproject.toml changes).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell sha256sum pyproject.toml | cut -c1-16)
# The Label Studio server of the live tests (tests/labelstudio/) lives in its own virtualenv, cached outside
# the checkout and keyed by its lock file, so a clean checkout installs it once per lock.
LABELSTUDIO_VENV ?= $(HOME)/.cache/labelgate/labelstudio-$(shell sha256sum scripts/labelstudio.lock | cut -c1-16)
export LABELSTUDIO_VENV

.PHONY: demo test lint typecheck unit venv clean bench

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip setuptools wheel
	$(BIN)/pip install --quiet -e '.[all]'
	$(BIN)/pip install --quiet --no-deps label-studio-sdk==2.0.10   # see the labelstudio extra in pyproject.toml
	rm -f $(VENV)/.installed-* && touch $@

demo: venv
	$(BIN)/labelgate demo

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: venv
	$(BIN)/mypy quality_gates lineage inference service

unit: venv
	bash scripts/ensure-postgres.sh
	bash scripts/install-browser.sh
	bash scripts/install-labelstudio.sh
	$(BIN)/python -m pytest -q -n 2 --dist loadfile

test: lint typecheck unit

bench: venv
	$(BIN)/python bench/bench_audit.py

clean:
	rm -rf $(VENV) labelgate-workspace demo-workspace .pytest_cache .mypy_cache .ruff_cache
