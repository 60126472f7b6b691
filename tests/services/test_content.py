"""Contacts, signatures, templates and drafts on SQLite and PostgreSQL: per-agent rows, the
default signature on every send, template sends and draft sends through the outbox."""

from __future__ import annotations

import asyncio

import pytest

from agentpost.errors import (
    AgentPostError,
    ContactNotFound,
    DraftNotFound,
    InvalidInput,
    SignatureNotFound,
    TemplateNotFound,
    TemplateVariablesMissing,
)
from agentpost.services import contacts, drafts, mailbox, signatures, templates
from agentpost.services.contacts import ContactChange
from agentpost.services.context import AppContext
from agentpost.services.drafts import DraftInput
from agentpost.services.outbox import SendRequest, submit_message
from agentpost.services.signatures import SignatureInput
from agentpost.services.templates import TemplateInput, TemplateSend
from agentpost.storage.repositories import content as content_repo

from .support import agent, send, table_counts

pytestmark = pytest.mark.anyio


async def test_contacts_are_one_per_address_and_per_agent(any_ctx: AppContext) -> None:
    alice = await agent(any_ctx, "alice")
    bob = await agent(any_ctx, "bob")
    first, created = await contacts.add_contact(any_ctx, alice, "Zed <Zed@Example.com>", "Zed")
    assert created and first.email == "Zed@Example.com"
    again, created = await contacts.add_contact(any_ctx, alice, "zed@example.com", "Zed Z")
    assert not created and again.id == first.id and again.name == "Zed Z"
    await contacts.add_contact(any_ctx, alice, "ann@example.com", "Ann", "met at the fair")
    assert [c.name for c in await contacts.list_contacts(any_ctx, alice)] == ["Ann", "Zed Z"]
    assert await contacts.list_contacts(any_ctx, bob) == []

    async with any_ctx.db.read() as conn:
        assert await content_repo.is_contact(conn, alice.id, "ZED@example.COM")
        assert not await content_repo.is_contact(conn, bob.id, "zed@example.com")
    assert await contacts.is_contact(any_ctx, alice, "ann@example.com")

    with pytest.raises(ContactNotFound):
        await contacts.delete_contact(any_ctx, bob, first.id)  # not bob's
    updated = await contacts.update_contact(
        any_ctx, alice, first.id, ContactChange(email="zed@new.example", notes="moved")
    )
    assert (updated.email, updated.notes) == ("zed@new.example", "moved")
    with pytest.raises(InvalidInput, match="already contact"):
        await contacts.update_contact(any_ctx, alice, first.id, ContactChange("ann@example.com"))
    await contacts.delete_contact(any_ctx, alice, first.id)
    assert [c.email for c in await contacts.list_contacts(any_ctx, alice)] == ["ann@example.com"]


@pytest.mark.parametrize("email", ["", "not-an-address", "a@x.io, b@y.io", "a@x.io\r\nBcc: z@z"])
async def test_bad_contact_addresses_are_refused(any_ctx: AppContext, email: str) -> None:
    alice = await agent(any_ctx, "alice")
    with pytest.raises(InvalidInput) as caught:
        await contacts.add_contact(any_ctx, alice, email)
    assert caught.value.field == "email"
    assert await contacts.list_contacts(any_ctx, alice) == []


async def test_a_signature_change_reaches_the_very_next_send(any_ctx: AppContext) -> None:
    """Sends remember the default signature for a moment (``AppContext.signatures``), but
    every change through this server takes effect on the next send: a new default, an edit,
    another default, a deletion."""
    alice = await agent(any_ctx, "alice")
    bob = await agent(any_ctx, "bob")

    async def last_text() -> str:
        await send(any_ctx, alice, bob.address, "s", text="body")
        inbox = await mailbox.list_folder(any_ctx, bob, "INBOX", limit=1, offset=0)
        read = await mailbox.read_message(any_ctx, bob, inbox.messages[0].uid, "INBOX")
        return read.parsed.text

    assert "-- " not in await last_text()  # remembered: alice has no signature
    first = await signatures.create_signature(
        any_ctx, alice, SignatureInput("a", "One", None, True)
    )
    assert (await last_text()).endswith("-- \nOne\n")
    await signatures.update_signature(any_ctx, alice, first.id, SignatureInput(text="Uno"))
    assert (await last_text()).endswith("-- \nUno\n")
    second = await signatures.create_signature(
        any_ctx, alice, SignatureInput("b", "Two", None, True)
    )
    assert (await last_text()).endswith("-- \nTwo\n")
    await signatures.delete_signature(any_ctx, alice, second.id)
    assert "-- " not in await last_text()  # "a" is no longer the default either


