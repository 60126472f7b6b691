"""Helpers for the delivery tests: endpoints for the test peers, workers, and row lookups."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from agentpost.delivery.worker import RunningWorker, start_worker
from agentpost.domain.transport import Security, SmtpEndpoint
from agentpost.services.context import AppContext
from agentpost.services.delivery import Resolver
from agentpost.services.outbox import SendRequest, SendResult, submit_message
from agentpost.storage.records import AgentRecord
from agentpost.storage.tables import deliveries
from agentpost.storage.tables.core import delivery_attempts
from agentpost.testing.factories import make_agent


def endpoint(port: int, **changes: Any) -> SmtpEndpoint:
    values: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": port,
        "security": Security.NONE,
        "timeout": 5.0,
        "config_id": "test-config",
    }
    values.update(changes)
    return SmtpEndpoint(**values)


def fixed(target: SmtpEndpoint | None) -> Resolver:
    """A resolver that always answers ``target`` (None: no configuration at all)."""

    async def resolve(
        _ctx: AppContext, _conn: AsyncConnection, _config: str | None, _owner: str
    ) -> SmtpEndpoint | None:
        return target

    return resolve


@asynccontextmanager
async def worker(
    ctx: AppContext, target: SmtpEndpoint | None, **kw: Any
) -> AsyncIterator[RunningWorker]:
    running = start_worker(ctx, resolver=fixed(target), **kw)
    try:
        yield running
    finally:
        await running.close(grace=5)


async def rows(ctx: AppContext) -> list[dict[str, Any]]:
    async with ctx.db.read() as conn:
        result = await conn.execute(select(deliveries).order_by(deliveries.c.id))
        return [dict(r) for r in result.mappings()]


async def external_rows(ctx: AppContext) -> list[dict[str, Any]]:
    return [r for r in await rows(ctx) if r["kind"] == "external"]


async def attempts(ctx: AppContext) -> list[dict[str, Any]]:
    async with ctx.db.read() as conn:
        result = await conn.execute(
            select(delivery_attempts).order_by(delivery_attempts.c.delivery_id, "attempt")
        )
        return [dict(r) for r in result.mappings()]


async def agent(ctx: AppContext, name: str) -> AgentRecord:
    return (await make_agent(ctx, name))[0]


async def send(
    ctx: AppContext, sender: AgentRecord, to: str | list[str], subject: str = "Hello", **kw: Any
) -> SendResult:
    return await submit_message(ctx, sender, SendRequest(to=to, subject=subject, **kw))
