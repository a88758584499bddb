# Quick start:  make demo   (set up + a real training run, < 5 min on 2 CPU cores)
#               make test   (set up + the test suite)
PYTHON ?= python3
VENV ?= .venv
EXTRAS ?= test
PY := $(VENV)/bin/python
comma := ,
STAMP := $(VENV)/.installed-$(subst $(comma),-,$(EXTRAS))
PYTEST_ARGS ?= -n 2

.PHONY: setup demo test bench bench-gpu clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[$(EXTRAS)]"
	touch $@

demo: setup
	rm -rf runs/demo
	$(PY) -m projects.lamb.main --config=configs/lamb/default.py --workdir=runs/demo

test: setup
	$(PY) -m pytest $(PYTEST_ARGS)

bench:
	$(MAKE) setup EXTRAS=test,bench
	$(PY) benchmarks/run_all.py

bench-gpu:  # every benchmark at accelerator sizes on this machine's GPU/TPU
	$(MAKE) setup EXTRAS=test,bench
	$(PY) benchmarks/run_all.py --accelerator

clean:
	rm -rf $(VENV) runs .pytest_cache
