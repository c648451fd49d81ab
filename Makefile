# The two commands of the README. Both create .venv and install the project on first use.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo test dev mlflow-ui clean-state

# uv resolves and installs about three times faster than pip here; where it cannot be installed
# (no wheel for the platform, an offline mirror without it), pip does the same install.
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	( $(BIN)/pip install --quiet uv && $(BIN)/uv pip install --quiet --python $(BIN)/python -e ".[dev]" ) \
		|| $(BIN)/pip install --quiet -e ".[dev]"
	touch $@

demo: $(VENV)/.installed  ## run the lifecycle end to end on the embedded defaults
	$(BIN)/mlops-assets demo

test: $(VENV)/.installed  ## run the test suite
	$(BIN)/pytest

dev: $(VENV)/.installed  ## the Dagster UI and daemon on http://127.0.0.1:3000
	$(BIN)/mlops-assets dev

clean-state:  ## delete all platform state (warehouse, MLflow store, Dagster instance)
	rm -rf .mlops_state
