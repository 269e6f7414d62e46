# Everyday verbs. `make demo` and `make test` set everything up on a new machine (Python 3.10+).
VENV ?= .venv
PY := $(VENV)/bin/python
PYTHON ?= python3

# Real datasets for tests: a folder holding fashion-mnist/ (and mnist/, cifar10/ ...).
# Defaults to the shared datasets folder beside the checkout when it exists.
SHARED_DATA := $(abspath ../shared/datasets)
GANFORGE_DATA ?= $(if $(wildcard $(SHARED_DATA)/fashion-mnist),$(SHARED_DATA),)
export GANFORGE_DATA

.PHONY: install demo test lint bench docs clean

$(VENV)/.installed: pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q -e '.[dev]'
	@touch $@

install: $(VENV)/.installed

demo: install  ## train the quick preset on the offline digits (recognizable samples after about 40 s, 1,000 steps in about 95 s on 2 CPU cores)
	$(VENV)/bin/ganforge train --preset quick

test: install  ## the test suite (real Fashion-MNIST tests run when $$GANFORGE_DATA has it)
	$(PY) -m pytest -q

bench: install  ## throughput (~17 min), export (~40 s), web export (~3 min), server load (~1 min), lab modes (~32 min at 10 seeds a row; 20 now), small data (~16 min), time to quality (~35 min), quality curve (~33 min), folder judge (~3 min), emoji at 64 px, 10 minutes, the default against batch 32 (~35 min; needs $$GANFORGE_DATA's emoji), sharing the CPU at 64 px (~7 min)
	$(PY) benchmarks/throughput.py
	$(PY) benchmarks/export.py
	$(PY) benchmarks/web_export.py
	$(PY) benchmarks/server_load.py
	$(PY) benchmarks/toy_modes.py
	$(PY) benchmarks/small_data.py --recipes none ada-tc-slow --out benchmarks/results/small_data-make.json
	$(PY) benchmarks/time_to_quality.py model.ngf=32 model.ndf=32
	$(PY) benchmarks/quality_curve.py --seeds 1 --out benchmarks/results/quality_curve-make.json --plot benchmarks/results/quality_curve-make.png
	$(PY) benchmarks/folder_judge.py --out benchmarks/results/folder_judge-make.json
	$(PY) benchmarks/time_to_quality.py --grid defaults:10 b32:10 --seeds 3 --also 5 --dataset emoji --resolution 64 -n 5000 --out benchmarks/results/emoji_grid-make.json
	$(PY) benchmarks/sharing.py --rounds 1 --steps 200 --train "--data emoji" --out benchmarks/results/sharing64-make.json

docs: install  ## the API reference from the docstrings of ganforge's public names: build/docs/index.html
	$(PY) -m pdoc ganforge '!ganforge\..*' --docformat markdown -o build/docs

lint: install
	$(VENV)/bin/ruff check src tests

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info .pytest_cache .ruff_cache
