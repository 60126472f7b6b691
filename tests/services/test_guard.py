"""The outbound guard on the send path: who gets held mail, warnings, and per-agent policy."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from agentpost.errors import InvalidInput
from agentpost.services import guard, pending
from agentpost.services.accounts import Principal, PrincipalKind, create_agent, create_owner
from agentpost.services.context import AppContext
from agentpost.storage.records import AgentRecord
from agentpost.storage.tables import deliveries, messages
from agentpost.storage.tables.audit import audit_log

from .support import admin, agent, send

pytestmark = pytest.mark.anyio

CARD = "Please charge card 4242 4242 4242 4242 for the order."
PHONE = "Call me on (555) 123-4567 tomorrow."


async def _owner_agent(ctx: AppContext, email: str | None) -> tuple[Principal, AgentRecord]:
    owner, _key = await create_owner(ctx, await admin(ctx), name="olga", email=email)
    principal = Principal(PrincipalKind.owner, owner.id)
    record, _ = await create_agent(ctx, principal, name="olgabot")
    return principal, record


async def _count(ctx: AppContext, table: object) -> int:
    async with ctx.db.read() as conn:
        return int((await conn.execute(select(func.count()).select_from(table))).scalar_one())  # type: ignore[arg-type]


async def test_high_finding_to_a_stranger_is_held_and_nothing_is_sent(any_ctx: AppContext) -> None:
    alice = await agent(any_ctx, "alice")
    result = await send(any_ctx, alice, "someone@example.com", text=CARD)
    assert result.status == "held" and result.uid is None and result.held is not None
    assert [w.rule_id for w in result.warnings] == ["ob_credit_card"]
    assert "4242" not in repr(result.warnings) and "4242" not in (result.note or "")
    assert result.held.remind_at is not None and result.held.remind_at < result.held.expires_at
    assert await _count(any_ctx, messages) == 0
    assert await _count(any_ctx, deliveries) == 0
    async with any_ctx.db.read() as conn:
        ops = [r.operation for r in await conn.execute(select(audit_log.c.operation))]
    assert "send.held" in ops and "send.accepted" not in ops


async def test_an_internal_address_last_does_not_bypass_the_guard(any_ctx: AppContext) -> None:
    alice = await agent(any_ctx, "alice")
    await agent(any_ctx, "bob")
    # The upstream scanned only `to` and trusted its last address: cc and bcc count here.
    for extra in ({"cc": "x@example.com"}, {"bcc": "x@example.com"}):
        result = await send(any_ctx, alice, ["bob@localhost"], text=CARD, **extra)
        assert result.status == "held"
    mixed = await send(any_ctx, alice, ["x@example.com", "bob@localhost"], text=CARD)
    assert mixed.status == "held"


async def test_agent_to_agent_gets_warnings_only(any_ctx: AppContext) -> None:
    alice = await agent(any_ctx, "alice")
    await agent(any_ctx, "bob")
    result = await send(any_ctx, alice, "bob@localhost", text=CARD)
    assert result.status == "delivered"
    assert [w.rule_id for w in result.warnings] == ["ob_credit_card"]


async def test_medium_to_a_stranger_is_sent_with_warnings(any_ctx: AppContext) -> None:
    alice = await agent(any_ctx, "alice")
    result = await send(any_ctx, alice, "someone@example.com", text=PHONE)
    assert result.status == "queued"
    assert [(w.rule_id, w.severity.value) for w in result.warnings] == [("ob_phone", "MEDIUM")]


async def test_clean_mail_has_no_warnings(any_ctx: AppContext) -> None:
    alice = await agent(any_ctx, "alice")
    result = await send(any_ctx, alice, "someone@example.com", text="Order #88231 ships on 3 May.")
    assert result.status == "queued" and result.warnings == ()


async def test_owner_address_and_allowed_domains_warn_instead_of_holding(ctx: AppContext) -> None:
    principal, bot = await _owner_agent(ctx, "Olga@Example.org")
    to_owner = await send(ctx, bot, "olga@example.org", text=CARD)
    assert to_owner.status == "queued" and to_owner.warnings
    assert (await send(ctx, bot, "boss@partner.example", text=CARD)).status == "held"
    await guard.set_policy(ctx, principal, "olgabot", {"allowDomains": ["partner.example"]})
    assert (await send(ctx, bot, "boss@partner.example", text=CARD)).status == "queued"


async def test_policy_is_per_agent_and_validated(ctx: AppContext) -> None:
    alice = await agent(ctx, "alice")
    bob = await agent(ctx, "bob")
    root = await admin(ctx)
    policy = {"actions": {"stranger": {"HIGH": "warn", "MEDIUM": "hold"}}}
    saved = await guard.set_policy(ctx, root, "alice", policy)
    assert saved.to_dict()["actions"]["contact"]["HIGH"] == "hold"  # untouched: the default
    assert (await send(ctx, alice, "x@example.com", text=CARD)).status == "queued"
    assert (await send(ctx, alice, "x@example.com", text=PHONE)).status == "held"
    assert (await send(ctx, bob, "x@example.com", text=CARD)).status == "held"
    await guard.set_policy(ctx, root, "bob", {"disabledRules": ["ob_credit_card"]})
    assert (await send(ctx, bob, "x@example.com", text=CARD)).warnings == ()
    for bad in (
        {"actions": {"friends": {"HIGH": "warn"}}},
        {"actions": {"stranger": {"HIGH": "shrug"}}},
        {"disabledRules": ["ob_nope"]},
        {"allowDomains": ["not a domain"]},
    ):
        with pytest.raises(InvalidInput):
            await guard.set_policy(ctx, root, "alice", bad)


async def test_known_contacts_are_held_by_default_but_can_be_trusted(ctx: AppContext) -> None:
    from agentpost.services import contacts

    alice = await agent(ctx, "alice")
    await contacts.add_contact(ctx, alice, email="pal@example.com", name="Pal")
    assert (await send(ctx, alice, "pal@example.com", text=CARD)).status == "held"
    policy = {"actions": {"contact": {"HIGH": "warn"}}}
    await guard.set_policy(ctx, await admin(ctx), "alice", policy)
    assert (await send(ctx, alice, "pal@example.com", text=CARD)).status == "queued"
    assert (await send(ctx, alice, "stranger@example.com", text=CARD)).status == "held"


async def test_attachments_are_scanned_by_name_and_content(ctx: AppContext) -> None:
    from agentpost.domain.mime import AttachmentInput
    from agentpost.services.outbox import SendRequest, submit_message

    alice = await agent(ctx, "alice")
    key_file = AttachmentInput("deploy.pem", b"not really", "application/octet-stream")
    notes = AttachmentInput("notes.txt", b"aws AKIAIOSFODNN7EXAMPLE", "text/plain")
    for item, rule in ((key_file, "ob_sensitive_file"), (notes, "ob_aws_key")):
        request = SendRequest(to="x@example.com", subject="files", text="hi", attachments=[item])
        result = await submit_message(ctx, alice, request)
        assert result.status == "held"
        assert [(w.rule_id, w.where) for w in result.warnings] == [
            (rule, f"attachment {item.filename}")
        ]
    views = await pending.list_pending(ctx, await admin(ctx))
    assert len(views) == 2
