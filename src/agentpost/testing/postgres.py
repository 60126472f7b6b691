"""Throwaway PostgreSQL databases for tests: one fresh database per test, dropped after.

The server to use comes from AGENTPOST_TEST_PG (a libpq URL to an admin database), by
default the trust-auth ``postgres`` account on 127.0.0.1:5432.
"""

from __future__ import annotations

import os
import uuid

import asyncpg

DEFAULT_ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"


def admin_dsn() -> str:
    return os.environ.get("AGENTPOST_TEST_PG", DEFAULT_ADMIN_DSN)


async def create_database(template: str | None = None) -> str:
    """Create a uniquely named database, empty or a copy of ``template``; returns its name."""
    name = f"agentpost_test_{uuid.uuid4().hex[:12]}"
    copy = f' TEMPLATE "{template}"' if template else ""
    conn = await asyncpg.connect(admin_dsn())
    try:
        await conn.execute(f'CREATE DATABASE "{name}"{copy}')
    finally:
        await conn.close()
    return name


async def drop_database(name: str) -> None:
    conn = await asyncpg.connect(admin_dsn())
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


def database_url(name: str) -> str:
    """The SQLAlchemy (asyncpg) URL of database ``name`` on the test server."""
    base = admin_dsn().rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1)
    return f"{base}/{name}"