async def test_the_default_signature_is_appended_to_every_kind_of_send(
    any_ctx: AppContext,
) -> None:
    alice = await agent(any_ctx, "alice")
    bob = await agent(any_ctx, "bob")
    plain = await signatures.create_signature(any_ctx, alice, SignatureInput("plain", "Alice"))
    assert not plain.is_default
    await send(any_ctx, alice, bob.address, "no default yet", text="one")
    formal = await signatures.create_signature(
        any_ctx, alice, SignatureInput("formal", "Alice\nAgentPost Inc.", "<i>Alice</i>", True)
    )
    await send(any_ctx, alice, bob.address, "with", text="two", html="<p>two</p>")
    request = SendRequest(to=bob.address, subject="without", text="three", signature=False)
    await submit_message(any_ctx, alice, request)
    template = await templates.create_template(
        any_ctx, alice, TemplateInput("t", "Hi {{n}}", "Hello {{n}}")
    )
    await templates.send_template(
        any_ctx, alice, template.id, TemplateSend(bob.address, {"n": "Bob"})
    )
    views = [await mailbox.read_message(any_ctx, bob, uid) for uid in (1, 2, 3, 4)]
    assert views[0].parsed.text.strip() == "one"
    assert views[1].parsed.text == "two\n\n-- \nAlice\nAgentPost Inc.\n"
    assert (
        views[1]
        .parsed.html.rstrip()
        .endswith('<p>two</p>\n<div class="signature"><br>-- <br>\n<i>Alice</i></div>')
    )
    assert views[2].parsed.text.strip() == "three"
    assert views[3].parsed.text == "Hello Bob\n\n-- \nAlice\nAgentPost Inc.\n"
    listed = await signatures.list_signatures(any_ctx, alice)
    assert [(s.name, s.is_default) for s in listed] == [("formal", True), ("plain", False)]
    assert formal.id == listed[0].id


async def test_one_default_at_a_time_and_same_name_replaces(any_ctx: AppContext) -> None:
    alice = await agent(any_ctx, "alice")
    bob = await agent(any_ctx, "bob")
    a = await signatures.create_signature(any_ctx, alice, SignatureInput("a", "A", None, True))
    b = await signatures.create_signature(any_ctx, alice, SignatureInput("b", "B", None, True))
    assert [(s.name, s.is_default) for s in await signatures.list_signatures(any_ctx, alice)] == [
        ("b", True),
        ("a", False),
    ]
    await signatures.update_signature(any_ctx, alice, a.id, SignatureInput(is_default=True))
    replaced = await signatures.create_signature(any_ctx, alice, SignatureInput("b", "B2"))
    assert replaced.id == b.id and replaced.text == "B2" and not replaced.is_default
    with pytest.raises(SignatureNotFound):
        await signatures.update_signature(any_ctx, bob, a.id, SignatureInput(text="mine now"))
    with pytest.raises(InvalidInput, match="text is required"):
        await signatures.create_signature(any_ctx, alice, SignatureInput("c", "  "))
    await signatures.delete_signature(any_ctx, alice, a.id)
    async with any_ctx.db.read() as conn:
        assert await content_repo.default_signature(conn, alice.id) is None


async def test_template_send_names_every_missing_variable_and_sends_nothing(
    any_ctx: AppContext,
) -> None:
    alice = await agent(any_ctx, "alice")
    bob = await agent(any_ctx, "bob")
    template = await templates.create_template(
        any_ctx,
        alice,
        TemplateInput("welcome", "Welcome {{ name }}", "Hi {{name}}, your code is {{code}}."),
    )
    with pytest.raises(TemplateVariablesMissing) as caught:
        await templates.send_template(any_ctx, alice, template.id, TemplateSend(bob.address, {}))
    assert "name, code" in caught.value.message and caught.value.field == "variables"
    assert set((await table_counts(any_ctx)).values()) == {0}

    result = await templates.send_template(
        any_ctx, alice, template.id, TemplateSend(bob.address, {"name": "Bob", "code": 7})
    )
    received = await mailbox.read_message(any_ctx, bob, 1)
    assert received.record.subject == "Welcome Bob"
    assert received.parsed.text.strip() == "Hi Bob, your code is 7."
    assert received.record.message_id == result.message_id
    with pytest.raises(TemplateNotFound):
        await templates.send_template(any_ctx, bob, template.id, TemplateSend(alice.address, {}))


