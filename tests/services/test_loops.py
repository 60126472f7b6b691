"""Loop protection (SQLite and PostgreSQL): the reply budget per thread and counterparty
refuses the reply that would go over it, tells the owner once, and leaves other threads,
other counterparties and first messages alone."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, update

from agentpost.domain.addresses import Address
from agentpost.domain.mime import OutgoingMessage, build_with_view
from agentpost.errors import ReplyLoop
from agentpost.services import loops
from agentpost.services.accounts import now_utc
from agentpost.services.context import AppContext
from agentpost.services.outbox import SendRequest, submit_message
from agentpost.storage.records import AgentRecord, utc
from agentpost.storage.repositories import scanning as scan_repo
from agentpost.storage.repositories.scanning import ReplyLogEntry
from agentpost.storage.tables import owners
from agentpost.storage.tables.audit import audit_log
from agentpost.storage.tables.scanning import reply_log

from .support import agent, table_counts

pytestmark = pytest.mark.anyio


async def _reply(ctx: AppContext, sender: AgentRecord, to: str, root: str) -> None:
    request = SendRequest(to=to, subject="Re: ping", text="pong", in_reply_to=root, references=root)
    await submit_message(ctx, sender, request)


async def _operations(ctx: AppContext) -> list[str]:
    async with ctx.db.read() as conn:
        result = await conn.execute(select(audit_log.c.operation).order_by(audit_log.c.seq))
        return [str(r[0]) for r in result]


async def test_reply_budget_stops_a_ping_pong_and_tells_the_owner(any_ctx: AppContext) -> None:
    any_ctx.settings = any_ctx.settings.model_copy(update={"reply_loop_limit": 2})
    alice = await agent(any_ctx, "alice")
    async with any_ctx.db.write() as conn:
        await conn.execute(update(owners).values(email="owner@example.com"))
    root = "<root@example.com>"
    for _ in range(2):
        await _reply(any_ctx, alice, "bot@example.com", root)
    before = await table_counts(any_ctx)
    async with any_ctx.events.subscribe(alice.id) as events:
        with pytest.raises(ReplyLoop) as caught:
            await _reply(any_ctx, alice, "bot@example.com", root)
        assert caught.value.status == 429 and caught.value.code == "reply_loop"
        event = events.get_nowait()
    assert event.type == "loop.stopped" and event.data["counterparty"] == "bot@example.com"
    after = await table_counts(any_ctx)
    # Nothing of the refused reply was stored; the only new message is the owner's notice.
    assert after["messages"] == before["messages"] + 1
    with pytest.raises(ReplyLoop):
        await _reply(any_ctx, alice, "bot@example.com", root)
    operations = await _operations(any_ctx)
    assert operations.count("loop.stopped") == 1  # the owner is told once per window
    assert operations.count("send.refused") == 2
    # Other threads and other counterparties keep their own budgets; new mail is not a reply.
    await _reply(any_ctx, alice, "bot@example.com", "<other@example.com>")
    await _reply(any_ctx, alice, "person@example.com", root)
    await submit_message(any_ctx, alice, SendRequest(to="bot@example.com", subject="New"))


async def test_two_agents_cannot_ping_pong(any_ctx: AppContext) -> None:
    any_ctx.settings = any_ctx.settings.model_copy(update={"reply_loop_limit": 3})
    alice, bob = await agent(any_ctx, "alice"), await agent(any_ctx, "bob")
    root = "<start@localhost>"
    with pytest.raises(ReplyLoop):
        for _ in range(10):
            await _reply(any_ctx, alice, "bob@localhost", root)
            await _reply(any_ctx, bob, "alice@localhost", root)
    assert "loop.stopped" in await _operations(any_ctx)


def test_stamp_adds_loop_headers_only_when_missing() -> None:
    raw = b"From: a@localhost\r\nSubject: x\r\n\r\nbody\r\n"
    stamped = loops.stamp(raw)
    assert stamped.startswith(b"Auto-Submitted: auto-generated\r\n")
    assert b"X-Auto-Response-Suppress: All\r\n" in stamped and stamped.endswith(raw)
    own = b"Auto-Submitted: auto-replied\r\nX-Auto-Response-Suppress: OOF\r\n" + raw
    assert loops.stamp(own) == own


@pytest.mark.parametrize(
    "extra",
    [{}, {"Auto-Submitted": "auto-replied"}, {"X-Auto-Response-Suppress": "OOF, AutoReply"}],
)
def test_messages_our_builder_makes_need_no_stamp(extra: dict[str, str]) -> None:
    """The send path skips ``stamp`` for messages it built itself (those with a view):
    they must already carry both loop headers, the caller's own where given."""
    out = OutgoingMessage(
        sender=Address(address="a@localhost"),
        to=[Address(address="b@example.com")],
        subject="x",
        text="body",
        extra_headers=extra,
    )
    raw, view = build_with_view(out, message_id="<m@localhost>", date=now_utc())
    assert view is not None
    assert loops.stamp(raw) is raw
    for name, value in extra.items():
        assert f"{name}: {value}\r\n".encode() in raw


async def test_old_reply_log_rows_are_pruned_but_first_contact_is_remembered(
    any_ctx: AppContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rows older than the window count for nothing and are pruned (here on every send);
    each counterparty's newest row stays, so a past correspondent is no first contact.
    Rows inside the window and other agents' rows are left alone."""
    monkeypatch.setattr(loops, "PRUNE_EVERY", 1)
    alice = await agent(any_ctx, "alice")
    bob = await agent(any_ctx, "bob")
    old = now_utc() - timedelta(seconds=any_ctx.settings.reply_loop_window_seconds + 60)
    recent = now_utc() - timedelta(seconds=60)
    entries = [
        *(
            ReplyLogEntry(alice.id, ["bot@example.com"], "<t>", True, old - timedelta(minutes=m))
            for m in (3, 2, 1)
        ),
        ReplyLogEntry(alice.id, ["ann@example.com"], "<u>", False, old),
        ReplyLogEntry(alice.id, ["ann@example.com"], "<u>", True, recent),
        ReplyLogEntry(bob.id, ["bot@example.com"], "<t>", True, old),
    ]
    async with any_ctx.db.write() as conn:
        await scan_repo.log_sends(conn, entries)

    await submit_message(any_ctx, alice, SendRequest(to="new@example.com", subject="Hi"))

    async with any_ctx.db.read() as conn:
        result = await conn.execute(
            select(reply_log.c.agent_id, reply_log.c.counterparty, reply_log.c.sent_at)
        )
        left = sorted((r[0] == alice.id, r[1], utc(r[2]) > old) for r in result)
        assert await scan_repo.has_written_to(conn, alice.id, "bot@example.com")
        assert await scan_repo.has_written_to(conn, alice.id, "ann@example.com")
    assert left == [
        (False, "bot@example.com", False),  # bob's row: not alice's to prune
        (True, "ann@example.com", True),  # inside the window
        (True, "bot@example.com", False),  # the newest of three old rows
        (True, "new@example.com", True),  # this send
    ]
