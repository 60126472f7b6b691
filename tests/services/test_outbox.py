"""Sending on SQLite and PostgreSQL: Sent copies, local delivery, queued external mail, and the
all-or-nothing transaction around them."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from agentpost.domain.mime import AttachmentInput
from agentpost.errors import HeaderInjection, InvalidInput, MessageNotFound, PayloadTooLarge
from agentpost.services import mailbox, outbox
from agentpost.services.context import AppContext
from agentpost.services.outbox import SendRequest, submit_message
from agentpost.services.store import StoredCopy, store_copies

from .support import agent, fresh, send, table_counts

pytestmark = pytest.mark.anyio


async def _nothing_written(ctx: AppContext) -> None:
    counts = await table_counts(ctx)
    assert set(counts.values()) == {0}, counts


async def test_local_send_stores_sent_copy_and_inbox_copy(any_ctx: AppContext) -> None:
    """A send to a local agent leaves a seen Sent copy, an unseen INBOX copy sharing one blob,
    a 'delivered' row per recipient, and both mailboxes' used bytes grown."""
    alice = await agent(any_ctx, "alice")
    bob = await agent(any_ctx, "bob")
    result = await send(any_ctx, alice, "Bob <BOB@localhost>", "Status", text="all good")
    assert result.status == "delivered"
    assert result.folder == "Sent" and result.uid == 1
    assert [r.to_dict() for r in result.recipients] == [
        {"address": "BOB@localhost", "kind": "local", "status": "delivered"}
    ]

    sent = await mailbox.read_message(any_ctx, alice, 1, "Sent")
    received = await mailbox.read_message(any_ctx, bob, 1, "INBOX")
    assert sent.record.message_id == received.record.message_id == result.message_id
    assert (sent.record.seen, sent.record.direction) == (True, "out")
    assert (received.record.seen, received.record.direction) == (False, "in")
    assert sent.record.blob_id == received.record.blob_id
    assert received.parsed.text == "all good\n"
    assert received.record.from_addr == "alice@localhost"
    assert [(d.recipient, d.kind, d.status) for d in sent.deliveries] == [
        ("BOB@localhost", "local", "delivered")
    ]
    size = sent.record.size
    assert (await fresh(any_ctx, alice)).used_bytes == size
    assert (await fresh(any_ctx, bob)).used_bytes == size
    assert await table_counts(any_ctx) == {
        "messages": 2,
        "message_blobs": 1,
        "deliveries": 1,
        **({"messages_fts": 2} if any_ctx.db.is_sqlite else {}),
    }


async def test_uids_grow_per_folder(any_ctx: AppContext) -> None:
    """Each folder numbers its own messages 1, 2, 3…, independently of other folders."""
    alice = await agent(any_ctx, "alice")
    bob = await agent(any_ctx, "bob")
    first = [(await send(any_ctx, alice, "bob@localhost", f"m{i}")).uid for i in range(3)]
    reply = await send(any_ctx, bob, "alice@localhost", "back")
    assert first == [1, 2, 3]
    assert reply.uid == 1  # bob's Sent folder starts at 1
    inbox = await mailbox.list_folder(any_ctx, bob, "INBOX", limit=10, offset=0)
    assert [(m.uid, m.subject) for m in inbox.messages] == [(3, "m2"), (2, "m1"), (1, "m0")]
    alice_inbox = await mailbox.list_folder(any_ctx, alice, "inbox", limit=10, offset=0)
    assert [m.uid for m in alice_inbox.messages] == [1]


