"""Helpers for the service tests: agents, sends and direct looks at what the database holds."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select, text

from agentpost.services import accounts
from agentpost.services.accounts import Principal, PrincipalKind
from agentpost.services.context import AppContext
from agentpost.services.outbox import SendRequest, SendResult, submit_message
from agentpost.storage.records import AgentRecord
from agentpost.storage.repositories import accounts as account_repo
from agentpost.storage.tables import deliveries, folders, message_blobs, messages


async def admin(ctx: AppContext) -> Principal:
    """The master-key principal acting for the default owner."""
    async with ctx.db.read() as conn:
        owner = await account_repo.default_owner(conn)
    assert owner is not None
    return Principal(PrincipalKind.admin, owner.id)


async def agent(ctx: AppContext, name: str) -> AgentRecord:
    """A new agent created by the admin."""
    record, _key = await accounts.create_agent(ctx, await admin(ctx), name=name)
    return record


async def fresh(ctx: AppContext, record: AgentRecord) -> AgentRecord:
    """The agent as stored now (used_bytes and metadata change under the record)."""
    async with ctx.db.read() as conn:
        current = await account_repo.agent_by_id(conn, record.id)
    assert current is not None
    return current


async def send(
    ctx: AppContext, sender: AgentRecord, to: str | list[str], subject: str = "Hello", **kw: Any
) -> SendResult:
    return await submit_message(ctx, sender, SendRequest(to=to, subject=subject, **kw))


async def table_counts(ctx: AppContext) -> dict[str, int]:
    """Rows in every table a send or delete touches, including the SQLite FTS index."""
    counts: dict[str, int] = {}
    async with ctx.db.read() as conn:
        for table in (messages, message_blobs, deliveries):
            result = await conn.execute(select(func.count()).select_from(table))
            counts[table.name] = int(result.scalar_one())
        if ctx.db.is_sqlite:
            result = await conn.execute(text("SELECT count(*) FROM messages_fts"))
            counts["messages_fts"] = int(result.scalar_one())
    return counts


async def folder_rows(ctx: AppContext, agent_id: str) -> int:
    async with ctx.db.read() as conn:
        result = await conn.execute(
            select(func.count()).select_from(folders).where(folders.c.agent_id == agent_id)
        )
        return int(result.scalar_one())
