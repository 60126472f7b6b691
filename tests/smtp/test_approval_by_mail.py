"""Approval of held mail by the owner's reply, end to end over real SMTP.

The owner's approval request goes out through their SMTP configuration to a loopback SMTP
sink (the system outbox, sent by the notice sender); replies come in through the real
listener to ``approvals+TOKEN@localhost``. What is checked: the request reaches the owner
without the caught secret, a reply from the owner approves or rejects exactly once, every
reply that is not provably the owner's is refused and audited, and neither the request nor
its token ever reaches the agent's mailbox.
"""

from __future__ import annotations

import email
import json
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from email.message import EmailMessage
from email.policy import default

import pytest
from sqlalchemy import func, select, update

from agentpost.delivery.notice_sender import NoticeSender
from agentpost.errors import InvalidInput
from agentpost.services import accounts, mailbox, pending, smtp_configs
from agentpost.services.accounts import Principal, PrincipalKind
from agentpost.services.context import AppContext
from agentpost.services.outbox import SendRequest, submit_message
from agentpost.smtp import SmtpServer
from agentpost.storage.records import AgentRecord
from agentpost.storage.tables import message_blobs
from agentpost.storage.tables.audit import audit_log
from agentpost.storage.tables.guard import pending_outbound
from agentpost.storage.tables.notices import system_notices
from agentpost.testing.factories import admin_principal
from agentpost.testing.fake_smtp import SmtpSink

from .conftest import Listen
from .support import message, send

pytestmark = pytest.mark.anyio

OWNER = "Boss@Owner.Example"
CARD = "4242 4242 4242 4242"
SECRET_TEXT = f"Hi Carol,\nmy card is {CARD} (exp 12/29).\nThanks"
REPLY_TO = re.compile(r"approvals\+([0-9a-f]{40})@localhost")


@dataclass
class Setup:
    ctx: AppContext
    server: SmtpServer
    sink: SmtpSink
    sender: NoticeSender
    agent: AgentRecord
    owner: Principal


@pytest.fixture
async def sink() -> AsyncIterator[SmtpSink]:
    peer = await SmtpSink().start()
    yield peer
    await peer.close()


async def _owner(ctx: AppContext, email_address: str | None, sink: SmtpSink | None) -> Principal:
    record, _key = await accounts.create_owner(
        ctx, await admin_principal(ctx), name="boss", email=email_address
    )
    owner = Principal(PrincipalKind.owner, record.id)
    if sink is not None:
        fields = {
            "connection_name": "loopback",
            "host": "127.0.0.1",
            "port": sink.port,
            "security": "none",
            "from_email": "boss-outbound@owner.example",
            "is_default": True,
        }
        await smtp_configs.create_config(ctx, owner, fields)
    return owner


@pytest.fixture
async def setup(ctx: AppContext, listen: Listen, sink: SmtpSink) -> AsyncIterator[Setup]:
    owner = await _owner(ctx, OWNER, sink)
    agent, _key = await accounts.create_agent(ctx, owner, name="alice")
    sender = NoticeSender(ctx)
    yield Setup(ctx, await listen(), sink, sender, agent, owner)
    await sender.transport.close()


async def _hold(s: Setup, text: str = SECRET_TEXT) -> str:
    result = await submit_message(
        s.ctx, s.agent, SendRequest(to="carol@example.org", subject="Card details", text=text)
    )
    assert result.held is not None
    return result.held.pending_id


async def _notices(s: Setup, count: int) -> list[EmailMessage]:
    """Send what the system outbox holds; the first ``count`` notices the owner received."""
    await s.sender.send_due()
    got = await s.sink.wait_for(count)
    return [email.message_from_bytes(m.data, policy=default) for m in got[:count]]


def _token(notice: EmailMessage) -> str:
    found = REPLY_TO.search(str(notice["Reply-To"]))
    assert found is not None, notice["Reply-To"]
    return found.group(1)