async def test_external_recipients_are_queued_with_delivery_rows(any_ctx: AppContext) -> None:
    """External recipients (to, cc and bcc) each get a 'queued' row; local ones are delivered;
    duplicates across fields collapse to one row."""
    alice = await agent(any_ctx, "alice")
    bob = await agent(any_ctx, "bob")
    result = await submit_message(
        any_ctx,
        alice,
        SendRequest(
            to=["ext@example.com", "bob@localhost"],
            cc="Other <other@example.org>, EXT@example.com",
            bcc=["hidden@example.net", "bob@LOCALHOST"],
            subject="Mixed",
            text="hi",
        ),
    )
    assert result.status == "queued"
    assert result.note is not None
    assert [(r.address, r.kind, r.status) for r in result.recipients] == [
        ("ext@example.com", "external", "queued"),
        ("bob@localhost", "local", "delivered"),
        ("other@example.org", "external", "queued"),
        ("hidden@example.net", "external", "queued"),
    ]
    view = await mailbox.read_message(any_ctx, alice, result.uid, "Sent")
    assert [(d.recipient, d.status) for d in view.deliveries] == [
        (r.address, r.status) for r in result.recipients
    ]
    raw = await mailbox.read_raw(any_ctx, bob, 1)
    assert b"hidden@example.net" not in raw  # Bcc never reaches the headers
    assert (await fresh(any_ctx, bob)).used_bytes == len(raw)


async def test_external_only_send_stores_just_the_sent_copy(any_ctx: AppContext) -> None:
    """With no local recipient, only the Sent copy and the queued rows are written."""
    alice = await agent(any_ctx, "alice")
    result = await send(any_ctx, alice, "someone@example.com", "Out")
    assert result.status == "queued"
    counts = await table_counts(any_ctx)
    assert (counts["messages"], counts["message_blobs"], counts["deliveries"]) == (1, 1, 1)


async def test_unknown_local_recipient_refuses_the_whole_send(any_ctx: AppContext) -> None:
    """One unknown local address refuses everything: no Sent copy, no blob, no deliveries,
    no copy for the valid local recipient, no quota charged, no UID consumed."""
    alice = await agent(any_ctx, "alice")
    bob = await agent(any_ctx, "bob")
    with pytest.raises(InvalidInput) as caught:
        await send(any_ctx, alice, ["bob@localhost", "ext@example.com", "nobody@localhost"])
    assert caught.value.field == "to"
    assert "nobody@localhost" in caught.value.message
    await _nothing_written(any_ctx)
    assert (await fresh(any_ctx, alice)).used_bytes == 0
    assert (await fresh(any_ctx, bob)).used_bytes == 0
    assert (await send(any_ctx, alice, "bob@localhost")).uid == 1


