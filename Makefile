# diffim developer entry points. Both targets create .venv when it is missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO := demo-output
PROJECTS := $(wildcard core/pyproject.toml plugins/*/pyproject.toml tests/plugins/*/pyproject.toml)

.PHONY: demo test bench clean

$(STAMP): requirements-dev.txt $(PROJECTS)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/diffim simulate -o $(DEMO)/data --size 2048 --overwrite
	$(BIN)/diffim run pipelines/default.yaml --science $(DEMO)/data/science.fits \
		--template $(DEMO)/data/template.fits -o $(DEMO)/run --overwrite

test: $(STAMP)
	$(BIN)/python -m pytest

bench: $(STAMP)
	$(BIN)/python benchmarks/run_time_memory.py

clean:
	rm -rf $(VENV) $(DEMO)
