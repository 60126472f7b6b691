"""Appending to and reading the hash-chained audit log (storage/tables/audit.py)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from agentpost.storage.tables.audit import audit_log

GENESIS = "0" * 64


async def chain_head(conn: AsyncConnection) -> tuple[int, str]:
    """The last row's sequence number and hash; (0, GENESIS) for an empty log."""
    row = (
        await conn.execute(
            select(audit_log.c.seq, audit_log.c.hash).order_by(audit_log.c.seq.desc()).limit(1)
        )
    ).first()
    return (row.seq, row.hash) if row is not None else (0, GENESIS)


async def append(conn: AsyncConnection, values: dict[str, Any]) -> None:
    await conn.execute(insert(audit_log).values(**values))
