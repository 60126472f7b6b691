"""Inbound mail on SQLite and PostgreSQL: recipient checks at RCPT time and durable storage of
whatever was accepted, however malformed."""

from __future__ import annotations

import pytest

from agentpost.errors import AgentNotFound, InvalidInput, MailboxFull
from agentpost.services import inbox, mailbox
from agentpost.services.context import AppContext
from agentpost.services.inbox import RelayDenied
from agentpost.services.mailbox import SearchCriteria
from agentpost.storage.search import TextCriteria

from .support import agent, fresh, send, table_counts

pytestmark = pytest.mark.anyio

SIMPLE = (
    b"From: Sender <sender@example.com>\r\nTo: bob@localhost\r\nSubject: Hello\r\n"
    b"Message-ID: <in1@example.com>\r\nDate: Mon, 06 May 2024 07:08:09 +0000\r\n\r\nHi bob\r\n"
)


async def test_check_recipient_resolves_case_and_subaddress(any_ctx: AppContext) -> None:
    """RCPT finds the agent whatever the case, and name+tag@domain reaches name."""
    bob = await agent(any_ctx, "bob")
    for address in ("bob@localhost", "BOB@LocalHost", " bob+newsletters@localhost "):
        assert (await inbox.check_recipient(any_ctx, address)).id == bob.id


@pytest.mark.parametrize(
    ("address", "error"),
    [
        ("nobody@localhost", AgentNotFound),
        ("bob@example.com", RelayDenied),
        ("not an address", InvalidInput),
        ("", InvalidInput),
    ],
)
async def test_check_recipient_refuses_unknown_foreign_and_invalid(
    any_ctx: AppContext, address: str, error: type[Exception]
) -> None:
    """Unknown local users, other domains (no open relay) and garbage are refused at RCPT."""
    await agent(any_ctx, "bob")
    with pytest.raises(error):
        await inbox.check_recipient(any_ctx, address)


async def test_check_recipient_refuses_a_full_mailbox(any_ctx: AppContext) -> None:
    """A mailbox at its quota refuses new mail before DATA; the size hint counts."""
    bob = await agent(any_ctx, "bob")
    await inbox.accept_message(any_ctx, SIMPLE, [bob])
    used = (await fresh(any_ctx, bob)).used_bytes
    any_ctx.settings = any_ctx.settings.model_copy(update={"mailbox_quota_bytes": used + 10})
    assert (await inbox.check_recipient(any_ctx, "bob@localhost", size_hint=10)).id == bob.id
    with pytest.raises(MailboxFull) as caught:
        await inbox.check_recipient(any_ctx, "bob@localhost", size_hint=11)
    assert caught.value.status == 507


async def test_accept_stores_one_copy_per_agent_with_one_blob(any_ctx: AppContext) -> None:
    """One accepted message reaches every distinct recipient's INBOX, unseen, once each."""
    bob = await agent(any_ctx, "bob")
    carol = await agent(any_ctx, "carol")
    delivered = await inbox.accept_message(any_ctx, SIMPLE, [bob, carol, bob])
    assert delivered.message_id == "<in1@example.com>"
    assert sorted((c.agent_id, c.folder, c.uid) for c in delivered.copies) == sorted(
        [(bob.id, "INBOX", 1), (carol.id, "INBOX", 1)]
    )
    view = await mailbox.read_message(any_ctx, carol, 1)
    assert (view.record.subject, view.record.direction, view.record.seen) == ("Hello", "in", False)
    assert view.parsed.text == "Hi bob\n"
    assert await mailbox.read_raw(any_ctx, bob, 1) == SIMPLE
    counts = await table_counts(any_ctx)
    assert (counts["messages"], counts["message_blobs"]) == (2, 1)
    assert (await fresh(any_ctx, bob)).used_bytes == len(SIMPLE)


MALFORMED = [
    b"",
    b"no headers at all\r\n",
    bytes(range(256)) * 4,
    b"Subject: nul\x00in subject\r\nFrom: evil\x00@example.com\r\n\r\nbody with \x00 nul\r\n",
    b"Subject: caf\xe9 \xff\r\nFrom: J\xf6rg <j@example.com>\r\nDate: garbage\r\n\r\n\xe9\xff",
    b"Content-Type: text/plain; charset=idna\r\nSubject: weird charset\r\n\r\n\xff\xfe",
    b'Content-Type: multipart/mixed; boundary="b"\r\nSubject: cut\r\n\r\n--b\r\nContent-Type: te',
]


@pytest.mark.parametrize("raw", MALFORMED, ids=[f"malformed{i}" for i in range(len(MALFORMED))])
async def test_malformed_mail_is_stored_and_readable(any_ctx: AppContext, raw: bytes) -> None:
    """Whatever the listener accepted is stored byte for byte and can be listed and read."""
    bob = await agent(any_ctx, "bob")
    delivered = await inbox.accept_message(any_ctx, raw, [bob])
    assert [c.uid for c in delivered.copies] == [1]
    assert await mailbox.read_raw(any_ctx, bob, 1) == raw
    view = await mailbox.read_message(any_ctx, bob, 1)
    assert "\x00" not in view.parsed.text
    page = await mailbox.list_folder(any_ctx, bob, "INBOX", limit=5, offset=0)
    assert page.total == 1
    assert page.messages[0].thread_id  # always some thread, even without a Message-ID


async def test_nul_bytes_are_dropped_from_the_index_but_kept_in_the_raw(
    any_ctx: AppContext,
) -> None:
    """Text with NUL is indexed without it (PostgreSQL refuses NUL in text) and is searchable."""
    bob = await agent(any_ctx, "bob")
    raw = MALFORMED[3]
    await inbox.accept_message(any_ctx, raw, [bob])
    record = (await mailbox.list_folder(any_ctx, bob, "INBOX", limit=1, offset=0)).messages[0]
    assert record.subject == "nulin subject"
    found, total = await mailbox.search_messages(
        any_ctx, bob, SearchCriteria(text=TextCriteria(text="nul")), limit=5, offset=0
    )
    assert (total, [m.uid for m in found]) == (1, [1])
    assert await mailbox.read_raw(any_ctx, bob, 1) == raw


async def test_messages_without_message_id_get_distinct_threads(any_ctx: AppContext) -> None:
    """Two id-less messages do not collapse into one thread."""
    bob = await agent(any_ctx, "bob")
    await inbox.accept_message(any_ctx, b"Subject: one\r\n\r\nx", [bob])
    await inbox.accept_message(any_ctx, b"Subject: two\r\n\r\ny", [bob])
    page = await mailbox.list_folder(any_ctx, bob, "INBOX", limit=5, offset=0)
    assert len({m.thread_id for m in page.messages}) == 2


async def test_inbound_reply_joins_the_thread_of_our_sent_message(any_ctx: AppContext) -> None:
    """An external reply quoting our Message-ID lands in the thread of what we sent."""
    bob = await agent(any_ctx, "bob")
    sent = await send(any_ctx, bob, "friend@example.com", "Question")
    reply = (
        f"From: friend@example.com\r\nTo: bob@localhost\r\nSubject: Re: Question\r\n"
        f"Message-ID: <r1@example.com>\r\nIn-Reply-To: {sent.message_id}\r\n"
        f"References: {sent.message_id}\r\n\r\nAnswer\r\n"
    ).encode()
    await inbox.accept_message(any_ctx, reply, [bob])
    record = await mailbox.require_uid(any_ctx, bob, 1, "INBOX")
    assert record.thread_id == sent.message_id
    assert record.in_reply_to == sent.message_id
