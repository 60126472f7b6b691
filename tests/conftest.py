"""Shared fixtures: settings in a temp data dir, a service context per test on SQLite and
(for tests that ask for ``any_ctx``) on a fresh PostgreSQL database too."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest

from agentpost.config import Settings
from agentpost.services import accounts
from agentpost.services.accounts import Principal
from agentpost.services.context import AppContext, build_context
from agentpost.testing.factories import admin_principal, make_agent

PG_ADMIN_DSN = os.environ.get("AGENTPOST_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(autouse=True)
def clean_environ(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No AGENTPOST_/AGENTICMAIL_ variable from the developer's shell leaks into a test."""
    for name in list(os.environ):
        if name.startswith(("AGENTPOST_", "AGENTICMAIL_")) and name != "AGENTPOST_TEST_PG":
            monkeypatch.delenv(name)
    yield


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data", smtp_require_tls_for_auth=False)


async def _fresh_pg_database() -> str:
    name = f"agentpost_test_{uuid.uuid4().hex[:12]}"
    conn = await asyncpg.connect(PG_ADMIN_DSN)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return name


async def _drop_pg_database(name: str) -> None:
    conn = await asyncpg.connect(PG_ADMIN_DSN)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


def pg_url(database: str) -> str:
    base = PG_ADMIN_DSN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1)
    return f"{base}/{database}"


@pytest.fixture
async def ctx(settings: Settings) -> AsyncIterator[AppContext]:
    """A migrated SQLite context with the default owner and a known master key."""
    context = await build_context(settings)
    await accounts.ensure_bootstrap(context)
    yield context
    await context.close()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
async def any_ctx(request: pytest.FixtureRequest, settings: Settings) -> AsyncIterator[AppContext]:
    """The same test on SQLite and on a fresh PostgreSQL database."""
    database = None
    if request.param == "postgresql":
        database = await _fresh_pg_database()
        settings = settings.model_copy(update={"database_url": pg_url(database)})
    context = await build_context(settings)
    await accounts.ensure_bootstrap(context)
    try:
        yield context
    finally:
        await context.close()
        if database is not None:
            await _drop_pg_database(database)


@pytest.fixture
async def admin(ctx: AppContext) -> Principal:
    return await admin_principal(ctx)


__all__ = ["admin_principal", "make_agent"]
