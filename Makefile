# diffim developer entry points. Both targets create .venv when it is missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO := demo-output
PROJECTS := $(wildcard core/pyproject.toml plugins/*/pyproject.toml tests/plugins/*/pyproject.toml)

.PHONY: demo demo-batch test bench clean

$(STAMP): requirements-dev.txt $(PROJECTS)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/diffim simulate -o $(DEMO)/data --size 2048 --overwrite
	$(BIN)/diffim run default --science $(DEMO)/data/science.fits \
		--template $(DEMO)/data/template.fits -o $(DEMO)/run --overwrite --quicklook --report

# A simulated data repository (sky map, 4 coadd patches, 8 visits) processed by `diffim batch`;
# visit 5 is built to have too little template coverage, so the batch reports it failed
# (exit status 1, ignored here).
demo-batch: $(STAMP)
	rm -rf $(DEMO)/repo
	$(BIN)/diffim simulate --repo $(DEMO)/repo
	-$(BIN)/diffim batch $(DEMO)/repo default --run demo
	$(BIN)/diffim repo query $(DEMO)/repo deepDiff_diaSrc

test: $(STAMP)
	$(BIN)/python -m pytest

# Time, memory and quality of diffim and its peers (HOTPANTS, sfft, properimage) on simulated
# pairs; e.g. make bench BENCH_ARGS="--sizes 2048 --no-peers". See benchmarks/performance.py.
BENCH_ARGS ?=
bench: $(STAMP)
	$(BIN)/python benchmarks/performance.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) $(DEMO)
