"""Tags, message tags and delivery rules of one agent. Every query is scoped by agent id."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, insert, select
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from agentpost.storage.tables import folders, messages
from agentpost.storage.tables.workflow import message_tags, rules, tags


@dataclass(frozen=True, slots=True)
class TagRecord:
    id: str
    agent_id: str
    name: str
    color: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class TaggedMessage:
    uid: int
    folder: str
    subject: str
    from_addr: str
    date: datetime


@dataclass(frozen=True, slots=True)
class RuleRecord:
    id: str
    agent_id: str
    name: str
    priority: int
    enabled: bool
    conditions: dict[str, Any]
    actions: dict[str, Any]
    created_at: datetime


def _tag(row: RowMapping) -> TagRecord:
    return TagRecord(row["id"], row["agent_id"], row["name"], row["color"], row["created_at"])


def _rule(row: RowMapping) -> RuleRecord:
    return RuleRecord(
        id=row["id"],
        agent_id=row["agent_id"],
        name=row["name"],
        priority=int(row["priority"]),
        enabled=bool(row["enabled"]),
        conditions=dict(row["conditions"]),
        actions=dict(row["actions"]),
        created_at=row["created_at"],
    )


# -- tags -------------------------------------------------------------------------------------


async def insert_tag(conn: AsyncConnection, record: TagRecord) -> None:
    await conn.execute(
        insert(tags).values(
            id=record.id,
            agent_id=record.agent_id,
            name=record.name,
            name_key=record.name.lower(),
            color=record.color,
            created_at=record.created_at,
        )
    )


async def list_tags(conn: AsyncConnection, agent_id: str) -> list[TagRecord]:
    result = await conn.execute(
        select(tags).where(tags.c.agent_id == agent_id).order_by(tags.c.name_key)
    )
    return [_tag(row) for row in result.mappings()]


async def count_tags(conn: AsyncConnection, agent_id: str) -> int:
    result = await conn.execute(
        select(func.count()).select_from(tags).where(tags.c.agent_id == agent_id)
    )
    return int(result.scalar_one())


async def tag_by_id(conn: AsyncConnection, agent_id: str, tag_id: str) -> TagRecord | None:
    result = await conn.execute(
        select(tags).where(tags.c.agent_id == agent_id, tags.c.id == tag_id)
    )
    row = result.mappings().first()
    return _tag(row) if row else None


async def tags_by_names(
    conn: AsyncConnection, agent_id: str, names: Sequence[str]
) -> list[TagRecord]:
    keys = [name.lower() for name in names]
    if not keys:
        return []
    result = await conn.execute(
        select(tags).where(tags.c.agent_id == agent_id, tags.c.name_key.in_(keys))
    )
    return [_tag(row) for row in result.mappings()]


async def delete_tag(conn: AsyncConnection, agent_id: str, tag_id: str) -> bool:
    result = await conn.execute(
        delete(tags).where(tags.c.agent_id == agent_id, tags.c.id == tag_id)
    )
    return result.rowcount > 0


async def link(conn: AsyncConnection, tag_id: str, message_row_id: int, now: datetime) -> None:
    """Tag a message; tagging it again changes nothing."""
    existing = await conn.execute(
        select(message_tags.c.tag_id).where(
            message_tags.c.tag_id == tag_id, message_tags.c.message_row_id == message_row_id
        )
    )
    if existing.first() is None:
        await conn.execute(
            insert(message_tags).values(
                tag_id=tag_id, message_row_id=message_row_id, created_at=now
            )
        )


async def unlink(conn: AsyncConnection, tag_id: str, message_row_id: int) -> bool:
    result = await conn.execute(
        delete(message_tags).where(
            message_tags.c.tag_id == tag_id, message_tags.c.message_row_id == message_row_id
        )
    )
    return result.rowcount > 0


async def tagged_messages(
    conn: AsyncConnection, tag_id: str, *, limit: int, offset: int
) -> tuple[list[TaggedMessage], int]:
    """Messages carrying a tag, most recently tagged first, with where they are now."""
    joined = message_tags.join(messages, messages.c.id == message_tags.c.message_row_id).join(
        folders, folders.c.id == messages.c.folder_id
    )
    result = await conn.execute(
        select(
            messages.c.uid,
            folders.c.name,
            messages.c.subject,
            messages.c.from_addr,
            messages.c.date,
        )
        .select_from(joined)
        .where(message_tags.c.tag_id == tag_id)
        .order_by(message_tags.c.created_at.desc(), messages.c.id.desc())
        .limit(limit)
        .offset(offset)
    )
    found = [TaggedMessage(int(r[0]), r[1], r[2], r[3], r[4]) for r in result]
    total = await conn.execute(
        select(func.count()).select_from(message_tags).where(message_tags.c.tag_id == tag_id)
    )
    return found, int(total.scalar_one())


async def tags_of_message(conn: AsyncConnection, message_row_id: int) -> list[TagRecord]:
    result = await conn.execute(
        select(tags)
        .join(message_tags, message_tags.c.tag_id == tags.c.id)
        .where(message_tags.c.message_row_id == message_row_id)
        .order_by(tags.c.name_key)
    )
    return [_tag(row) for row in result.mappings()]


# -- rules ------------------------------------------------------------------------------------


async def insert_rule(conn: AsyncConnection, record: RuleRecord) -> None:
    await conn.execute(
        insert(rules).values(
            id=record.id,
            agent_id=record.agent_id,
            name=record.name,
            name_key=record.name.lower(),
            priority=record.priority,
            enabled=record.enabled,
            conditions=record.conditions,
            actions=record.actions,
            created_at=record.created_at,
        )
    )


async def list_rules(
    conn: AsyncConnection, agent_id: str, *, enabled_only: bool = False
) -> list[RuleRecord]:
    """Highest priority first; equal priorities in creation order (oldest first)."""
    query = select(rules).where(rules.c.agent_id == agent_id)
    if enabled_only:
        query = query.where(rules.c.enabled.is_(True))
    result = await conn.execute(
        query.order_by(rules.c.priority.desc(), rules.c.created_at, rules.c.id)
    )
    return [_rule(row) for row in result.mappings()]


async def count_rules(conn: AsyncConnection, agent_id: str) -> int:
    result = await conn.execute(
        select(func.count()).select_from(rules).where(rules.c.agent_id == agent_id)
    )
    return int(result.scalar_one())


async def rule_by_name(conn: AsyncConnection, agent_id: str, name: str) -> RuleRecord | None:
    result = await conn.execute(
        select(rules).where(rules.c.agent_id == agent_id, rules.c.name_key == name.lower())
    )
    row = result.mappings().first()
    return _rule(row) if row else None


async def delete_rule(conn: AsyncConnection, agent_id: str, rule_id: str) -> bool:
    result = await conn.execute(
        delete(rules).where(rules.c.agent_id == agent_id, rules.c.id == rule_id)
    )
    return result.rowcount > 0