async def test_failure_in_the_middle_of_a_send_leaves_nothing(
    any_ctx: AppContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A crash after the Sent copy but before the recipient's copy rolls back everything:
    never a Sent copy without its deliveries, nor a delivery without its Sent copy."""
    alice = await agent(any_ctx, "alice")
    bob = await agent(any_ctx, "bob")
    calls = 0

    async def failing_store_copies(*args: Any, **kwargs: Any) -> list[StoredCopy]:
        nonlocal calls
        calls += 1
        await store_copies(*args, **kwargs)  # the Sent copy and bob's copy are written...
        raise RuntimeError("disk on fire")  # ...then the disk fails before the deliveries

    monkeypatch.setattr(outbox, "store_copies", failing_store_copies)
    with pytest.raises(RuntimeError, match="disk on fire"):
        await send(any_ctx, alice, ["ext@example.com", "bob@localhost"], text="x")
    assert calls == 1
    await _nothing_written(any_ctx)
    assert (await fresh(any_ctx, alice)).used_bytes == 0
    assert (await fresh(any_ctx, bob)).used_bytes == 0
    with pytest.raises(MessageNotFound):
        await mailbox.read_message(any_ctx, alice, 1, "Sent")

    monkeypatch.setattr(outbox, "store_copies", store_copies)
    retried = await send(any_ctx, alice, ["ext@example.com", "bob@localhost"], text="x")
    assert retried.uid == 1  # the failed attempt's UID allocation was rolled back too
    assert (await table_counts(any_ctx))["deliveries"] == 2


async def test_full_mailbox_fails_that_recipient_only(any_ctx: AppContext) -> None:
    """A local recipient over quota gets a 'failed' row with the reason; others still get it."""
    alice = await agent(any_ctx, "alice")
    bob = await agent(any_ctx, "bob")
    carol = await agent(any_ctx, "carol")
    first = await send(any_ctx, alice, "bob@localhost", "fills bob", text="x" * 600)
    size = (await fresh(any_ctx, bob)).used_bytes
    assert first.status == "delivered" and size > 600
    any_ctx.settings = any_ctx.settings.model_copy(update={"mailbox_quota_bytes": size + 100})

    result = await send(any_ctx, alice, ["bob@localhost", "carol@localhost"], "more")
    assert [(r.address, r.status, r.error) for r in result.recipients] == [
        ("bob@localhost", "failed", "mailbox full"),
        ("carol@localhost", "delivered", None),
    ]
    assert (await fresh(any_ctx, bob)).used_bytes == size
    assert (await mailbox.list_folder(any_ctx, bob, "INBOX", limit=5, offset=0)).total == 1
    assert (await mailbox.list_folder(any_ctx, carol, "INBOX", limit=5, offset=0)).total == 1
    only_bob = await send(any_ctx, alice, "bob@localhost", "again")
    assert only_bob.status == "failed"


async def test_reply_lands_in_the_parents_thread_in_both_mailboxes(any_ctx: AppContext) -> None:
    """A reply with In-Reply-To joins the parent's thread for the replier and the original
    sender; an unrelated message starts its own thread."""
    alice = await agent(any_ctx, "alice")
    bob = await agent(any_ctx, "bob")
    first = await send(any_ctx, alice, "bob@localhost", "Plan")
    parent = await mailbox.read_message(any_ctx, bob, 1)
    reply = await submit_message(
        any_ctx,
        bob,
        SendRequest(
            to="alice@localhost",
            subject="Re: Plan",
            in_reply_to=parent.record.message_id,
            references=parent.record.message_id,
        ),
    )
    again = await submit_message(
        any_ctx,
        alice,
        SendRequest(to="bob@localhost", subject="Re: Plan", in_reply_to=reply.message_id),
    )
    other = await send(any_ctx, alice, "bob@localhost", "Unrelated")

    thread = first.message_id
    assert parent.record.thread_id == thread
    assert (await mailbox.require_uid(any_ctx, bob, reply.uid, "Sent")).thread_id == thread
    assert (await mailbox.require_uid(any_ctx, alice, 1, "INBOX")).thread_id == thread
    assert (await mailbox.require_uid(any_ctx, bob, 2, "INBOX")).thread_id == thread
    assert (await mailbox.require_uid(any_ctx, alice, again.uid, "Sent")).thread_id == thread
    assert (await mailbox.require_uid(any_ctx, bob, other.uid, "INBOX")).thread_id == (
        other.message_id
    )
    received = await mailbox.read_message(any_ctx, alice, 1)
    assert received.parsed.in_reply_to == first.message_id
    assert received.parsed.references == [first.message_id]


async def test_reply_to_an_unknown_parent_threads_on_the_references_root(
    any_ctx: AppContext,
) -> None:
    """When no parent is stored, the thread id is the first References id, so later
    messages of the same conversation still group together."""
    alice = await agent(any_ctx, "alice")
    result = await submit_message(
        any_ctx,
        alice,
        SendRequest(
            to="x@example.com",
            subject="Re: old",
            in_reply_to="<parent@elsewhere.test>",
            references="<root@elsewhere.test> <parent@elsewhere.test>",
        ),
    )
    record = await mailbox.require_uid(any_ctx, alice, result.uid, "Sent")
    assert record.thread_id == "<root@elsewhere.test>"


@pytest.mark.parametrize(
    ("request_kw", "field"),
    [
        ({"to": "bob@localhost", "subject": "Hi\r\nBcc: victim@example.com"}, "subject"),
        ({"to": "bob@localhost\r\nBcc: victim@example.com", "subject": "s"}, "to"),
        ({"to": "not an address", "subject": "s"}, "to"),
        ({"to": "bob@localhost", "cc": "bad@", "subject": "s"}, "cc"),
        ({"to": "bob@localhost", "bcc": ["ok@example.com", "@"], "subject": "s"}, "bcc"),
        ({"to": "bob@localhost", "subject": "s", "reply_to": "nope"}, "replyTo"),
        ({"to": [], "subject": "s"}, "to"),
        ({"to": "bob@localhost", "subject": "   "}, "subject"),
        ({"to": "bob@localhost", "subject": "s", "in_reply_to": "two words"}, "inReplyTo"),
    ],
)
async def test_invalid_sends_are_refused_before_anything_is_stored(
    any_ctx: AppContext, request_kw: dict[str, Any], field: str
) -> None:
    """Bad addresses, header injection and missing fields are 400s naming the field."""
    alice = await agent(any_ctx, "alice")
    await agent(any_ctx, "bob")
    with pytest.raises(InvalidInput) as caught:
        await submit_message(any_ctx, alice, SendRequest(**request_kw))
    assert caught.value.field == field
    assert caught.value.status == 400
    await _nothing_written(any_ctx)


async def test_display_name_with_a_line_break_is_a_header_injection(any_ctx: AppContext) -> None:
    """A displayName in metadata cannot smuggle headers: the send is a 400, not a crash."""
    alice = await agent(any_ctx, "alice")
    await agent(any_ctx, "bob")
    evil = replace(alice, metadata={"displayName": "A\r\nBcc: v@x.com"})
    with pytest.raises(HeaderInjection) as caught:
        await send(any_ctx, evil, "bob@localhost")
    assert caught.value.field == "from"
    await _nothing_written(any_ctx)


async def test_display_name_and_attachments_reach_the_recipient(any_ctx: AppContext) -> None:
    """The sender's displayName is the From name; attachments arrive intact."""
    alice = await agent(any_ctx, "alice")
    bob = await agent(any_ctx, "bob")
    named = replace(alice, metadata={"displayName": "Alice Bot"})
    pdf = b"%PDF-1.4\x00\xff" * 50
    await submit_message(
        any_ctx,
        named,
        SendRequest(
            to="bob@localhost",
            subject="Report",
            text="attached",
            html="<p>attached</p>",
            attachments=[AttachmentInput("r.pdf", pdf, "application/pdf")],
        ),
    )
    view = await mailbox.read_message(any_ctx, bob, 1)
    assert (view.record.from_name, view.record.from_addr) == ("Alice Bot", "alice@localhost")
    assert view.record.attachments == [
        {"filename": "r.pdf", "contentType": "application/pdf", "size": len(pdf)}
    ]
    info, content = await mailbox.get_attachment(any_ctx, bob, 1, 0)
    assert (info.filename, content) == ("r.pdf", pdf)
    with pytest.raises(MessageNotFound):
        await mailbox.get_attachment(any_ctx, bob, 1, 1)


async def test_too_many_recipients_and_too_large_messages_are_refused(
    any_ctx: AppContext,
) -> None:
    """Limits are checked before storing: 100 recipients at most, and the size limit."""
    alice = await agent(any_ctx, "alice")
    many = [f"r{i}@example.com" for i in range(101)]
    with pytest.raises(InvalidInput, match="at most 100"):
        await send(any_ctx, alice, many)
    any_ctx.settings = any_ctx.settings.model_copy(update={"max_message_bytes": 2048})
    with pytest.raises(PayloadTooLarge):
        await send(any_ctx, alice, "x@example.com", text="y" * 4096)
    await _nothing_written(any_ctx)


async def test_sent_copy_shares_its_blob_with_every_local_copy(any_ctx: AppContext) -> None:
    """One message to three local agents is stored once as raw bytes, four times indexed."""
    alice = await agent(any_ctx, "alice")
    for name in ("b1", "b2", "b3"):
        await agent(any_ctx, name)
    await send(any_ctx, alice, "b1@localhost, b2@localhost", cc="b3@localhost", text="fan out")
    counts = await table_counts(any_ctx)
    assert (counts["messages"], counts["message_blobs"], counts["deliveries"]) == (4, 1, 3)
    sent = await mailbox.read_message(any_ctx, alice, 1, "Sent")
    assert [(d.recipient, d.status) for d in sent.deliveries] == [
        ("b1@localhost", "delivered"),
        ("b2@localhost", "delivered"),
        ("b3@localhost", "delivered"),
    ]
