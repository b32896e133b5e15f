# ATLAS compendium. `make book` and `make test` do all set-up on a fresh machine.
.DELETE_ON_ERROR:
.PHONY: setup book chapter test runs bench clean help
SHELL := /bin/bash
export MPLBACKEND := Agg
export PYTHONHASHSEED := 0

PYTHON_SYS ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
KERNEL := atlas
# The preset whose committed runs the book shows (runs/$(BOOK_PRESET)); tests use smoke.
BOOK_PRESET ?= cpu
PRESET ?= cpu
EXPERIMENT ?= all
CHAPTERS := $(basename $(notdir $(wildcard notebooks/[0-9][0-9]_*.ipynb)))

help:
	@echo "make book            build the HTML book from committed runs (creates .venv on first use)"
	@echo "make chapter NB=01_data_sampling [BOOK_PRESET=smoke]   execute one chapter into book/"
	@echo "make test            run the test suite (smoke preset)"
	@echo "make runs PRESET=cpu [EXPERIMENT=monolingual]   (re)generate run records, resumably"
	@echo "make bench           trainer throughput vs HF Llama, and MFU"
	@echo "make clean           remove the built book and caches (never runs/)"

$(STAMP): pyproject.toml
	$(PYTHON_SYS) -m venv $(VENV)
	$(PY) -m pip install -q -U pip setuptools wheel
	$(PY) -m pip install -q -e '.[test,bench]'
	$(PY) -m ipykernel install --sys-prefix --name $(KERNEL) --display-name "Python (atlas)" > /dev/null
	touch $@

setup: $(STAMP)

book/%.ipynb: notebooks/%.ipynb $(STAMP) $(wildcard atlas/*.py)
	$(PY) -m papermill --kernel $(KERNEL) --cwd book $< $@ -p preset $(BOOK_PRESET)

chapter: $(STAMP)
	@test -n "$(NB)" || { echo "usage: make chapter NB=01_data_sampling"; exit 2; }
	$(PY) -m papermill --kernel $(KERNEL) --cwd book notebooks/$(NB).ipynb book/$(NB).ipynb -p preset $(BOOK_PRESET)

book: $(STAMP) $(addprefix book/,$(addsuffix .ipynb,$(CHAPTERS)))
	$(VENV)/bin/jupyter-book build . --path-output book -W -n --keep-going
	@echo "HTML: book/_build/html/index.html"

test: $(STAMP)
	$(PY) -m pytest -q

runs: $(STAMP)
	$(PY) -m atlas grid run --preset $(PRESET) --experiment $(EXPERIMENT)

bench: $(STAMP)
	$(PY) -m atlas bench train

clean:
	rm -rf book/_build .cache .pytest_cache
