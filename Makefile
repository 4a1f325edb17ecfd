# `make run` and `make test` install on first use; `make install` only installs.
VENV   ?= .venv
PYTHON := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
DATA_DIR ?= $(or $(SPECTRASCOPE_DATA_DIR),data)

.PHONY: install run test clean

install: $(STAMP)

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PYTHON) -m pip install --quiet --upgrade pip
	$(PYTHON) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

run: install
	@test -f $(DATA_DIR)/runs/demo/run.json || $(VENV)/bin/spectrascope train --preset demo --data-dir $(DATA_DIR) --run-id demo
	$(VENV)/bin/spectrascope analyze --run demo --data-dir $(DATA_DIR)
	@echo "Demo run and its analysis in $(DATA_DIR)/runs/demo (the dashboard is not built yet)"

test: install
	$(PYTHON) -m pytest

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache
