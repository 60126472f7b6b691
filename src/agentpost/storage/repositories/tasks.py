"""Tasks between agents. State changes are conditional updates (``WHERE status = …``), so two
processes racing to claim or complete one task cannot both win."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import astuple, dataclass, fields
from datetime import datetime
from typing import Any

from sqlalchemy import and_, insert, or_, select, update
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from agentpost.storage.tables.workflow import tasks

OPEN = ("pending", "claimed")


@dataclass(frozen=True, slots=True)
class TaskRecord:
    id: str
    owner_id: str
    assigner_id: str | None
    assigner_name: str
    assignee_id: str
    assignee_name: str
    task_type: str
    payload: Any
    status: str
    result: Any
    error: str | None
    created_at: datetime
    claimed_at: datetime | None
    completed_at: datetime | None
    expires_at: datetime | None


COLUMNS = tuple(f.name for f in fields(TaskRecord))


def _task(row: RowMapping) -> TaskRecord:
    return TaskRecord(*(row[name] for name in COLUMNS))


async def insert_task(conn: AsyncConnection, record: TaskRecord) -> None:
    await conn.execute(insert(tasks).values(dict(zip(COLUMNS, astuple(record), strict=True))))


async def task_by_id(conn: AsyncConnection, task_id: str) -> TaskRecord | None:
    result = await conn.execute(select(tasks).where(tasks.c.id == task_id))
    row = result.mappings().first()
    return _task(row) if row else None


async def incoming(conn: AsyncConnection, assignee_id: str, *, limit: int) -> list[TaskRecord]:
    """Open tasks of an assignee, oldest first (work in the order it was given)."""
    result = await conn.execute(
        select(tasks)
        .where(tasks.c.assignee_id == assignee_id, tasks.c.status.in_(OPEN))
        .order_by(tasks.c.created_at, tasks.c.id)
        .limit(limit)
    )
    return [_task(row) for row in result.mappings()]


async def outgoing(
    conn: AsyncConnection, *, assigner_id: str | None, owner_id: str, limit: int
) -> list[TaskRecord]:
    """Tasks an agent assigned (or, with no agent, the owner did), newest first."""
    where = (
        tasks.c.assigner_id == assigner_id
        if assigner_id is not None
        else and_(tasks.c.assigner_id.is_(None), tasks.c.owner_id == owner_id)
    )
    result = await conn.execute(
        select(tasks).where(where).order_by(tasks.c.created_at.desc(), tasks.c.id).limit(limit)
    )
    return [_task(row) for row in result.mappings()]


async def overdue(conn: AsyncConnection, now: datetime, *, agent_id: str | None) -> list[str]:
    """Ids of open tasks past their expiry (of one agent, as either party, or of everyone)."""
    query = select(tasks.c.id).where(
        tasks.c.status.in_(OPEN), tasks.c.expires_at.is_not(None), tasks.c.expires_at <= now
    )
    if agent_id is not None:
        query = query.where(or_(tasks.c.assignee_id == agent_id, tasks.c.assigner_id == agent_id))
    result = await conn.execute(query.limit(500))
    return [row[0] for row in result]


async def transition(
    conn: AsyncConnection,
    task_id: str,
    *,
    from_statuses: Sequence[str],
    values: dict[str, Any],
) -> bool:
    """Change a task only if it is still in one of ``from_statuses``; True if it changed."""
    result = await conn.execute(
        update(tasks)
        .where(tasks.c.id == task_id, tasks.c.status.in_(list(from_statuses)))
        .values(**values)
    )
    return result.rowcount > 0
