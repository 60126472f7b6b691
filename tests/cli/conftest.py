"""The CLI driven in-process with typer's runner, against a fresh data directory per test."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from agentpost.cli import app

from .support import Invoke, Outcome


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def agentpost(data_dir: Path) -> Invoke:
    """Run ``agentpost ARGS... --data-dir <tmp>``; ``env=`` and ``input=`` pass through."""

    def invoke(*args: str, input: str | None = None, env: dict[str, str] | None = None) -> Outcome:
        result = CliRunner().invoke(app, [*args, "--data-dir", str(data_dir)], input=input, env=env)
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise result.exception
        return Outcome(result.exit_code, result.stdout, result.stderr)

    return invoke
