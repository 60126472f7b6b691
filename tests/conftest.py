"""Shared fixtures: settings in a temp data dir, a service context per test on SQLite and
(for tests that ask for ``any_ctx``) on a fresh PostgreSQL database too."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from agentpost.config import Settings
from agentpost.services import accounts
from agentpost.services.accounts import Principal
from agentpost.services.context import AppContext, build_context
from agentpost.testing import templates
from agentpost.testing.factories import admin_principal, make_agent
from agentpost.testing.postgres import create_database, database_url, drop_database


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


@pytest.fixture
async def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file to copy (agentpost/testing/templates.py), made once per run."""
    return await templates.sqlite_template(tmp_path_factory.getbasetemp() / "schema-template")


@pytest.fixture
async def ctx(settings: Settings, sqlite_template: Path) -> AsyncIterator[AppContext]:
    """A migrated SQLite context with the default owner and a known master key."""
    templates.seed_sqlite(sqlite_template, settings)
    context = await build_context(settings)
    await accounts.ensure_bootstrap(context)
    yield context
    await context.close()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
async def any_ctx(
    request: pytest.FixtureRequest, settings: Settings, sqlite_template: Path
) -> AsyncIterator[AppContext]:
    """The same test on SQLite and on a fresh PostgreSQL database."""
    database = None
    if request.param == "postgresql":
        database = await create_database(template=await templates.postgres_template())
        settings = settings.model_copy(update={"database_url": database_url(database)})
    else:
        templates.seed_sqlite(sqlite_template, settings)
    context = await build_context(settings)
    await accounts.ensure_bootstrap(context)
    try:
        yield context
    finally:
        await context.close()
        if database is not None:
            await drop_database(database)


@pytest.fixture
async def admin(ctx: AppContext) -> Principal:
    return await admin_principal(ctx)


__all__ = ["admin_principal", "make_agent"]
