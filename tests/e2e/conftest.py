"""Fixtures for tests that run ``agentpost`` as separate processes."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .support import ServerProcess, StartServer, start_server_process


@pytest.fixture
def start_server() -> Iterator[StartServer]:
    """Start ``agentpost serve ARGS`` with ``env=``; every server is killed after the test."""
    started: list[ServerProcess] = []

    def start(*args: str, env: dict[str, str]) -> ServerProcess:
        server = start_server_process(*args, env=env)
        started.append(server)
        return server

    yield start
    for server in started:
        server.kill()