def _reply(
    token: str,
    body: str,
    *,
    sender: str = OWNER,
    subject: str = "Re: [AgentPost] Approval needed",
    headers: tuple[str, ...] = (),
) -> bytes:
    lines = [
        f"From: Boss <{sender}>",
        f"To: approvals+{token}@localhost",
        f"Subject: {subject}",
        *headers,
    ]
    return ("\r\n".join(lines) + "\r\n\r\n" + body.replace("\n", "\r\n")).encode()


async def _answer(s: Setup, token: str, raw: bytes, envelope: str = OWNER) -> int:
    replies = await send(s.server.port, envelope, [f"approvals+{token}@localhost"], raw)
    assert [code for code, _ in replies] == [250, 250, 250], replies
    return replies[-1][0]


async def _status(s: Setup, pending_id: str) -> str:
    return (await pending.get_pending(s.ctx, s.owner, pending_id)).status


async def _refusals(ctx: AppContext) -> list[dict[str, str]]:
    async with ctx.db.read() as conn:
        rows = await conn.execute(
            select(audit_log.c.detail).where(audit_log.c.operation == "pending.reply_refused")
        )
        return [json.loads(r.detail) for r in rows]


async def _held_detail(ctx: AppContext) -> dict[str, str]:
    async with ctx.db.read() as conn:
        row = (
            await conn.execute(
                select(audit_log.c.detail).where(audit_log.c.operation == "send.held")
            )
        ).one()
    return dict(json.loads(row.detail))


async def test_owner_is_asked_without_the_secret_and_approve_releases_once(
    setup: Setup,
) -> None:
    pending_id = await _hold(setup)
    assert (await pending.get_pending(setup.ctx, setup.owner, pending_id)).owner_notice == "queued"
    [notice] = await _notices(setup, 1)
    assert (await pending.get_pending(setup.ctx, setup.owner, pending_id)).owner_notice == "sent"
    assert notice["To"] == OWNER
    assert "boss-outbound@owner.example" in str(notice["From"])
    text = notice.get_content()
    assert pending_id in text and "alice@localhost" in text and "carol@example.org" in text
    assert "APPROVE" in text and f"agentpost pending approve {pending_id}" in text
    assert "ob_credit_card" in text
    raw = setup.sink.messages[0].data
    for leaked in (CARD.encode(), CARD.replace(" ", "").encode(), b"4242"):
        assert leaked not in raw
    assert (await _held_detail(setup.ctx))["ownerNotice"] == "queued"

    token = _token(notice)
    await _answer(setup, token, _reply(token, "approve\n\nOn Monday AgentPost wrote:\n> x"))
    assert await _status(setup, pending_id) == "approved"
    view = await pending.get_pending(setup.ctx, setup.owner, pending_id)
    assert view.record.resolved_by == "owner-mail"
    sent = await mailbox.list_folder(setup.ctx, setup.agent, "Sent", limit=10, offset=0)
    assert len(sent.messages) == 1

    # The same reply again (a replay): refused, nothing sent twice.
    await _answer(setup, token, _reply(token, "APPROVE"))
    sent = await mailbox.list_folder(setup.ctx, setup.agent, "Sent", limit=10, offset=0)
    assert len(sent.messages) == 1
    assert [r["reason"] for r in await _refusals(setup.ctx)] == ["unknown_token"]
    confirmation = (await _notices(setup, 2))[1]
    assert "approved" in str(confirmation["Subject"])
    assert confirmation["Reply-To"] is None


async def test_reject_by_reply_discards_the_message(setup: Setup) -> None:
    pending_id = await _hold(setup)
    token = _token((await _notices(setup, 1))[0])
    await _answer(setup, token, _reply(token, "Reject. Do not send this.\n"))
    assert await _status(setup, pending_id) == "rejected"
    sent = await mailbox.list_folder(setup.ctx, setup.agent, "Sent", limit=10, offset=0)
    assert sent.messages == []
    assert "rejected" in str((await _notices(setup, 2))[1]["Subject"])


async def test_the_subject_counts_when_the_body_has_no_decision(setup: Setup) -> None:
    pending_id = await _hold(setup)
    token = _token((await _notices(setup, 1))[0])
    await _answer(setup, token, _reply(token, "", subject="APPROVE"))
    assert await _status(setup, pending_id) == "approved"


