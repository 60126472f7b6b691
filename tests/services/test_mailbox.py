"""An agent's mailbox on SQLite and PostgreSQL: listing, flags, moving, deleting, folders,
and isolation between agents."""

from __future__ import annotations

import asyncio

import pytest

from agentpost.errors import (
    DeliveryPending,
    FolderExists,
    FolderNotFound,
    InvalidInput,
    MessageNotFound,
)
from agentpost.services import mailbox, queue
from agentpost.services.context import AppContext
from agentpost.services.queue import QueueSelection
from agentpost.storage.records import AgentRecord

from .support import admin, agent, fresh, send, table_counts

pytestmark = pytest.mark.anyio


async def _inbox_of_three(ctx: AppContext) -> tuple[AgentRecord, AgentRecord]:
    alice = await agent(ctx, "alice")
    bob = await agent(ctx, "bob")
    for subject in ("one", "two", "three"):
        await send(ctx, alice, "bob@localhost", subject, text=f"body {subject}")
    return alice, bob


async def _uids(ctx: AppContext, who: AgentRecord, folder: str) -> list[int]:
    page = await mailbox.list_folder(ctx, who, folder, limit=100, offset=0)
    return sorted(m.uid for m in page.messages)


async def test_list_folder_pages_newest_first_with_the_total(any_ctx: AppContext) -> None:
    """Listing is newest first by UID, honours limit and offset, and reports the folder total."""
    _, bob = await _inbox_of_three(any_ctx)
    first = await mailbox.list_folder(any_ctx, bob, "INBOX", limit=2, offset=0)
    second = await mailbox.list_folder(any_ctx, bob, "INBOX", limit=2, offset=2)
    assert (first.folder, first.total, second.total) == ("INBOX", 3, 3)
    assert [m.subject for m in first.messages] == ["three", "two"]
    assert [m.subject for m in second.messages] == ["one"]
    assert first.messages[0].preview == "body three"
    with pytest.raises(FolderNotFound):
        await mailbox.list_folder(any_ctx, bob, "Nope", limit=2, offset=0)


async def test_list_folders_counts_total_and_unseen(any_ctx: AppContext) -> None:
    """Folder counts follow arrivals, reads and sends."""
    alice, bob = await _inbox_of_three(any_ctx)
    await mailbox.set_seen(any_ctx, bob, [1], seen=True)
    counts = {f.name: (f.total, f.unseen) for f in await mailbox.list_folders(any_ctx, bob)}
    assert counts["INBOX"] == (3, 2)
    assert counts["Sent"] == (0, 0)
    sender = {f.name: (f.total, f.unseen) for f in await mailbox.list_folders(any_ctx, alice)}
    assert sender["Sent"] == (3, 0)


async def test_set_seen_marks_and_unmarks_and_reports_existing_uids(
    any_ctx: AppContext,
) -> None:
    """Marking returns only the UIDs that exist; reading does not mark (BODY.PEEK)."""
    _, bob = await _inbox_of_three(any_ctx)
    await mailbox.read_message(any_ctx, bob, 2)
    assert (await mailbox.require_uid(any_ctx, bob, 2)).seen is False
    assert await mailbox.set_seen(any_ctx, bob, [2, 3, 99], seen=True) == [2, 3]
    records = {uid: (await mailbox.require_uid(any_ctx, bob, uid)).seen for uid in (1, 2, 3)}
    assert records == {1: False, 2: True, 3: True}
    assert await mailbox.set_seen(any_ctx, bob, [3], seen=False) == [3]
    assert (await mailbox.require_uid(any_ctx, bob, 3)).seen is False


@pytest.mark.parametrize("uids", [[], [0], [-1], ["1"], [True], list(range(1, 1002))])
async def test_bad_uid_lists_are_invalid_input(any_ctx: AppContext, uids: list[object]) -> None:
    """UID batches must be 1-1000 positive integers; the error names the field."""
    _, bob = await _inbox_of_three(any_ctx)
    with pytest.raises(InvalidInput) as caught:
        await mailbox.set_seen(any_ctx, bob, uids, seen=True)  # type: ignore[arg-type]
    assert caught.value.field == "uids"


async def test_move_gives_a_new_uid_in_the_target_folder(any_ctx: AppContext) -> None:
    """A moved message takes the target folder's next UID and leaves the source."""
    _, bob = await _inbox_of_three(any_ctx)
    await mailbox.create_folder(any_ctx, bob, "Projects")
    assert await mailbox.move_messages(any_ctx, bob, [2, 3], source="INBOX", target="Projects") == {
        2: 1,
        3: 2,
    }
    assert await mailbox.move_messages(any_ctx, bob, [1], source="inbox", target="Projects") == {
        1: 3
    }
    assert await _uids(any_ctx, bob, "INBOX") == []
    moved = await mailbox.read_message(any_ctx, bob, 1, "Projects")
    assert (moved.record.subject, moved.record.folder) == ("two", "Projects")
    with pytest.raises(MessageNotFound):
        await mailbox.read_message(any_ctx, bob, 2, "INBOX")