async def test_template_names_are_unique_per_agent(any_ctx: AppContext) -> None:
    alice = await agent(any_ctx, "alice")
    first = await templates.create_template(any_ctx, alice, TemplateInput("t", "S", "T"))
    again = await templates.create_template(any_ctx, alice, TemplateInput("t", "S2", "T2"))
    other = await templates.create_template(any_ctx, alice, TemplateInput("u", "S", "T"))
    assert again.id == first.id and again.subject == "S2"
    with pytest.raises(InvalidInput, match="exists"):
        await templates.update_template(any_ctx, alice, other.id, TemplateInput(name="t"))
    renamed = await templates.update_template(any_ctx, alice, other.id, TemplateInput(name="v"))
    assert [t.name for t in await templates.list_templates(any_ctx, alice)] == ["t", "v"]
    assert renamed.subject == "S"


async def test_a_draft_is_edited_then_sent_and_removed(any_ctx: AppContext) -> None:
    alice = await agent(any_ctx, "alice")
    bob = await agent(any_ctx, "bob")
    draft = await drafts.create_draft(any_ctx, alice, DraftInput(subject="Plan"))
    with pytest.raises(InvalidInput, match="no recipient"):
        await drafts.send_draft(any_ctx, alice, draft.id)
    updated = await drafts.update_draft(
        any_ctx, alice, draft.id, DraftInput(to=bob.address, text="Step one.")
    )
    assert (updated.to, updated.subject, updated.text) == (bob.address, "Plan", "Step one.")
    with pytest.raises(DraftNotFound):
        await drafts.send_draft(any_ctx, bob, draft.id)  # another agent's draft
    result = await drafts.send_draft(any_ctx, alice, draft.id)
    received = await mailbox.read_message(any_ctx, bob, 1)
    assert received.record.subject == "Plan" and received.record.message_id == result.message_id
    assert await drafts.list_drafts(any_ctx, alice) == []


async def test_a_refused_draft_send_keeps_the_draft(any_ctx: AppContext) -> None:
    alice = await agent(any_ctx, "alice")
    draft = await drafts.create_draft(
        any_ctx, alice, DraftInput(to="ghost@localhost", subject="Boo")
    )
    with pytest.raises(InvalidInput, match="not an agent"):
        await drafts.send_draft(any_ctx, alice, draft.id)
    assert [d.id for d in await drafts.list_drafts(any_ctx, alice)] == [draft.id]
    assert set((await table_counts(any_ctx)).values()) == {0}


async def test_two_concurrent_sends_of_one_draft_deliver_once(any_ctx: AppContext) -> None:
    alice = await agent(any_ctx, "alice")
    bob = await agent(any_ctx, "bob")
    draft = await drafts.create_draft(
        any_ctx, alice, DraftInput(to=bob.address, subject="Once", text="only once")
    )
    outcomes = await asyncio.gather(
        drafts.send_draft(any_ctx, alice, draft.id),
        drafts.send_draft(any_ctx, alice, draft.id),
        return_exceptions=True,
    )
    failures = [o for o in outcomes if isinstance(o, AgentPostError)]
    assert len(failures) == 1 and isinstance(failures[0], DraftNotFound)
    page = await mailbox.list_folder(any_ctx, bob, "INBOX", limit=10, offset=0)
    assert page.total == 1


async def test_draft_fields_are_validated(any_ctx: AppContext) -> None:
    alice = await agent(any_ctx, "alice")
    with pytest.raises(InvalidInput) as caught:
        await drafts.create_draft(any_ctx, alice, DraftInput(to="nope"))
    assert caught.value.field == "to"
    with pytest.raises(InvalidInput) as caught:
        await drafts.create_draft(any_ctx, alice, DraftInput(subject="a\r\nBcc: x@y.z"))
    assert caught.value.field == "subject"
    with pytest.raises(InvalidInput) as caught:
        await drafts.create_draft(any_ctx, alice, DraftInput(in_reply_to="not an id"))
    assert caught.value.field == "inReplyTo"
    assert await drafts.list_drafts(any_ctx, alice) == []
