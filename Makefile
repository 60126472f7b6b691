# AgentPost developer commands. On a fresh Debian machine, `make run` and `make test` are all
# you need: they install what is missing (system packages, .venv) and skip what is there.

VENV ?= .venv
export VENV

.PHONY: help run test install lint format clean

help:  ## list the targets
	@grep -E '^[a-z]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/'

run: install  ## serve on SQLite in ~/.agentpost (HTTP 127.0.0.1:3100, SMTP 127.0.0.1:2525)
	$(VENV)/bin/agentpost serve

test:  ## install everything the tests need, then lint, type-check and run the whole suite
	bash scripts/test.sh

install:  ## create .venv and install the package with its dev tools (only when changed)
	bash scripts/venv.sh

lint: install  ## ruff and mypy only
	$(VENV)/bin/ruff check
	$(VENV)/bin/ruff format --check
	$(VENV)/bin/mypy

format: install  ## apply ruff's fixes and formatting
	$(VENV)/bin/ruff check --fix
	$(VENV)/bin/ruff format

clean:  ## remove the virtualenv and caches (not your data in ~/.agentpost)
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
