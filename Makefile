# The README's commands. Everything installs into .venv; torch goes in first, pinned to the CPU
# wheel, because letting pip resolve it pulls gigabytes of CUDA packages.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
TORCH := torch==2.13.0
INDEX ?= index
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: install serve test eval bench index clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet "$(TORCH)"
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $@

index: install
	$(BIN)/rag index --index $(INDEX) --if-stale

serve: index
	$(BIN)/rag serve --index $(INDEX) --host $(HOST) --port $(PORT)

test: install
	$(BIN)/python -m pytest

eval: install
	$(BIN)/rag eval $(EVAL_ARGS)

bench: install
	$(BIN)/python -m bench $(BENCH_ARGS)

clean:
	rm -rf $(VENV) $(INDEX)
