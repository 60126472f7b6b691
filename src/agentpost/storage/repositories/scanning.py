"""Scan results, sender reports and the reply log (storage/tables/scanning.py)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from agentpost.storage import direct
from agentpost.storage.tables.core import owners
from agentpost.storage.tables.scanning import message_scans, reply_log, sender_reports


@dataclass(frozen=True, slots=True)
class ScanRow:
    message_row_id: int
    score: int
    verdict: str
    internal: bool
    report: dict[str, Any]


async def insert_scans(conn: AsyncConnection, rows: Sequence[dict[str, Any]]) -> None:
    if rows:
        await conn.execute(insert(message_scans), list(rows))


async def scan_of(conn: AsyncConnection, message_row_id: int) -> ScanRow | None:
    row = (
        await conn.execute(
            select(message_scans).where(message_scans.c.message_row_id == message_row_id)
        )
    ).first()
    if row is None:
        return None
    return ScanRow(row.message_row_id, row.score, row.verdict, bool(row.internal), row.report)


async def scores_of(
    conn: AsyncConnection, message_row_ids: Sequence[int]
) -> dict[int, tuple[int, str]]:
    """Row id → (score, verdict) for the listed copies that have a scan."""
    if not message_row_ids:
        return {}
    result = await conn.execute(
        select(
            message_scans.c.message_row_id, message_scans.c.score, message_scans.c.verdict
        ).where(message_scans.c.message_row_id.in_(list(message_row_ids)))
    )
    return {int(r[0]): (int(r[1]), str(r[2])) for r in result}


async def set_verdict(conn: AsyncConnection, message_row_id: int, verdict: str) -> None:
    await conn.execute(
        update(message_scans)
        .where(message_scans.c.message_row_id == message_row_id)
        .values(verdict=verdict)
    )


async def sender_verdicts(conn: AsyncConnection, agent_id: str) -> dict[str, str]:
    """Every sender the agent reported: address → ``spam`` or ``ham``."""
    result = await conn.execute(
        select(sender_reports.c.sender, sender_reports.c.verdict).where(
            sender_reports.c.agent_id == agent_id
        )
    )
    return {str(r[0]): str(r[1]) for r in result}


async def save_sender_verdict(
    conn: AsyncConnection, agent_id: str, sender: str, verdict: str, now: datetime
) -> None:
    # Delete-then-insert works the same on SQLite and PostgreSQL inside the transaction.
    await conn.execute(
        delete(sender_reports).where(
            and_(sender_reports.c.agent_id == agent_id, sender_reports.c.sender == sender)
        )
    )
    await conn.execute(
        insert(sender_reports).values(
            agent_id=agent_id, sender=sender, verdict=verdict, updated_at=now
        )
    )


@dataclass(frozen=True, slots=True)
class ReplyLogEntry:
    """One send as the reply budget counts it: each counterparty in one thread."""

    agent_id: str
    counterparties: Sequence[str]
    thread_key: str
    is_reply: bool
    at: datetime


async def log_sends(conn: AsyncConnection, entries: Sequence[ReplyLogEntry]) -> None:
    """The rows of several sends, in one statement."""
    rows = [
        {
            "agent_id": entry.agent_id,
            "counterparty": party,
            "thread_key": entry.thread_key,
            "is_reply": entry.is_reply,
            "sent_at": entry.at,
        }
        for entry in entries
        for party in entry.counterparties
    ]
    await direct.insert(conn, reply_log, rows)


async def prune_reply_log(conn: AsyncConnection, agent_id: str, before: datetime) -> None:
    """Delete the agent's rows older than ``before`` (only its own rows, through the
    ``agent_id`` index), except each counterparty's newest row: the budget only looks inside
    its window, but ``has_written_to`` (first contact, services/trust.py) asks "ever"."""
    newest = (
        select(func.max(reply_log.c.id))
        .where(reply_log.c.agent_id == agent_id)
        .group_by(reply_log.c.counterparty)
    )
    await conn.execute(
        delete(reply_log).where(
            reply_log.c.agent_id == agent_id,
            reply_log.c.sent_at < before,
            reply_log.c.id.not_in(newest),
        )
    )


async def replies_since(
    conn: AsyncConnection, agent_id: str, counterparty: str, thread_key: str, since: datetime
) -> int:
    result = await conn.execute(
        select(func.count()).where(
            reply_log.c.agent_id == agent_id,
            reply_log.c.counterparty == counterparty,
            reply_log.c.thread_key == thread_key,
            reply_log.c.is_reply.is_(True),
            reply_log.c.sent_at >= since,
        )
    )
    return int(result.scalar_one())


async def has_written_to(conn: AsyncConnection, agent_id: str, counterparty: str) -> bool:
    result = await conn.execute(
        select(reply_log.c.id)
        .where(reply_log.c.agent_id == agent_id, reply_log.c.counterparty == counterparty)
        .limit(1)
    )
    return result.first() is not None


async def owner_email(conn: AsyncConnection, owner_id: str) -> str | None:
    result = await conn.execute(select(owners.c.email).where(owners.c.id == owner_id))
    value = result.scalar_one_or_none()
    return str(value) if value else None
