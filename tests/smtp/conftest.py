"""Fixtures for the SMTP tests: a listener factory on 127.0.0.1 port 0, and agents."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from agentpost.services.context import AppContext
from agentpost.smtp import SmtpServer, start_smtp
from agentpost.testing.factories import make_agent

from .support import Agent

Listen = Callable[..., Awaitable[SmtpServer]]


@pytest.fixture
async def listen(ctx: AppContext) -> AsyncIterator[Listen]:
    """Start a listener, optionally after changing settings (``listen(max_message_bytes=…)``)."""
    servers: list[SmtpServer] = []

    async def start(**changes: Any) -> SmtpServer:
        if changes:
            ctx.settings = ctx.settings.model_copy(update=changes)
        server = await start_smtp(ctx, host="127.0.0.1", port=0)
        servers.append(server)
        return server

    yield start
    for server in servers:
        await server.close()


@pytest.fixture
async def server(listen: Listen) -> SmtpServer:
    return await listen()


@pytest.fixture
async def alice(ctx: AppContext) -> Agent:
    return Agent(*await make_agent(ctx, "alice"))


@pytest.fixture
async def bob(ctx: AppContext) -> Agent:
    return Agent(*await make_agent(ctx, "bob"))