async def test_move_skips_missing_uids_and_refuses_same_folder(any_ctx: AppContext) -> None:
    """Unknown UIDs are skipped (not errors); moving onto the same folder is refused."""
    _, bob = await _inbox_of_three(any_ctx)
    assert await mailbox.move_messages(any_ctx, bob, [1, 42], source="INBOX", target="Archive") == {
        1: 1
    }
    with pytest.raises(InvalidInput):
        await mailbox.move_messages(any_ctx, bob, [2], source="INBOX", target="inbox")
    with pytest.raises(FolderNotFound):
        await mailbox.move_messages(any_ctx, bob, [2], source="INBOX", target="Missing")
    assert await _uids(any_ctx, bob, "INBOX") == [2, 3]


async def test_uids_are_never_reused_after_delete_or_move(any_ctx: AppContext) -> None:
    """IMAP UIDs only grow (RFC 3501 §2.3.1.1): freed numbers are not handed out again."""
    alice, bob = await _inbox_of_three(any_ctx)
    await mailbox.delete_messages(any_ctx, bob, [3])
    await mailbox.move_messages(any_ctx, bob, [2], source="INBOX", target="Archive")
    await mailbox.delete_messages(any_ctx, bob, [1], folder="Trash")
    await send(any_ctx, alice, "bob@localhost", "four")
    assert await _uids(any_ctx, bob, "INBOX") == [1, 4]
    await mailbox.delete_messages(any_ctx, bob, [1, 4])
    await mailbox.delete_messages(any_ctx, bob, [1, 2, 3], folder="Trash")
    await send(any_ctx, alice, "bob@localhost", "five")
    assert await _uids(any_ctx, bob, "INBOX") == [5]
    assert await _uids(any_ctx, bob, "Trash") == []


async def test_delete_moves_to_trash_then_expunges_and_frees_quota(any_ctx: AppContext) -> None:
    """Deleting moves to Trash (bytes still counted); deleting from Trash removes the message,
    its index entry and its unshared blob, and gives the bytes back."""
    alice, bob = await _inbox_of_three(any_ctx)
    used = (await fresh(any_ctx, bob)).used_bytes
    size = (await mailbox.require_uid(any_ctx, bob, 1)).size

    assert await mailbox.delete_messages(any_ctx, bob, [1, 77]) == [1]
    in_trash = await mailbox.read_message(any_ctx, bob, 1, "Trash")
    assert in_trash.record.subject == "one"
    assert (await fresh(any_ctx, bob)).used_bytes == used
    before = await table_counts(any_ctx)

    assert await mailbox.delete_messages(any_ctx, bob, [1], folder="Trash") == [1]
    with pytest.raises(MessageNotFound):
        await mailbox.read_message(any_ctx, bob, 1, "Trash")
    assert (await fresh(any_ctx, bob)).used_bytes == used - size
    after = await table_counts(any_ctx)
    assert after["messages"] == before["messages"] - 1
    # The blob is shared with alice's Sent copy, so it stays until that copy goes too.
    assert after["message_blobs"] == before["message_blobs"]
    if "messages_fts" in after:
        assert after["messages_fts"] == before["messages_fts"] - 1

    await mailbox.delete_messages(any_ctx, alice, [1], folder="Sent")
    await mailbox.delete_messages(any_ctx, alice, [1], folder="Trash")
    assert (await table_counts(any_ctx))["message_blobs"] == before["message_blobs"] - 1
    assert (await fresh(any_ctx, alice)).used_bytes == used - size  # her two other Sent copies


async def test_expunging_a_sent_copy_in_delivery_is_refused_until_cancelled(
    any_ctx: AppContext,
) -> None:
    """A Sent copy whose external delivery is still queued may go to Trash, but removing it
    for good would cascade its delivery rows away: 409 delivery_pending, nothing removed (the
    whole batch), until the owner cancels the delivery explicitly."""
    alice = await agent(any_ctx, "alice")
    await agent(any_ctx, "bob")
    await send(any_ctx, alice, "carol@example.com", "on its way")
    await send(any_ctx, alice, "bob@localhost", "local only")
    assert await mailbox.delete_messages(any_ctx, alice, [1, 2], folder="Sent") == [1, 2]
    before = await table_counts(any_ctx)

    with pytest.raises(DeliveryPending) as refused:
        await mailbox.delete_messages(any_ctx, alice, [1, 2], folder="Trash")
    assert refused.value.code == "delivery_pending" and refused.value.status == 409
    assert "UID 1:" in refused.value.message and "agentpost queue cancel" in refused.value.message
    assert await table_counts(any_ctx) == before
    assert await _uids(any_ctx, alice, "Trash") == [1, 2]

    # The local-only copy has nothing in flight: it goes on its own.
    assert await mailbox.delete_messages(any_ctx, alice, [2], folder="Trash") == [2]
    cancelled = await queue.cancel(
        any_ctx, await admin(any_ctx), QueueSelection(agent="alice", everything=True)
    )
    assert cancelled == 1
    assert await mailbox.delete_messages(any_ctx, alice, [1], folder="Trash") == [1]
    assert await _uids(any_ctx, alice, "Trash") == []
    assert (await table_counts(any_ctx))["deliveries"] == before["deliveries"] - 2


