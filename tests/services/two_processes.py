"""Two service contexts on one database, as two server processes would have: on PostgreSQL a
fresh database, on SQLite one file named by two data dirs (the events' sockets belong to the
file, not to a data dir)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from pydantic import SecretStr

from agentpost.config import Settings
from agentpost.services.context import AppContext, build_context
from agentpost.testing.postgres import create_database, database_url, drop_database

DIALECTS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


@asynccontextmanager
async def two_contexts(
    settings: Settings, dialect: str
) -> AsyncIterator[tuple[AppContext, AppContext]]:
    database = await create_database() if dialect == "postgresql" else None
    if database is not None:
        url = database_url(database)
    else:
        url = f"sqlite+aiosqlite:///{settings.data_dir.parent / 'shared' / 'agentpost.db'}"
    common = {"database_url": url, "secret_key": SecretStr("two-processes-" + "0" * 50)}
    first = await build_context(
        settings.model_copy(update={**common, "data_dir": settings.data_dir / "first"})
    )
    second = await build_context(
        settings.model_copy(update={**common, "data_dir": settings.data_dir / "second"})
    )
    try:
        yield first, second
    finally:
        await first.close()
        await second.close()
        if database is not None:
            await drop_database(database)
