"""The audit chain's lock comes after folder rows (services/send_locks.py): a transaction
that appends to the chain and then stores a copy in a mailbox deadlocks, on PostgreSQL, with
a send that stores into the same folder and then appends its own audit row.

Two places did it in that order, and these tests reproduced each deadlock every time:

* ``delivery.record`` appended the outcomes' audit rows, then filed the bounce notices (now
  the bounces come first);
* ``pending.approve`` audited the approval inside ``claim``, which ``outbox._apply`` runs
  before the group's messages are stored (now from ``within``, after them).

Two ``AppContext`` objects on one database are two processes. Process two stores first and
waits, holding the folder row, until the database shows process one waiting for it; then it
asks for the audit lock, which process one holds if it took it before the folder row.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from agentpost.config import Settings
from agentpost.services import delivery, mailbox, outbox, pending
from agentpost.services.context import AppContext
from agentpost.services.delivery import MessageOutcome, RowResult
from agentpost.services.outbox import SendRequest
from agentpost.services.store import CopySpec, StoredCopy, store_copies
from agentpost.storage.records import AgentRecord
from agentpost.storage.repositories.delivery import ClaimedRow

from .support import admin, agent
from .two_processes import pg_processes, until_waited_on

pytestmark = [pytest.mark.anyio, pytest.mark.postgres]

CARD = "Please charge card 4242 4242 4242 4242 for the order."  # held for a stranger


@pytest.fixture
async def processes(settings: Settings) -> AsyncIterator[tuple[AppContext, AppContext]]:
    async with pg_processes(settings) as both:
        yield both


def _store_then_wait(two: AppContext, monkeypatch: pytest.MonkeyPatch) -> asyncio.Event:
    """Process two's sends, once stored, hold their folder rows until someone waits for
    them. Returns the event set at that moment."""
    holds = asyncio.Event()

    async def gated(conn: AsyncConnection, dialect: str, specs: list[CopySpec]) -> list[StoredCopy]:
        stored = await store_copies(conn, dialect, specs)
        if conn.sync_engine is two.db.engine.sync_engine:
            holds.set()
            pid = (await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one()
            await until_waited_on(two, int(pid))
        return stored

    monkeypatch.setattr(outbox, "store_copies", gated)
    return holds


async def _write(ctx: AppContext, sender: AgentRecord, to: str, subject: str) -> list[Any]:
    """One send as its own group, the way the group committer writes it (without its
    fallback to send-by-send, which would hide a deadlock)."""
    raw, envelope, view = outbox.render(ctx, sender, SendRequest(to=to, subject=subject))
    prepared = await outbox._prepared(ctx, sender, raw, envelope, view=view)
    async with ctx.db.write() as conn:
        return list(await outbox._write_group(ctx, conn, [prepared]))


def _failed(rows: Sequence[ClaimedRow]) -> MessageOutcome:
    results = [RowResult(row, "failed", 550, "5.1.1 mailbox unknown") for row in rows]
    now = datetime.now(tz=UTC)
    return MessageOutcome(results, None, now, 5, b"Subject: Plans\r\n")


async def test_a_bounce_and_a_send_into_one_inbox_both_commit(
    processes: tuple[AppContext, AppContext], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Process one records that alice's mail bounced (audit rows, then the bounce notice
    into her INBOX); process two stores bob's mail into alice's INBOX, then audits it."""
    one, two = processes
    alice, bob = await agent(one, "alice"), await agent(one, "bob")
    await _write(one, alice, "ghost@example.com", "Plans")
    rows = await delivery.claim(one, "w1", 10)
    assert [r.recipient for r in rows] == ["ghost@example.com"]
    holds = _store_then_wait(two, monkeypatch)

    async def bounce_later() -> None:
        await holds.wait()
        await delivery.record(one, "w1", [_failed(rows)])

    sent, _ = await asyncio.gather(_write(two, bob, "alice@localhost", "hello"), bounce_later())

    assert [o.result.status for o in sent] == ["delivered"]
    inbox = await mailbox.list_folder(one, alice, "INBOX", limit=10, offset=0)
    assert sorted(m.from_addr for m in inbox.messages) == ["MAILER-DAEMON@localhost", bob.address]


async def test_an_approval_and_a_send_from_the_same_agent_both_commit(
    processes: tuple[AppContext, AppContext], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Process one releases hilda's held mail (audited in the claim, then stored in her
    Sent folder); process two stores hilda's mail to carol (her Sent folder too), then
    audits it. Local mail takes no send lock that would order the two first."""
    one, two = processes
    hilda, carol = await agent(one, "hilda"), await agent(one, "carol")
    raw, envelope, view = outbox.render(
        one, hilda, SendRequest(to="stranger@example.com", subject="held", text=CARD)
    )
    result = await outbox.store_outgoing(one, hilda, raw, envelope, view=view)
    held = result.held
    assert held is not None
    holds = _store_then_wait(two, monkeypatch)
    root = await admin(one)

    async def approve_later() -> outbox.SendResult:
        await holds.wait()
        return await pending.approve(one, root, held.pending_id)

    sent, approved = await asyncio.gather(
        _write(two, hilda, "carol@localhost", "hi"), approve_later()
    )

    assert [o.result.status for o in sent] == ["delivered"]
    assert approved.status == "queued"
    box = await mailbox.list_folder(one, hilda, "Sent", limit=10, offset=0)
    assert sorted(m.subject for m in box.messages) == ["held", "hi"]
    inbox = await mailbox.list_folder(one, carol, "INBOX", limit=10, offset=0)
    assert [m.subject for m in inbox.messages] == ["hi"]
