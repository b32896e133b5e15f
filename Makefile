# ATLAS compendium. `make book` and `make test` do all set-up on a fresh machine.
.DELETE_ON_ERROR:
.PHONY: setup book chapter test runs status bench clean help
SHELL := /bin/bash
export MPLBACKEND := Agg
export PYTHONHASHSEED := 0
# Some shells (this project's CI among them) export PYTHONDONTWRITEBYTECODE=1. The venv installs without
# byte-compiling (--no-compile, below), so with that variable every chapter kernel, papermill worker and
# Sphinx process would recompile pandas, scipy, matplotlib ... from source (~6 CPU-s per process, ~40% of a
# light chapter). Python caches each module's bytecode the first time it is imported instead.
unexport PYTHONDONTWRITEBYTECODE

PYTHON_SYS ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
BOOK_STAMP := $(VENV)/.installed-book
# The preset whose committed runs the book shows (runs/$(BOOK_PRESET)); tests use smoke.
# auto = each chapter shows cpu when runs/cpu has finished the experiments it reads, else smoke (with a note).
BOOK_PRESET ?= auto
PRESET ?= cpu
EXPERIMENT ?= all

help:
	@echo "make book                       build the HTML book from committed runs (creates .venv on first use)"
	@echo "make chapter NB=01_data_sampling  execute one chapter into book/ (BOOK_PRESET=$(BOOK_PRESET))"
	@echo "make test                       run the test suite (smoke preset)"
	@echo "make runs PRESET=cpu [EXPERIMENT=monolingual]   (re)generate run records, resumably"
	@echo "make status PRESET=cpu          which runs of a preset are finished"
	@echo "make bench                      trainer throughput vs HF Llama, MFU, and where the step time goes"
	@echo "make clean                      remove the built book and caches (never runs/)"

# The book needs only the base install (no torch): it goes in with uv, which installs it in ~5 s instead of
# pip's ~35 s (pip is the fallback where uv cannot be installed). Nothing is byte-compiled up front: modules
# compile on first import. Tests, training, the benchmark and the hub loaders add the extras with pip, which
# finds torch==2.13.0 (CPU) on this machine's disk (PIP_FIND_LINKS); elsewhere PyPI serves it.
$(BOOK_STAMP): pyproject.toml Makefile
	$(PYTHON_SYS) -m venv $(VENV)
	@if $(PY) -m pip install -q uv && $(VENV)/bin/uv pip install -q --python $(PY) -e .; then \
	  echo "installed the book's dependencies with uv"; \
	else \
	  echo "uv unavailable: installing with pip"; \
	  $(PY) -m pip install -q -U pip setuptools wheel && $(PY) -m pip install -q --no-compile -e .; \
	fi
	touch $@

$(STAMP): $(BOOK_STAMP)
	$(PY) -m pip install -q -U pip setuptools wheel
	$(PY) -m pip install -q --no-compile -e '.[train,test,bench,hub,cluster]'
	touch $@

setup: $(STAMP)

book: $(BOOK_STAMP)
	$(PY) -m atlas.bookbuild --preset $(BOOK_PRESET)

chapter: $(BOOK_STAMP)
	@test -n "$(NB)" || { echo "usage: make chapter NB=01_data_sampling"; exit 2; }
	$(PY) -m atlas.bookbuild --preset $(BOOK_PRESET) --only $(NB)

test: $(STAMP)
	$(PY) -m pytest -q

runs: $(STAMP)
	$(PY) -m atlas grid run --preset $(PRESET) --experiment $(EXPERIMENT)

status: $(STAMP)
	$(PY) -m atlas grid status --preset $(PRESET) --experiment $(EXPERIMENT)

bench: $(STAMP)
	$(PY) -m atlas bench train --out .cache/bench/train.json
	@echo "wrote .cache/bench/train.json"
	$(PY) -m atlas bench profile --json .cache/bench/profile.json
	@echo "wrote .cache/bench/profile.json"
	$(PY) -m atlas bench fit

clean:
	rm -rf book/_build book/_verdicts book/[0-9][0-9]_*.ipynb .cache .pytest_cache