async def test_a_reply_without_a_decision_gets_the_syntax(setup: Setup) -> None:
    pending_id = await _hold(setup)
    token = _token((await _notices(setup, 1))[0])
    await _answer(setup, token, _reply(token, "Looks fine to me\n> APPROVE"))
    assert await _status(setup, pending_id) == "pending"
    help_mail = (await _notices(setup, 2))[1]
    assert "APPROVE or REJECT" in str(help_mail["Subject"])
    # The token still works for a proper answer.
    await _answer(setup, token, _reply(token, "APPROVE"))
    assert await _status(setup, pending_id) == "approved"


async def test_replies_not_from_the_owner_are_refused(setup: Setup) -> None:
    pending_id = await _hold(setup)
    token = _token((await _notices(setup, 1))[0])
    mallory = "mallory@evil.example"
    await _answer(setup, token, _reply(token, "APPROVE", sender=mallory), envelope=mallory)
    await _answer(setup, token, _reply(token, "APPROVE"), envelope=mallory)
    two_senders = _reply(token, "APPROVE", sender=f"{OWNER}, {mallory}")
    await _answer(setup, token, two_senders)
    assert await _status(setup, pending_id) == "pending"
    refusals = await _refusals(setup.ctx)
    assert [r["reason"] for r in refusals] == [
        "sender_mismatch",
        "envelope_mismatch",
        "sender_mismatch",
    ]
    assert all(r["pendingId"] == pending_id for r in refusals)
    assert not any(token in json.dumps(r) for r in refusals)
    told = await _notices(setup, 4)
    assert all("not accepted" in str(m["Subject"]) for m in told[1:])
    assert mallory not in {m.recipients[0] for m in setup.sink.messages}


async def test_automatic_replies_are_dropped_without_an_answer(setup: Setup) -> None:
    pending_id = await _hold(setup)
    token = _token((await _notices(setup, 1))[0])
    auto = _reply(token, "APPROVE", headers=("Auto-Submitted: auto-replied",))
    await _answer(setup, token, auto)
    assert await _status(setup, pending_id) == "pending"
    assert [r["reason"] for r in await _refusals(setup.ctx)] == ["automated_reply"]
    await setup.sender.send_due()
    assert len(setup.sink.messages) == 1  # no answer to a robot


async def test_trusted_authentication_results_must_pass(setup: Setup) -> None:
    setup.ctx.settings = setup.ctx.settings.model_copy(
        update={"trusted_authserv_ids": "mx.gateway.example"}
    )
    first = await _hold(setup)
    second = await _hold(setup)
    third = await _hold(setup)
    notices = await _notices(setup, 3)
    tokens = {n.get_content().split("Held item: ")[1].split()[0]: _token(n) for n in notices}

    failing = (
        "Authentication-Results: mx.gateway.example; spf=pass smtp.mailfrom=owner.example;"
        " dkim=fail header.d=owner.example; dmarc=fail header.from=owner.example",
        # Anyone can write a header naming another server: it is not believed.
        "Authentication-Results: elsewhere.example; dmarc=pass header.from=owner.example",
    )
    await _answer(setup, tokens[first], _reply(tokens[first], "APPROVE", headers=failing))
    await _answer(setup, tokens[second], _reply(tokens[second], "APPROVE"))
    passing = (
        "Authentication-Results: mx.gateway.example; dkim=pass header.d=owner.example "
        "header.s=sel; dmarc=pass (p=reject) header.from=owner.example",
    )
    await _answer(setup, tokens[third], _reply(tokens[third], "APPROVE", headers=passing))

    assert await _status(setup, first) == "pending"
    assert await _status(setup, second) == "pending"
    assert await _status(setup, third) == "approved"
    reasons = [r["reason"] for r in await _refusals(setup.ctx)]
    assert reasons == ["authentication_failed", "authentication_missing"]


