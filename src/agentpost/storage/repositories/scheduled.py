"""Scheduled sends: the agent's own rows, and the scheduler's claim / finish / release.

A claim is a state change committed before anything is sent: due rows become ``sending``
with a fresh ``claim_token`` and a lease. On PostgreSQL the claiming SELECT takes row locks
with ``FOR UPDATE SKIP LOCKED``, so concurrent schedulers never pick the same row; SQLite
write transactions exclude each other anyway. Finishing and releasing only apply while the
caller's token is still on the row, so a scheduler whose lease ran out cannot overwrite the
outcome of the one that took over.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, insert, or_, select, update
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from agentpost.storage.records import utc
from agentpost.storage.tables.content import scheduled_sends as t

PENDING = "pending"
SENDING = "sending"
SENT = "sent"
FAILED = "failed"
CANCELLED = "cancelled"
HELD = "held"  # handed to the send path, which held it for the owner's approval


@dataclass(frozen=True, slots=True)
class ScheduledRecord:
    id: str
    agent_id: str
    to: str
    cc: str | None
    bcc: str | None
    subject: str
    text: str
    html: str | None
    signature: bool
    send_at: datetime
    status: str
    attempts: int
    message_id: str | None
    sent_at: datetime | None
    error: str | None
    created_at: datetime


def _record(row: RowMapping) -> ScheduledRecord:
    return ScheduledRecord(
        id=row["id"],
        agent_id=row["agent_id"],
        to=row["to_addrs"],
        cc=row["cc_addrs"],
        bcc=row["bcc_addrs"],
        subject=row["subject"],
        text=row["text_body"],
        html=row["html_body"],
        signature=bool(row["signature"]),
        send_at=utc(row["send_at"]),
        status=row["status"],
        attempts=int(row["attempts"]),
        message_id=row["message_id"],
        sent_at=utc(row["sent_at"]) if row["sent_at"] else None,
        error=row["error"],
        created_at=utc(row["created_at"]),
    )


async def insert_scheduled(
    conn: AsyncConnection, *, id: str, agent_id: str, fields: dict[str, Any], now: datetime
) -> None:
    """``fields``: to_addrs, cc_addrs, bcc_addrs, subject, text_body, html_body, signature,
    send_at."""
    await conn.execute(
        insert(t).values(
            id=id,
            agent_id=agent_id,
            due_at=fields["send_at"],
            status=PENDING,
            attempts=0,
            created_at=now,
            updated_at=now,
            **fields,
        )
    )


async def list_scheduled(
    conn: AsyncConnection, agent_id: str, status: str | None = None
) -> list[ScheduledRecord]:
    query = select(t).where(t.c.agent_id == agent_id)
    if status is not None:
        query = query.where(t.c.status == status)
    query = query.order_by(t.c.send_at, t.c.created_at)
    return [_record(row) for row in (await conn.execute(query)).mappings()]


async def get_scheduled(conn: AsyncConnection, agent_id: str, id: str) -> ScheduledRecord | None:
    row = (
        (await conn.execute(select(t).where(t.c.agent_id == agent_id, t.c.id == id)))
        .mappings()
        .first()
    )
    return _record(row) if row else None


async def count_pending(conn: AsyncConnection, agent_id: str) -> int:
    query = (
        select(func.count())
        .select_from(t)
        .where(t.c.agent_id == agent_id, t.c.status.in_((PENDING, SENDING)))
    )
    return int((await conn.execute(query)).scalar_one())


async def cancel_scheduled(conn: AsyncConnection, agent_id: str, id: str, now: datetime) -> bool:
    """Cancel a row that is still pending; a row being sent or done is left alone."""
    query = (
        update(t)
        .where(t.c.agent_id == agent_id, t.c.id == id, t.c.status == PENDING)
        .values(status=CANCELLED, updated_at=now)
    )
    return bool((await conn.execute(query)).rowcount)


def _claimable(now: datetime) -> Any:
    return or_(
        and_(t.c.status == PENDING, t.c.due_at <= now),
        # A claim whose lease ran out: that scheduler died (or stalled) before finishing.
        and_(t.c.status == SENDING, t.c.lease_until < now),
    )


async def claim_due(
    conn: AsyncConnection, *, now: datetime, token: str, lease_until: datetime, limit: int
) -> list[ScheduledRecord]:
    """Mark up to ``limit`` due rows ``sending`` under ``token``; returns them."""
    ids_query = (
        select(t.c.id)
        .where(_claimable(now))
        .order_by(t.c.due_at)
        .limit(limit)
        .with_for_update(skip_locked=True)  # PostgreSQL; SQLite renders nothing
    )
    ids = list((await conn.execute(ids_query)).scalars())
    if not ids:
        return []
    await conn.execute(
        update(t)
        .where(t.c.id.in_(ids))
        .values(
            status=SENDING,
            claim_token=token,
            lease_until=lease_until,
            attempts=t.c.attempts + 1,
            updated_at=now,
        )
    )
    rows = (await conn.execute(select(t).where(t.c.id.in_(ids)).order_by(t.c.due_at))).mappings()
    return [_record(row) for row in rows]


async def finish(
    conn: AsyncConnection,
    id: str,
    token: str,
    *,
    status: str,
    now: datetime,
    message_id: str | None = None,
    error: str | None = None,
) -> bool:
    """``sent`` or ``failed``, only while ``token`` still holds the claim."""
    query = (
        update(t)
        .where(t.c.id == id, t.c.claim_token == token, t.c.status == SENDING)
        .values(
            status=status,
            message_id=message_id,
            error=error,
            sent_at=now if status == SENT else None,
            lease_until=None,
            updated_at=now,
        )
    )
    return bool((await conn.execute(query)).rowcount)


async def release(
    conn: AsyncConnection, id: str, token: str, *, due_at: datetime, error: str, now: datetime
) -> bool:
    """Back to ``pending``, to be tried again at ``due_at``."""
    query = (
        update(t)
        .where(t.c.id == id, t.c.claim_token == token, t.c.status == SENDING)
        .values(
            status=PENDING,
            due_at=due_at,
            error=error,
            claim_token=None,
            lease_until=None,
            updated_at=now,
        )
    )
    return bool((await conn.execute(query)).rowcount)


async def mark_held(conn: AsyncConnection, id: str, note: str, now: datetime) -> None:
    """A row the guard held instead of sending: ``sent`` becomes ``held``, with a note."""
    await conn.execute(
        update(t)
        .where(t.c.id == id, t.c.status == SENT)
        .values(status=HELD, sent_at=None, error=note, updated_at=now)
    )


async def next_wakeup(conn: AsyncConnection) -> datetime | None:
    """The earliest time a row becomes claimable: a pending due time or a lease's end."""
    pending = select(func.min(t.c.due_at)).where(t.c.status == PENDING)
    leases = select(func.min(t.c.lease_until)).where(t.c.status == SENDING)
    times = [
        (await conn.execute(pending)).scalar_one_or_none(),
        (await conn.execute(leases)).scalar_one_or_none(),
    ]
    found = [utc(value) for value in times if value is not None]
    return min(found, default=None)
