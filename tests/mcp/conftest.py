"""Fixtures for the MCP tests: the real API served by uvicorn on a free port, agents with
keys, and the MCP server started as ``python -m agentpost.mcp`` over stdio."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from mcp import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp_support import MASTER_KEY, Agent, McpSession

from agentpost.api.app import create_app
from agentpost.client import AgentPostClient
from agentpost.config import Settings
from agentpost.services import accounts
from agentpost.services.context import AppContext


class _Server(uvicorn.Server):
    """Tells the test when it is listening, so nothing waits on a timer."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.ready = asyncio.Event()

    async def startup(self, sockets: Any = None) -> None:
        await super().startup(sockets)
        self.ready.set()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """As the shared fixture, plus a master key the tests know."""
    return Settings(
        data_dir=tmp_path / "data", smtp_require_tls_for_auth=False, master_key=MASTER_KEY
    )


@pytest.fixture
async def api_url(ctx: AppContext) -> AsyncIterator[str]:
    config = uvicorn.Config(
        create_app(ctx), host="127.0.0.1", port=0, log_level="warning", lifespan="off"
    )
    server = _Server(config)
    serving = asyncio.create_task(server.serve())
    ready = asyncio.create_task(server.ready.wait())
    await asyncio.wait({serving, ready}, return_when=asyncio.FIRST_COMPLETED)
    if serving.done():
        ready.cancel()
        serving.result()
        raise RuntimeError("uvicorn stopped before it started listening")
    host, port = server.servers[0].sockets[0].getsockname()[:2]
    yield f"http://{host}:{port}"
    server.should_exit = True
    await serving


async def new_agent(ctx: AppContext, name: str) -> Agent:
    """An agent created by the admin, with its key."""
    admin = await accounts.authenticate(ctx, MASTER_KEY)
    record, key = await accounts.create_agent(ctx, admin, name=name)
    return Agent(record, key)


@pytest.fixture
async def alice(ctx: AppContext) -> Agent:
    return await new_agent(ctx, "alice")


@pytest.fixture
async def bob(ctx: AppContext) -> Agent:
    return await new_agent(ctx, "bob")


@pytest.fixture
async def api(api_url: str) -> AsyncIterator[Callable[[str], AgentPostClient]]:
    """A REST client per key, for setting up and checking what the MCP tools did."""
    clients: list[AgentPostClient] = []

    def for_key(key: str) -> AgentPostClient:
        clients.append(AgentPostClient(api_url, key))
        return clients[-1]

    yield for_key
    for client in clients:
        await client.aclose()


@pytest.fixture
def mcp_session(api_url: str) -> McpSession:
    """``async with mcp_session(key, master_key=None, prefix="AGENTPOST_") as session``."""

    @asynccontextmanager
    async def start(
        key: str, *, master_key: str | None = None, prefix: str = "AGENTPOST_"
    ) -> AsyncIterator[ClientSession]:
        env = {f"{prefix}API_URL": api_url, f"{prefix}API_KEY": key}
        if master_key:
            env[f"{prefix}MASTER_KEY"] = master_key
        params = StdioServerParameters(
            command=sys.executable, args=["-m", "agentpost.mcp"], env=env
        )
        async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
            await session.initialize()
            yield session

    return start
