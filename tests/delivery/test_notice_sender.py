"""The notice sender: the system outbox goes out through the owner's default SMTP
configuration, temporary failures are retried, permanent ones fail, and both are audited."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select, update

from agentpost.delivery.notice_sender import NoticeSender
from agentpost.runtime import StopSignal, start_roles
from agentpost.services import accounts, notices, outbox, smtp_configs
from agentpost.services.accounts import Principal, PrincipalKind, now_utc
from agentpost.services.context import AppContext
from agentpost.storage.records import utc
from agentpost.storage.tables.audit import audit_log
from agentpost.storage.tables.notices import system_notices
from agentpost.testing.factories import admin_principal
from agentpost.testing.fake_smtp import FakeRelay, Script

pytestmark = pytest.mark.anyio


async def _owner_with_config(ctx: AppContext, port: int) -> str:
    owner, _key = await accounts.create_owner(
        ctx, await admin_principal(ctx), name="boss", email="boss@owner.example"
    )
    fields = {
        "connection_name": "loopback",
        "host": "127.0.0.1",
        "port": port,
        "security": "none",
        "from_email": "boss@owner.example",
        "is_default": True,
    }
    await smtp_configs.create_config(ctx, Principal(PrincipalKind.owner, owner.id), fields)
    return owner.id


async def _queue(ctx: AppContext, owner_id: str) -> str:
    draft = notices.NoticeDraft("decision", "boss@owner.example", "[AgentPost] Done", "Body\n")
    async with ctx.db.write() as conn:
        return await notices.queue_notice(ctx, conn, owner_id, draft)


async def _row(ctx: AppContext, notice_id: str) -> tuple[str, int]:
    async with ctx.db.read() as conn:
        query = select(system_notices.c.status, system_notices.c.attempts).where(
            system_notices.c.id == notice_id
        )
        row = (await conn.execute(query)).one()
    return row.status, row.attempts


async def _next_attempt(ctx: AppContext, notice_id: str) -> datetime:
    async with ctx.db.read() as conn:
        query = select(system_notices.c.next_attempt_at).where(system_notices.c.id == notice_id)
        return utc((await conn.execute(query)).scalar_one())


async def _make_due(ctx: AppContext) -> None:
    async with ctx.db.write() as conn:
        await conn.execute(update(system_notices).values(next_attempt_at=now_utc()))


async def _audited(ctx: AppContext) -> list[tuple[str, dict[str, str]]]:
    async with ctx.db.read() as conn:
        rows = await conn.execute(
            select(audit_log.c.operation, audit_log.c.detail).where(
                audit_log.c.operation.like("notice.%")
            )
        )
        return [(r.operation, json.loads(r.detail)) for r in rows]


@pytest.fixture
async def sender(ctx: AppContext) -> AsyncIterator[NoticeSender]:
    worker = NoticeSender(ctx)
    yield worker
    await worker.transport.close()


@pytest.fixture
async def patient_sender(ctx: AppContext) -> AsyncIterator[NoticeSender]:
    """A sender that backs off as in production (30 to 60 s after a first failure), not in
    the milliseconds of the delivery tests' settings: with those, a notice may fall due
    again before the test looks twice whenever the machine is busy."""
    ctx.settings = ctx.settings.model_copy(
        update={"delivery_retry_base_seconds": 60.0, "delivery_retry_max_seconds": 3600.0}
    )
    worker = NoticeSender(ctx)
    yield worker
    await worker.transport.close()


async def test_a_temporary_failure_is_retried_then_sent(
    ctx: AppContext, relay: FakeRelay, patient_sender: NoticeSender
) -> None:
    sender = patient_sender
    relay.script = Script().add("DOT", "451 4.3.0 try later")
    owner_id = await _owner_with_config(ctx, relay.port)
    notice_id = await _queue(ctx, owner_id)
    before = now_utc()
    assert await sender.send_due() == 1
    assert await _row(ctx, notice_id) == ("queued", 1)
    assert await _next_attempt(ctx, notice_id) >= before + timedelta(seconds=30)
    assert await sender.send_due() == 0  # not due again before its backoff
    await _make_due(ctx)
    assert await sender.send_due() == 1
    assert await _row(ctx, notice_id) == ("sent", 2)
    [got] = relay.messages
    assert got.sender == "boss@owner.example" and got.recipients == ["boss@owner.example"]
    assert b"Auto-Submitted: auto-generated" in got.data
    [(operation, detail)] = await _audited(ctx)
    assert operation == "notice.sent" and detail["noticeId"] == notice_id


async def test_a_permanent_failure_fails_and_is_audited(
    ctx: AppContext, relay: FakeRelay, sender: NoticeSender
) -> None:
    relay.script = Script().add("RCPT", "550 5.1.1 no such user")
    owner_id = await _owner_with_config(ctx, relay.port)
    notice_id = await _queue(ctx, owner_id)
    await sender.send_due()
    assert await _row(ctx, notice_id) == ("failed", 1)
    [(operation, detail)] = await _audited(ctx)
    assert operation == "notice.failed" and "550" in detail["reply"]


async def test_without_a_configuration_the_notice_waits(
    ctx: AppContext, relay: FakeRelay, sender: NoticeSender
) -> None:
    owner_id = await _owner_with_config(ctx, relay.port)
    notice_id = await _queue(ctx, owner_id)
    admin = await admin_principal(ctx)
    for config in await smtp_configs.list_configs(ctx, admin):
        await smtp_configs.delete_config(ctx, admin, config.id)
    await sender.send_due()
    assert await _row(ctx, notice_id) == ("queued", 1)
    assert relay.messages == [] and await _audited(ctx) == []


async def test_the_worker_role_runs_the_sender_and_a_queued_notice_wakes_it(
    ctx: AppContext, relay: FakeRelay
) -> None:
    # Only the wake-up can be in time: the poll is ten minutes.
    ctx.settings = ctx.settings.model_copy(update={"roles": "worker", "notice_poll_seconds": 600})
    owner_id = await _owner_with_config(ctx, relay.port)
    async with contextlib.AsyncExitStack() as stack:
        await start_roles(ctx, stack, StopSignal())
        notice_id = await _queue(ctx, owner_id)
        ctx.events.publish(notices.wake_event())
        [got] = await relay.wait_for(1)
    assert got.recipients == ["boss@owner.example"]
    assert (await _row(ctx, notice_id))[0] == "sent"


async def test_a_held_send_wakes_the_sender_at_once(ctx: AppContext, relay: FakeRelay) -> None:
    # The poll is ten minutes: the request reaches the owner only if the hold wakes the sender.
    ctx.settings = ctx.settings.model_copy(update={"roles": "worker", "notice_poll_seconds": 600})
    owner_id = await _owner_with_config(ctx, relay.port)
    agent, _key = await accounts.create_agent(
        ctx, Principal(PrincipalKind.owner, owner_id), name="scout"
    )
    async with contextlib.AsyncExitStack() as stack:
        await start_roles(ctx, stack, StopSignal())
        await asyncio.sleep(0.5)  # the sender's first pass is over: it now waits for a wake-up
        result = await outbox.submit_message(
            ctx,
            agent,
            outbox.SendRequest(
                to="stranger@elsewhere.example",
                subject="keys",
                text="aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            ),
        )
        assert result.status == "held"
        [request] = await relay.wait_for(1)
    assert request.recipients == ["boss@owner.example"]
    assert b"wJalrXUtnFEMI" not in request.data