async def test_changed_content_and_expired_items_are_refused(setup: Setup) -> None:
    changed = await _hold(setup)
    expired = await _hold(setup)
    notices = await _notices(setup, 2)
    tokens = {n.get_content().split("Held item: ")[1].split()[0]: _token(n) for n in notices}
    async with setup.ctx.db.write() as conn:
        table = pending_outbound.c
        await conn.execute(
            update(pending_outbound)
            .where(table.id == changed)
            .values(raw=b"Subject: other\r\n\r\nsomething else", content_hash="0" * 64)
        )
        row = (await conn.execute(select(table.expires_at).where(table.id == expired))).one()
        await conn.execute(
            update(pending_outbound)
            .where(table.id == expired)
            .values(expires_at=row.expires_at - timedelta(days=30))
        )
    await _answer(setup, tokens[changed], _reply(tokens[changed], "APPROVE"))
    await _answer(setup, tokens[expired], _reply(tokens[expired], "APPROVE"))
    assert await _status(setup, changed) == "pending"
    assert await _status(setup, expired) == "expired"
    reasons = sorted(r["reason"] for r in await _refusals(setup.ctx))
    assert reasons == ["content_changed", "expired"]
    sent = await mailbox.list_folder(setup.ctx, setup.agent, "Sent", limit=10, offset=0)
    assert sent.messages == []


async def test_the_agent_never_sees_the_request_or_its_token(setup: Setup) -> None:
    await _hold(setup)
    notice = (await _notices(setup, 1))[0]
    token = _token(notice)
    # An approval address cannot share a transaction with an agent's address.
    mixed = await send(
        setup.server.port,
        OWNER,
        [f"approvals+{token}@localhost", "alice@localhost"],
        _reply(token, "APPROVE"),
    )
    assert mixed[1][0] == 250 and mixed[2][0] == 452
    mixed = await send(
        setup.server.port,
        OWNER,
        ["alice@localhost", f"approvals+{token}@localhost"],
        message(sender=OWNER, subject="Lunch?"),
    )
    assert [code for code, _ in mixed[1:3]] == [250, 452]
    await _answer(setup, token, _reply(token, "REJECT"))

    for folder in await mailbox.list_folders(setup.ctx, setup.agent):
        page = await mailbox.list_folder(setup.ctx, setup.agent, folder.name, limit=100, offset=0)
        for item in page.messages:
            assert "Approval needed" not in item.subject
    async with setup.ctx.db.read() as conn:
        blobs = [bytes(r.raw) for r in await conn.execute(select(message_blobs.c.raw))]
    assert blobs, "the ordinary mail to alice was stored"
    assert not any(token.encode() in blob for blob in blobs)
    assert not any(b"Approval needed" in blob for blob in blobs)


async def test_no_notice_without_an_owner_address_or_configuration(
    ctx: AppContext, sink: SmtpSink
) -> None:
    no_email = await _owner(ctx, None, sink)
    agent, _key = await accounts.create_agent(ctx, no_email, name="quiet")
    held = await submit_message(
        ctx, agent, SendRequest(to="x@example.org", subject="Hi", text=SECRET_TEXT)
    )
    assert held.held is not None
    async with ctx.db.read() as conn:
        count = (await conn.execute(select(func.count()).select_from(system_notices))).scalar_one()
        details = [
            json.loads(r.detail)
            for r in await conn.execute(
                select(audit_log.c.detail).where(audit_log.c.operation == "send.held")
            )
        ]
    assert count == 0
    assert details[0]["ownerNotice"] == "no_owner_email"
    view = await pending.get_pending(ctx, no_email, held.held.pending_id)
    assert view.owner_notice is None


async def test_no_notice_without_a_configuration(ctx: AppContext) -> None:
    owner = await _owner(ctx, OWNER, None)
    agent, _key = await accounts.create_agent(ctx, owner, name="quiet")
    held = await submit_message(
        ctx, agent, SendRequest(to="x@example.org", subject="Hi", text=SECRET_TEXT)
    )
    assert held.held is not None
    async with ctx.db.read() as conn:
        count = (await conn.execute(select(func.count()).select_from(system_notices))).scalar_one()
    assert count == 0
    assert (await _held_detail(ctx))["ownerNotice"] == "no_smtp_config"


async def test_the_approvals_name_is_reserved(ctx: AppContext) -> None:
    with pytest.raises(InvalidInput, match="reserved"):
        await accounts.create_agent(ctx, await admin_principal(ctx), name="Approvals")
