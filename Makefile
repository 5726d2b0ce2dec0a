# The two README commands: `make train` (the demo) and `make test` (the whole suite).
# Both create the virtual environment and install the package first, once.

VENV ?= .venv
PYTHON ?= python3
# These exact versions are served from local disk on the project machines; override elsewhere.
TORCH_SPEC ?= torch==2.14.1 torchvision==0.29.1
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: train test test-fast lint format samples clean-demo

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet $(TORCH_SPEC)
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

## Generate the synthetic radiographs (first time), train frozen and fine-tuned, compare.
# allow_frozen_random: offline, no ImageNet weights; the frozen run on random features is
# the demo's honest baseline (near chance), so it is asked for rather than warned about.
train: $(STAMP)
	$(BIN)/fracture-train -m experiment=frozen,finetune allow_frozen_random=true

# One pytest worker per usable core (pytest-xdist), one torch thread each, in the tests and in
# the command-line runs they launch: on 2 cores the suite takes about 10 minutes instead of 15,
# as one worker's subprocess start-ups and waits overlap the other's computing.
TEST_WORKERS ?= $(shell nproc 2>/dev/null || echo 1)
PYTEST := OMP_NUM_THREADS=1 $(BIN)/pytest -n $(TEST_WORKERS)

## The whole test suite (GPU tests skip without a GPU).
test: $(STAMP)
	$(PYTEST)

## Everything but the slow and end-to-end tests.
test-fast: $(STAMP)
	$(PYTEST) -m "not slow and not e2e"

lint: $(STAMP)
	$(BIN)/ruff check fracture tests scripts
	$(BIN)/ruff format --check fracture tests scripts

format: $(STAMP)
	$(BIN)/ruff check --fix fracture tests scripts
	$(BIN)/ruff format fracture tests scripts

## The sample grid shown in the README.
samples: $(STAMP)
	$(BIN)/python scripts/sample_grid.py
