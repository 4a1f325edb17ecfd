# `make run` (the dashboard on http://localhost:8050, with the demo run training if there are no runs) and
# `make test` install on first use; `make install` only installs: the system packages the exports and tests
# need (scripts/system-packages: checked every time, installed with apt-get where it can, else one line saying
# what to run) and the venv.
VENV   ?= .venv
PYTHON := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
DATA_DIR ?= $(or $(SPECTRASCOPE_DATA_DIR),data)
HOST ?= 127.0.0.1
PORT ?= 8050

.PHONY: install system-packages run test clean

install: system-packages $(STAMP)

system-packages:
	@$(SHELL) scripts/system-packages

$(STAMP): pyproject.toml | system-packages
	python3 -m venv $(VENV)
	$(PYTHON) -m pip install --quiet --upgrade pip
	$(PYTHON) -m pip install --quiet -e '.[test,celery]'
	touch $(STAMP)

run: install
	$(VENV)/bin/spectrascope serve --demo --data-dir $(DATA_DIR) --host $(HOST) --port $(PORT)

test: install
	$(PYTHON) -m pytest

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache
