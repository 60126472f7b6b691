"""The system outbox (storage/tables/notices.py) and the approval tokens of held mail.
Never commits."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from agentpost.storage.records import utc
from agentpost.storage.tables.guard import pending_outbound
from agentpost.storage.tables.notices import system_notices

QUEUED = "queued"
SENDING = "sending"


@dataclass(frozen=True, slots=True)
class NoticeRecord:
    id: str
    owner_id: str
    kind: str
    pending_id: str | None
    recipient: str
    subject: str
    body: str
    nonce: str | None
    attempts: int
    deadline_at: datetime


def _record(row: Any) -> NoticeRecord:
    return NoticeRecord(
        id=row["id"],
        owner_id=row["owner_id"],
        kind=row["kind"],
        pending_id=row["pending_id"],
        recipient=row["recipient"],
        subject=row["subject"],
        body=row["body"],
        nonce=row["nonce"],
        attempts=int(row["attempts"]),
        deadline_at=utc(row["deadline_at"]),
    )


async def insert_notice(conn: AsyncConnection, values: dict[str, Any]) -> None:
    await conn.execute(insert(system_notices).values(status=QUEUED, attempts=0, **values))


def _due(now: datetime) -> Any:
    table = system_notices.c
    return or_(
        and_(table.status == QUEUED, table.next_attempt_at <= now),
        and_(table.status == SENDING, table.lease_until <= now),
    )


async def claim_due(
    conn: AsyncConnection,
    *,
    now: datetime,
    limit: int,
    lease_until: datetime,
    skip_locked: bool,
) -> list[NoticeRecord]:
    """Mark up to ``limit`` due notices ``sending`` under a lease and return them."""
    query = (
        select(system_notices)
        .where(_due(now))
        .order_by(system_notices.c.next_attempt_at, system_notices.c.id)
        .limit(limit)
    )
    if skip_locked:
        query = query.with_for_update(skip_locked=True)
    rows = (await conn.execute(query)).mappings().all()
    if not rows:
        return []
    await conn.execute(
        update(system_notices)
        .where(system_notices.c.id.in_([r["id"] for r in rows]))
        .values(status=SENDING, lease_until=lease_until)
    )
    return [_record(r) for r in rows]


async def finish(
    conn: AsyncConnection,
    notice_id: str,
    *,
    status: str,
    attempts: int,
    next_attempt_at: datetime | None,
    reply: str,
    now: datetime,
) -> None:
    """Record an attempt: ``sent``, ``failed``, or ``queued`` again for ``next_attempt_at``."""
    values: dict[str, Any] = {
        "status": status,
        "attempts": attempts,
        "lease_until": None,
        "last_reply": reply[:1000],
    }
    if next_attempt_at is not None:
        values["next_attempt_at"] = next_attempt_at
    if status == "sent":
        values["sent_at"] = now
    await conn.execute(
        update(system_notices).where(system_notices.c.id == notice_id).values(**values)
    )


async def next_due_at(conn: AsyncConnection) -> datetime | None:
    """When the earliest queued notice falls due, or a lease runs out."""
    table = system_notices.c
    queued = select(func.min(table.next_attempt_at)).where(table.status == QUEUED)
    leased = select(func.min(table.lease_until)).where(table.status == SENDING)
    found = [
        (await conn.execute(queued)).scalar_one_or_none(),
        (await conn.execute(leased)).scalar_one_or_none(),
    ]
    times = [utc(t) for t in found if t is not None]
    return min(times) if times else None


async def approval_hash(conn: AsyncConnection, pending_id: str) -> str | None:
    """The content hash the approval request for ``pending_id`` showed the owner."""
    query = select(system_notices.c.content_hash).where(
        and_(system_notices.c.pending_id == pending_id, system_notices.c.kind == "approval")
    )
    return (await conn.execute(query)).scalars().first()


async def approval_status(conn: AsyncConnection, pending_id: str) -> str | None:
    """Where the approval request for ``pending_id`` stands (queued, sending, sent, failed),
    or None when none was queued (the owner has no address or no SMTP configuration)."""
    query = (
        select(system_notices.c.status)
        .where(system_notices.c.pending_id == pending_id, system_notices.c.kind == "approval")
        .order_by(system_notices.c.created_at.desc())
    )
    return (await conn.execute(query)).scalars().first()


async def token_match(conn: AsyncConnection, token_hash: str) -> tuple[str, str] | None:
    """(pending id, stored token hash) of the item whose live token hashes to ``token_hash``.
    Resolving an item clears its token (repositories/guard.resolve), so only open items
    match."""
    query = select(pending_outbound.c.id, pending_outbound.c.token_hash).where(
        pending_outbound.c.token_hash == token_hash
    )
    row = (await conn.execute(query)).first()
    return (row.id, row.token_hash) if row is not None else None
