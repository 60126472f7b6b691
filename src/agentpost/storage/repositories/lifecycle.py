"""Deletion reports, archived mailboxes and the inactive-agent queries of account lifecycle."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, literal, select, update
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from agentpost.storage.records import AgentRecord, utc
from agentpost.storage.repositories.accounts import list_agents
from agentpost.storage.tables.core import agents, folders, message_blobs, messages
from agentpost.storage.tables.lifecycle import archived_messages, deletion_reports

TOP_CORRESPONDENTS = 10


@dataclass(frozen=True, slots=True)
class MailboxSummary:
    folder_counts: dict[str, int]
    top_correspondents: list[tuple[str, int]]
    first_date: datetime | None
    last_date: datetime | None

    @property
    def total(self) -> int:
        return sum(self.folder_counts.values())


@dataclass(frozen=True, slots=True)
class ReportRecord:
    id: str
    owner_id: str
    agent_id: str
    agent_name: str
    agent_email: str
    agent_role: str
    deleted_at: datetime
    deleted_by: str
    reason: str | None
    summary: MailboxSummary


@dataclass(frozen=True, slots=True)
class ArchivedRecord:
    id: int
    folder: str
    uid: int
    message_id: str
    subject: str
    from_addr: str
    to_addrs: list[dict[str, str]] = field(default_factory=list)
    date: datetime | None = None
    direction: str = "in"
    preview: str = ""


async def mailbox_summary(conn: AsyncConnection, agent: AgentRecord) -> MailboxSummary:
    """Counts per folder, the date range and the most frequent correspondents."""
    rows = await conn.execute(
        select(folders.c.name, func.count(messages.c.id))
        .select_from(folders.outerjoin(messages, messages.c.folder_id == folders.c.id))
        .where(folders.c.agent_id == agent.id)
        .group_by(folders.c.name)
    )
    counts = {str(name): int(n) for name, n in rows.all()}
    span = await conn.execute(
        select(func.min(messages.c.date), func.max(messages.c.date)).where(
            messages.c.agent_id == agent.id
        )
    )
    first, last = span.one()
    people: Counter[str] = Counter()
    result = await conn.execute(
        select(messages.c.direction, messages.c.from_addr, messages.c.to_addrs).where(
            messages.c.agent_id == agent.id
        )
    )
    for direction, sender, recipients in result.all():
        if direction == "out":
            people.update(str(r.get("address", "")).lower() for r in recipients or [])
        else:
            people[str(sender).lower()] += 1
    people.pop(agent.address.lower(), None)
    people.pop("", None)
    return MailboxSummary(
        folder_counts=counts,
        top_correspondents=people.most_common(TOP_CORRESPONDENTS),
        first_date=None if first is None else utc(first),
        last_date=None if last is None else utc(last),
    )


async def insert_report(conn: AsyncConnection, report: ReportRecord) -> None:
    summary = report.summary
    await conn.execute(
        insert(deletion_reports).values(
            id=report.id,
            owner_id=report.owner_id,
            agent_id=report.agent_id,
            agent_name=report.agent_name,
            agent_email=report.agent_email,
            agent_role=report.agent_role,
            deleted_at=report.deleted_at,
            deleted_by=report.deleted_by,
            reason=report.reason,
            total_emails=summary.total,
            folder_counts=summary.folder_counts,
            top_correspondents=[[a, n] for a, n in summary.top_correspondents],
            first_date=summary.first_date,
            last_date=summary.last_date,
        )
    )


async def archive_mailbox(conn: AsyncConnection, report_id: str, agent_id: str) -> None:
    """Copy every message of the agent, raw bytes included, under the report (in SQL)."""
    source = (
        select(
            literal(report_id),
            folders.c.name,
            messages.c.uid,
            messages.c.message_id,
            messages.c.subject,
            messages.c.from_addr,
            messages.c.to_addrs,
            messages.c.date,
            messages.c.direction,
            messages.c.preview,
            message_blobs.c.raw,
        )
        .select_from(
            messages.join(folders, folders.c.id == messages.c.folder_id).join(
                message_blobs, message_blobs.c.id == messages.c.blob_id
            )
        )
        .where(messages.c.agent_id == agent_id)
        .order_by(messages.c.id)
    )
    columns = ["report_id", "folder", "uid", "message_id", "subject", "from_addr", "to_addrs"]
    columns += ["date", "direction", "preview", "raw"]
    await conn.execute(insert(archived_messages).from_select(columns, source))


def _report(row: RowMapping) -> ReportRecord:
    return ReportRecord(
        id=row["id"],
        owner_id=row["owner_id"],
        agent_id=row["agent_id"],
        agent_name=row["agent_name"],
        agent_email=row["agent_email"],
        agent_role=row["agent_role"],
        deleted_at=utc(row["deleted_at"]),
        deleted_by=row["deleted_by"],
        reason=row["reason"],
        summary=MailboxSummary(
            folder_counts=dict(row["folder_counts"] or {}),
            top_correspondents=[(str(a), int(n)) for a, n in row["top_correspondents"] or []],
            first_date=None if row["first_date"] is None else utc(row["first_date"]),
            last_date=None if row["last_date"] is None else utc(row["last_date"]),
        ),
    )


async def list_reports(conn: AsyncConnection, owner_id: str | None) -> list[ReportRecord]:
    query = select(deletion_reports).order_by(
        deletion_reports.c.deleted_at.desc(), deletion_reports.c.id
    )
    if owner_id is not None:
        query = query.where(deletion_reports.c.owner_id == owner_id)
    return [_report(row) for row in (await conn.execute(query)).mappings()]


async def get_report(conn: AsyncConnection, report_id: str) -> ReportRecord | None:
    result = await conn.execute(select(deletion_reports).where(deletion_reports.c.id == report_id))
    row = result.mappings().first()
    return None if row is None else _report(row)


async def archived_of(conn: AsyncConnection, report_id: str) -> list[ArchivedRecord]:
    """The archived messages of a report, without their raw bytes."""
    result = await conn.execute(
        select(*(c for c in archived_messages.c if c.name not in ("raw", "report_id")))
        .where(archived_messages.c.report_id == report_id)
        .order_by(archived_messages.c.id)
    )
    items: list[ArchivedRecord] = []
    for row in result.mappings():
        values: dict[str, Any] = dict(row)
        values["date"] = utc(values["date"])
        values["to_addrs"] = list(values["to_addrs"] or [])
        items.append(ArchivedRecord(**values))
    return items


async def archived_raw(conn: AsyncConnection, report_id: str, archived_id: int) -> bytes | None:
    result = await conn.execute(
        select(archived_messages.c.raw).where(
            archived_messages.c.report_id == report_id, archived_messages.c.id == archived_id
        )
    )
    raw = result.scalar_one_or_none()
    return None if raw is None else bytes(raw)


async def inactive_agents(
    conn: AsyncConnection, owner_id: str | None, before: datetime
) -> list[AgentRecord]:
    """Non-persistent agents whose last activity (or creation) is older than ``before``,
    the longest idle first."""
    candidates = await list_agents(conn, owner_id)
    idle = [
        a for a in candidates if not a.persistent and (a.last_activity_at or a.created_at) < before
    ]
    return sorted(idle, key=lambda a: a.last_activity_at or a.created_at)


async def set_persistent(conn: AsyncConnection, agent_id: str, persistent: bool) -> bool:
    result = await conn.execute(
        update(agents).where(agents.c.id == agent_id).values(persistent=persistent)
    )
    return bool(result.rowcount)
