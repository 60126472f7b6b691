"""Approval by reply at the service level, on SQLite and PostgreSQL: the hold queues the
owner's request in its own transaction with the token's hash, a verified reply approves once,
and the system outbox is claimed and sent on both databases."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select

from agentpost.delivery.notice_sender import NoticeSender
from agentpost.domain.guard.approval_reply import reply_address
from agentpost.services import accounts, notices, pending, smtp_configs
from agentpost.services.accounts import Principal, PrincipalKind
from agentpost.services.approval_mail import ReplyMail, process_reply
from agentpost.services.context import AppContext
from agentpost.services.outbox import SendRequest, submit_message
from agentpost.storage.tables.guard import pending_outbound
from agentpost.storage.tables.notices import system_notices
from agentpost.testing.factories import admin_principal
from agentpost.testing.fake_smtp import SmtpSink

pytestmark = pytest.mark.anyio
OWNER = "boss@owner.example"


@pytest.fixture
async def sink() -> AsyncIterator[SmtpSink]:
    peer = await SmtpSink().start()
    yield peer
    await peer.close()


def _reply(body: str, sender: str = OWNER) -> ReplyMail:
    return ReplyMail(
        envelope_sender=sender, from_addresses=[sender], subject="Re: request", text=body
    )


async def test_hold_queues_the_request_and_a_verified_reply_approves_once(
    any_ctx: AppContext, sink: SmtpSink
) -> None:
    ctx = any_ctx
    record, _key = await accounts.create_owner(
        ctx, await admin_principal(ctx), name="boss", email=OWNER
    )
    owner = Principal(PrincipalKind.owner, record.id)
    fields = {
        "connection_name": "loopback",
        "host": "127.0.0.1",
        "port": sink.port,
        "security": "none",
        "from_email": "outbound@owner.example",
        "is_default": True,
    }
    await smtp_configs.create_config(ctx, owner, fields)
    agent, _ = await accounts.create_agent(ctx, owner, name="alice")
    request = SendRequest(to="carol@example.org", subject="Card", text="card 4242 4242 4242 4242")
    held = (await submit_message(ctx, agent, request)).held
    assert held is not None

    async with ctx.db.read() as conn:
        nonce = (await conn.execute(select(system_notices.c.nonce))).scalar_one()
        stored = (
            await conn.execute(
                select(pending_outbound.c.token_hash, pending_outbound.c.notified_at)
            )
        ).one()
    token = notices.approval_token(ctx, nonce)
    assert stored.token_hash == notices.token_hash(ctx, token) and token not in stored.token_hash
    assert stored.notified_at is not None

    sender = NoticeSender(ctx)
    try:
        assert await sender.send_due() == 1
    finally:
        await sender.transport.close()
    [got] = await sink.wait_for(1)
    assert got.sender == "outbound@owner.example" and got.recipients == [OWNER]
    assert token.encode() in got.data

    address = reply_address(token, ctx.settings.domain)
    outcome = await process_reply(ctx, address, _reply("APPROVE"))
    assert (outcome.result, outcome.pending_id) == ("approved", held.pending_id)
    again = await process_reply(ctx, address, _reply("APPROVE"))
    assert (again.result, again.reason) == ("refused", "unknown_token")
    view = await pending.get_pending(ctx, owner, held.pending_id)
    assert view.status == "approved" and view.record.resolved_by == "owner-mail"
