"""Guard policies and held outbound mail (storage/tables/guard.py). Never commits."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import RowMapping, and_, delete, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from agentpost.storage.records import utc
from agentpost.storage.tables.core import owners
from agentpost.storage.tables.guard import guard_policies, pending_outbound

PENDING = "pending"


@dataclass(frozen=True, slots=True)
class PendingRecord:
    """A held message; ``raw`` is only loaded when asked for (approval, owner view)."""

    id: str
    owner_id: str
    agent_id: str
    status: str
    envelope: list[str]
    message_id: str
    subject: str
    findings: list[dict[str, Any]]
    content_hash: str
    created_at: datetime
    expires_at: datetime
    resolved_at: datetime | None
    resolved_by: str | None
    notified_at: datetime | None
    reminded_at: datetime | None
    error: str | None
    raw: bytes | None = None


_SUMMARY_COLUMNS = [c for c in pending_outbound.c if c.name not in ("raw", "token_hash")]


def _opt(value: datetime | None) -> datetime | None:
    return utc(value) if value is not None else None


def _record(row: RowMapping, raw: bytes | None = None) -> PendingRecord:
    return PendingRecord(
        id=row["id"],
        owner_id=row["owner_id"],
        agent_id=row["agent_id"],
        status=row["status"],
        envelope=list(row["envelope"]),
        message_id=row["message_id"],
        subject=row["subject"],
        findings=list(row["findings"]),
        content_hash=row["content_hash"],
        created_at=utc(row["created_at"]),
        expires_at=utc(row["expires_at"]),
        resolved_at=_opt(row["resolved_at"]),
        resolved_by=row["resolved_by"],
        notified_at=_opt(row["notified_at"]),
        reminded_at=_opt(row["reminded_at"]),
        error=row["error"],
        raw=raw,
    )


async def owner_email(conn: AsyncConnection, owner_id: str) -> str | None:
    """The owner's notification address (owners.email), if they gave one."""
    row = (await conn.execute(select(owners.c.email).where(owners.c.id == owner_id))).first()
    return row.email if row is not None else None


# -- policies ------------------------------------------------------------------------------


async def get_policy(conn: AsyncConnection, agent_id: str) -> dict[str, Any] | None:
    row = (
        await conn.execute(
            select(guard_policies.c.policy).where(guard_policies.c.agent_id == agent_id)
        )
    ).first()
    return dict(row.policy) if row is not None else None


async def put_policy(
    conn: AsyncConnection, agent_id: str, policy: dict[str, Any], now: datetime
) -> None:
    await conn.execute(delete(guard_policies).where(guard_policies.c.agent_id == agent_id))
    await conn.execute(
        insert(guard_policies).values(agent_id=agent_id, policy=policy, updated_at=now)
    )


# -- pending -------------------------------------------------------------------------------


async def insert_pending(conn: AsyncConnection, values: dict[str, Any]) -> None:
    await conn.execute(insert(pending_outbound).values(status=PENDING, **values))


async def get_pending(
    conn: AsyncConnection, pending_id: str, *, with_raw: bool = False, lock: bool = False
) -> PendingRecord | None:
    columns = list(pending_outbound.c) if with_raw else _SUMMARY_COLUMNS
    query = select(*columns).where(pending_outbound.c.id == pending_id)
    if lock:
        query = query.with_for_update()  # PostgreSQL: approvers of one item queue up here
    row = (await conn.execute(query)).mappings().first()
    if row is None:
        return None
    return _record(row, row["raw"] if with_raw else None)


async def pending_by_token(conn: AsyncConnection, token_hash: str) -> PendingRecord | None:
    query = select(*_SUMMARY_COLUMNS).where(pending_outbound.c.token_hash == token_hash)
    row = (await conn.execute(query)).mappings().first()
    return _record(row) if row is not None else None


async def list_pending(
    conn: AsyncConnection,
    *,
    owner_id: str | None,
    agent_id: str | None,
    status: str | None,
    limit: int,
) -> list[PendingRecord]:
    query = select(*_SUMMARY_COLUMNS)
    if owner_id is not None:
        query = query.where(pending_outbound.c.owner_id == owner_id)
    if agent_id is not None:
        query = query.where(pending_outbound.c.agent_id == agent_id)
    if status is not None:
        query = query.where(pending_outbound.c.status == status)
    query = query.order_by(pending_outbound.c.created_at.desc()).limit(limit)
    return [_record(row) for row in (await conn.execute(query)).mappings()]


async def resolve(
    conn: AsyncConnection,
    pending_id: str,
    *,
    status: str,
    by: str,
    now: datetime,
    error: str | None = None,
) -> bool:
    """Move a still-pending row to ``status``; False when it was no longer pending (so a
    second approval of the same item, racing or late, changes nothing)."""
    result = await conn.execute(
        update(pending_outbound)
        .where(and_(pending_outbound.c.id == pending_id, pending_outbound.c.status == PENDING))
        .values(status=status, resolved_by=by, resolved_at=now, error=error, token_hash=None)
    )
    return result.rowcount == 1


async def mark_notified(
    conn: AsyncConnection, pending_id: str, token_hash: str, now: datetime
) -> None:
    await conn.execute(
        update(pending_outbound)
        .where(pending_outbound.c.id == pending_id)
        .values(token_hash=token_hash, notified_at=now)
    )


async def mark_reminded(conn: AsyncConnection, pending_id: str, at: datetime) -> None:
    await conn.execute(
        update(pending_outbound).where(pending_outbound.c.id == pending_id).values(reminded_at=at)
    )


async def list_remindable(
    conn: AsyncConnection,
    *,
    now: datetime,
    held_before: datetime,
    agent_id: str | None = None,
    limit: int,
) -> list[PendingRecord]:
    """Open items held at or before ``held_before`` (old enough for a first reminder) that
    have not expired, oldest first; which of them has a reminder due is the caller's sum."""
    table = pending_outbound.c
    query = select(*_SUMMARY_COLUMNS).where(
        and_(table.status == PENDING, table.created_at <= held_before, table.expires_at > now)
    )
    if agent_id is not None:
        query = query.where(table.agent_id == agent_id)
    query = query.order_by(table.created_at).limit(limit)
    return [_record(row) for row in (await conn.execute(query)).mappings()]


async def claim_reminder(conn: AsyncConnection, pending_id: str, due_at: datetime) -> bool:
    """Record that the reminder due at ``due_at`` was handed out; False when someone else
    already did (or the item was resolved). The condition is re-checked by the UPDATE itself,
    so two processes racing for the same reminder cannot both win (PostgreSQL re-evaluates it
    after the first commits; SQLite writes are serialised)."""
    table = pending_outbound.c
    result = await conn.execute(
        update(pending_outbound)
        .where(
            and_(
                table.id == pending_id,
                table.status == PENDING,
                or_(table.reminded_at.is_(None), table.reminded_at < due_at),
            )
        )
        .values(reminded_at=due_at)
    )
    return result.rowcount == 1


async def release_reminder(
    conn: AsyncConnection, pending_id: str, due_at: datetime, previous: datetime | None
) -> bool:
    """Undo ``claim_reminder(pending_id, due_at)``: ``reminded_at`` goes back to ``previous``
    so the reminder is due again. False when the claim is no longer ours to undo: a later
    reminder was claimed since (it supersedes this one) or the item was resolved."""
    table = pending_outbound.c
    result = await conn.execute(
        update(pending_outbound)
        .where(and_(table.id == pending_id, table.status == PENDING, table.reminded_at == due_at))
        .values(reminded_at=previous)
    )
    return result.rowcount == 1
