"""Fixtures for the REST API tests: the app over real HTTP semantics (httpx ASGI transport),
a known master key, and agents with their keys."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from agentpost.api import create_app
from agentpost.config import Settings
from agentpost.services.context import AppContext

from .support import MASTER_KEY, Agent, new_agent


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """As the shared fixture, plus a master key the tests know."""
    return Settings(
        data_dir=tmp_path / "data", smtp_require_tls_for_auth=False, master_key=MASTER_KEY
    )


@pytest.fixture
def app(ctx: AppContext) -> FastAPI:
    return create_app(ctx)


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://agentpost.test") as http:
        yield http


@pytest.fixture
async def alice(ctx: AppContext) -> Agent:
    return await new_agent(ctx, "alice")


@pytest.fixture
async def bob(ctx: AppContext) -> Agent:
    return await new_agent(ctx, "bob")


@pytest.fixture
async def carol(ctx: AppContext) -> Agent:
    return await new_agent(ctx, "carol")
