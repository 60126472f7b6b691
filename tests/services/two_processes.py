"""Two service contexts on one database, as two server processes would have: on PostgreSQL a
fresh database, on SQLite one file named by two data dirs (the events' sockets belong to the
file, not to a data dir). Also what the lock-order tests share: two bootstrapped contexts on a
PostgreSQL database, and a wait for "another backend is blocked on this one"."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import pytest
from pydantic import SecretStr
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from agentpost.config import Settings
from agentpost.services import accounts
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


@asynccontextmanager
async def pg_processes(
    settings: Settings, make_database: Callable[[], Awaitable[str]] = create_database
) -> AsyncIterator[tuple[AppContext, AppContext]]:
    """Two contexts (engines, pools, group committers) on one fresh PostgreSQL database made
    by ``make_database``, the first bootstrapped."""
    name = await make_database()
    shared = settings.model_copy(update={"database_url": database_url(name)})
    one = await build_context(shared)
    two = await build_context(shared)
    try:
        await accounts.ensure_bootstrap(one)
        yield one, two
    finally:
        await one.close()
        await two.close()
        await drop_database(name)


async def backend_pid(conn: AsyncConnection) -> int:
    return int((await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one())


async def until_waited_on(ctx: AppContext, pid: int) -> None:
    """Return once another backend waits for a lock that backend ``pid`` holds. Polls the
    server's lock table: a condition, not a duration (no result depends on how long)."""
    query = text("SELECT count(*) FROM pg_stat_activity WHERE :pid = ANY(pg_blocking_pids(pid))")
    async with ctx.db.engine.connect() as conn:
        while not (await conn.execute(query, {"pid": pid})).scalar_one():
            await asyncio.sleep(0.01)
