"""Appending to and reading the hash-chained audit log (storage/tables/audit.py)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from agentpost.storage import direct
from agentpost.storage.tables.audit import audit_log

GENESIS = "0" * 64


# Built once: every send reads the head, and building a statement costs more than running it.
_HEAD = select(audit_log.c.seq, audit_log.c.hash).order_by(audit_log.c.seq.desc()).limit(1)


async def chain_head(conn: AsyncConnection) -> tuple[int, str]:
    """The last row's sequence number and hash; (0, GENESIS) for an empty log."""
    row = (await conn.execute(_HEAD)).first()
    return (row.seq, row.hash) if row is not None else (0, GENESIS)


async def append_many(conn: AsyncConnection, rows: list[dict[str, Any]]) -> None:
    """Several rows in one statement (an executemany when there are more than one)."""
    await direct.insert(conn, audit_log, rows)


@dataclass(frozen=True, slots=True)
class AuditRecord:
    seq: int
    at: datetime
    owner_id: str | None
    agent_id: str | None
    config_id: str | None
    operation: str
    recipients: int
    status: str
    error: str | None
    duration_ms: int | None
    detail: dict[str, Any]
    prev_hash: str
    hash: str


@dataclass(frozen=True, slots=True)
class AuditFilter:
    """Every field narrows the result; None means "any"."""

    owner_id: str | None = None
    agent_id: str | None = None
    config_id: str | None = None
    operation: str | None = None  # exact, or a prefix ending in "." ("send.")
    status: str | None = None
    since: datetime | None = None
    until: datetime | None = None


def _record(row: RowMapping) -> AuditRecord:
    detail = row["detail"]
    return AuditRecord(
        seq=int(row["seq"]),
        at=row["at"],  # as stored: the verifier hashes exactly this value
        owner_id=row["owner_id"],
        agent_id=row["agent_id"],
        config_id=row["config_id"],
        operation=row["operation"],
        recipients=int(row["recipients"]),
        status=row["status"],
        error=row["error"],
        duration_ms=None if row["duration_ms"] is None else int(row["duration_ms"]),
        detail=json.loads(detail) if detail else {},
        prev_hash=row["prev_hash"],
        hash=row["hash"],
    )


def _where(query: Select[Any], f: AuditFilter) -> Select[Any]:
    c = audit_log.c
    for column, value in (
        (c.owner_id, f.owner_id),
        (c.agent_id, f.agent_id),
        (c.config_id, f.config_id),
        (c.status, f.status),
    ):
        if value is not None:
            query = query.where(column == value)
    if f.operation is not None:
        if f.operation.endswith("."):
            query = query.where(c.operation.startswith(f.operation, autoescape=True))
        else:
            query = query.where(c.operation == f.operation)
    if f.since is not None:
        query = query.where(c.at >= f.since)
    if f.until is not None:
        query = query.where(c.at < f.until)
    return query


async def page(
    conn: AsyncConnection,
    f: AuditFilter,
    *,
    limit: int,
    before_seq: int | None = None,
    offset: int = 0,
) -> list[AuditRecord]:
    """Newest first: rows with ``seq < before_seq`` (a cursor), after skipping ``offset``."""
    query = _where(select(audit_log), f).order_by(audit_log.c.seq.desc()).limit(limit)
    if before_seq is not None:
        query = query.where(audit_log.c.seq < before_seq)
    if offset:
        query = query.offset(offset)
    return [_record(row) for row in (await conn.execute(query)).mappings()]


async def count(conn: AsyncConnection, f: AuditFilter) -> int:
    query = _where(select(func.count()).select_from(audit_log), f)
    return int((await conn.execute(query)).scalar_one())


async def chain_after(conn: AsyncConnection, after_seq: int, *, limit: int) -> list[AuditRecord]:
    """Oldest first, for walking the chain in batches."""
    query = (
        select(audit_log).where(audit_log.c.seq > after_seq).order_by(audit_log.c.seq).limit(limit)
    )
    return [_record(row) for row in (await conn.execute(query)).mappings()]