async def test_folder_create_alias_and_duplicates(any_ctx: AppContext) -> None:
    """New folders are created once; names differing only by case, and aliases of special
    folders, conflict; invalid names are a 400 naming the field."""
    bob = await agent(any_ctx, "bob")
    created = await mailbox.create_folder(any_ctx, bob, "  Receipts ")
    assert (created.name, created.total, created.unseen) == ("Receipts", 0, 0)
    for duplicate in ("Receipts", "receipts", "RECEIPTS", "Sent Items", "inbox", "trash"):
        with pytest.raises(FolderExists):
            await mailbox.create_folder(any_ctx, bob, duplicate)
    for bad in ("", "a*", "x\r\ny", "/lead"):
        with pytest.raises(InvalidInput) as caught:
            await mailbox.create_folder(any_ctx, bob, bad)
        assert caught.value.field == "name"
    names = [f.name for f in await mailbox.list_folders(any_ctx, bob)]
    assert names.count("Receipts") == 1 and names[-1] == "Receipts"


async def test_folder_aliases_reach_the_special_folders(any_ctx: AppContext) -> None:
    """'Sent Items' and friends read the Sent folder, as clients expect."""
    alice = await agent(any_ctx, "alice")
    await send(any_ctx, alice, "x@example.com", "out")
    page = await mailbox.list_folder(any_ctx, alice, "Sent Items", limit=5, offset=0)
    assert (page.folder, page.total) == ("Sent", 1)
    assert (await mailbox.read_message(any_ctx, alice, 1, "sent messages")).record.subject == "out"


async def test_agents_cannot_reach_each_others_mail(any_ctx: AppContext) -> None:
    """Another agent's UID is simply not found: no reading, flagging, moving or deleting."""
    alice, bob = await _inbox_of_three(any_ctx)
    with pytest.raises(MessageNotFound):
        await mailbox.read_message(any_ctx, alice, 1)
    assert await mailbox.set_seen(any_ctx, alice, [1, 2, 3], seen=True) == []
    assert await mailbox.delete_messages(any_ctx, alice, [1, 2, 3]) == []
    assert await mailbox.move_messages(any_ctx, alice, [1], source="INBOX", target="Archive") == {}
    page = await mailbox.list_folder(any_ctx, bob, "INBOX", limit=5, offset=0)
    assert [m.seen for m in page.messages] == [False, False, False]
    assert await _uids(any_ctx, bob, "INBOX") == [1, 2, 3]
    with pytest.raises(MessageNotFound):
        await mailbox.read_raw(any_ctx, alice, 2, "INBOX")


async def test_read_many_returns_existing_messages_in_uid_order(any_ctx: AppContext) -> None:
    """Batch reads parse every found message and leave unknown UIDs out."""
    _, bob = await _inbox_of_three(any_ctx)
    views = await mailbox.read_many(any_ctx, bob, [3, 1, 50, 3])
    assert [(v.record.uid, v.parsed.text) for v in views] == [
        (1, "body one\n"),
        (3, "body three\n"),
    ]


@pytest.mark.postgres
async def test_moves_in_opposite_directions_at_once_do_not_deadlock(any_ctx: AppContext) -> None:
    """Two moves A→B and B→A at the same time touch both folder rows (UIDs, counters): they
    must take them in one order, or PostgreSQL kills one of them as a deadlock."""
    alice, bob = await agent(any_ctx, "alice"), await agent(any_ctx, "bob")
    await mailbox.create_folder(any_ctx, bob, "Projects")
    for n in range(40):
        await send(any_ctx, alice, "bob@localhost", subject=f"m{n}")
    inbox = await _uids(any_ctx, bob, "INBOX")
    await mailbox.move_messages(any_ctx, bob, inbox[:20], source="INBOX", target="Projects")
    for _ in range(5):
        here = await _uids(any_ctx, bob, "INBOX")
        there = await _uids(any_ctx, bob, "Projects")
        await asyncio.gather(
            mailbox.move_messages(any_ctx, bob, here, source="INBOX", target="Projects"),
            mailbox.move_messages(any_ctx, bob, there, source="Projects", target="INBOX"),
        )
    counts = {f.name: f.total for f in await mailbox.list_folders(any_ctx, bob)}
    assert counts["INBOX"] + counts["Projects"] == 40
