"""Groups of sends take their locks in one global order, so groups in two processes on
PostgreSQL wait for each other instead of deadlocking (which PostgreSQL breaks only after
``deadlock_timeout``, failing one group back to send-by-send); a lock the up-front plan
missed is taken later only where it keeps that order.

Two ``AppContext`` objects on one database are two processes. Each group is written with
``outbox._write_group`` in a transaction of its own, as the group committer does; a deadlock
error would surface from it. The gates below make the interleaving that deadlocks with a
wrong order happen every time instead of by chance; with the right order they never stall.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from agentpost.config import Settings
from agentpost.services import mailbox, outbox, permissions, send_locks
from agentpost.services.audit import AUDIT_LOCK
from agentpost.services.context import AppContext
from agentpost.services.outbox import SendRequest
from agentpost.services.send_locks import lock_key
from agentpost.services.store import StoredCopy, store_copies
from agentpost.storage.records import AgentRecord
from agentpost.storage.tables import deliveries
from agentpost.testing.permissions import grant, make_config

from .support import admin, agent, table_counts
from .two_processes import pg_processes

pytestmark = pytest.mark.anyio

CARD = "Please charge card 4242 4242 4242 4242 for the order."  # held for a stranger


@pytest.fixture
async def processes(settings: Settings) -> AsyncIterator[tuple[AppContext, AppContext]]:
    async with pg_processes(settings) as both:
        yield both


async def _prepared(
    ctx: AppContext, sender: AgentRecord, to: str, subject: str, text: str = "hi"
) -> Any:
    request = SendRequest(to=to, subject=subject, text=text)
    raw, envelope, view = outbox.render(ctx, sender, request)
    return await outbox._prepared(ctx, sender, raw, envelope, view=view)


async def _write(ctx: AppContext, sends: Sequence[Any]) -> list[Any]:
    """One group in one transaction, the way the group committer writes it."""
    async with ctx.db.write() as conn:
        return list(await outbox._write_group(ctx, conn, sends))


Serialize = Callable[[AsyncConnection, int], Awaitable[None]]


@dataclass
class _Process:
    """The advisory locks one context's transactions took, in order."""

    taken: list[int] = field(default_factory=list)
    holds_two: asyncio.Event = field(default_factory=asyncio.Event)


@pytest.mark.postgres
async def test_two_groups_in_opposite_orders_both_commit_without_deadlock(
    processes: tuple[AppContext, AppContext], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Process one writes [xavier via configuration A, yvonne via B], process two the same
    sends the other way round. Both groups commit whole (no deadlock error, so no fallback to
    send-by-send), each takes its configurations' locks before its agents', and every send
    is stored exactly once."""
    one, two = processes
    owner = await admin(one)
    xavier, yvonne = await agent(one, "xavier"), await agent(one, "yvonne")
    config_a = await make_config(one, owner.owner_id, "a")
    config_b = await make_config(one, owner.owner_id, "b")
    await grant(one, owner, "xavier", config_a)
    await grant(one, owner, "yvonne", config_b)
    configs = {lock_key("config", config_a), lock_key("config", config_b)}
    agents = {lock_key("agent", xavier.id), lock_key("agent", yvonne.id)}

    first = [
        await _prepared(one, xavier, "p@example.com", "one-x"),
        await _prepared(one, yvonne, "q@example.com", "one-y"),
    ]
    second = [
        await _prepared(two, yvonne, "q@example.com", "two-y"),
        await _prepared(two, xavier, "p@example.com", "two-x"),
    ]

    seen = [_Process(), _Process()]
    for index, ctx in enumerate((one, two)):
        me, other = seen[index], seen[1 - index]
        real: Serialize = ctx.db.serialize

        async def gated(
            conn: AsyncConnection, key: int, real: Serialize = real, me: _Process = me,
            other: _Process = other,
        ) -> None:  # fmt: skip
            # A configuration's lock taken after an agent's inverts the order: let the other
            # process first take its own two, so that both then wait for each other.
            if key in configs and any(k in agents for k in me.taken):
                await other.holds_two.wait()
            await real(conn, key)
            me.taken.append(key)
            if sum(k in configs | agents for k in me.taken) >= 2:
                me.holds_two.set()

        monkeypatch.setattr(ctx.db, "serialize", gated)

    done_one, done_two = await asyncio.gather(_write(one, first), _write(two, second))

    for outcomes in (done_one, done_two):
        assert [type(o).__name__ for o in outcomes] == ["_Done", "_Done"], outcomes
        assert [o.result.status for o in outcomes] == ["queued", "queued"]
    for process in seen:
        taken = [k for k in process.taken if k in configs | agents]
        assert set(taken) == configs | agents
        kinds = ["config" if k in configs else "agent" for k in taken]
        assert kinds == ["config", "config", "agent", "agent"], kinds
    for who, subjects in ((xavier, ["one-x", "two-x"]), (yvonne, ["one-y", "two-y"])):
        sent = await mailbox.list_folder(one, who, "Sent", limit=10, offset=0)
        assert sorted(m.subject for m in sent.messages) == subjects
    async with one.db.read() as conn:
        rows = (await conn.execute(select(deliveries.c.recipient, deliveries.c.config_id))).all()
    expected = [("p@example.com", config_a)] * 2 + [("q@example.com", config_b)] * 2
    assert sorted(map(tuple, rows)) == sorted(expected)


@pytest.mark.postgres
async def test_a_held_send_takes_the_audit_lock_after_the_groups_folder_locks(
    processes: tuple[AppContext, AppContext], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Process one writes [hilda's mail held by the guard, xavier's mail to carol], process
    two [walter's mail to carol]. Every other transaction locks carol's INBOX row, then the
    audit chain; a group that audited its held mail before storing its other sends would
    hold the audit lock while waiting for that folder row: a deadlock. Both commit."""
    one, two = processes
    hilda, xavier = await agent(one, "hilda"), await agent(one, "xavier")
    walter, carol = await agent(one, "walter"), await agent(one, "carol")
    first = [
        await _prepared(one, hilda, "stranger@example.com", "held", text=CARD),
        await _prepared(one, xavier, "carol@localhost", "from-x"),
    ]
    second = [await _prepared(two, walter, "carol@localhost", "from-w")]

    one_storing, one_audits, two_stored = asyncio.Event(), asyncio.Event(), asyncio.Event()

    async def gated_store(
        conn: AsyncConnection, dialect: str, specs: list[Any]
    ) -> list[StoredCopy]:
        if conn.sync_engine is one.db.engine.sync_engine:
            one_storing.set()
            await two_stored.wait()  # process two holds carol's INBOX row by now
            return await store_copies(conn, dialect, specs)
        stored = await store_copies(conn, dialect, specs)
        two_stored.set()
        return stored

    real_one, real_two = one.db.serialize, two.db.serialize

    async def audit_one(conn: AsyncConnection, key: int) -> None:
        await real_one(conn, key)
        if key == AUDIT_LOCK:
            one_audits.set()

    async def audit_two(conn: AsyncConnection, key: int) -> None:
        if key == AUDIT_LOCK:  # after process one took the audit lock, or began storing
            waits = [asyncio.ensure_future(e.wait()) for e in (one_audits, one_storing)]
            _, pending = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
            for task in pending:
                task.cancel()
        await real_two(conn, key)

    monkeypatch.setattr(outbox, "store_copies", gated_store)
    monkeypatch.setattr(one.db, "serialize", audit_one)
    monkeypatch.setattr(two.db, "serialize", audit_two)

    done_one, done_two = await asyncio.gather(_write(one, first), _write(two, second))

    assert [o.result.status for o in done_one] == ["held", "delivered"]
    assert [o.result.status for o in done_two] == ["delivered"]
    inbox = await mailbox.list_folder(one, carol, "INBOX", limit=10, offset=0)
    assert sorted(m.subject for m in inbox.messages) == ["from-w", "from-x"]
    assert sorted(m.uid for m in inbox.messages) == [1, 2]


async def test_a_send_whose_locks_were_not_taken_up_front_takes_them_only_in_order(
    any_ctx: AppContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Should the up-front plan miss a send's locks (it cannot today: the plan and the check
    decide from the same rows), the send takes them itself if they sort after every lock its
    group holds; otherwise its group gives up before locking anything more (rolled back,
    then sent send by send, as the group committer does with any failed group)."""
    owner = await admin(any_ctx)
    low, high = sorted([await agent(any_ctx, "xavier"), await agent(any_ctx, "yvonne")], key=_id)
    config = await make_config(any_ctx, owner.owner_id, "a")
    for who in (low, high):
        await grant(any_ctx, owner, who.name, config)
    planned = permissions.planned_locks

    async def missing(ctx: AppContext, conn: Any, sender: AgentRecord, *rest: Any) -> Any:
        return [] if sender.id == unplanned else await planned(ctx, conn, sender, *rest)

    monkeypatch.setattr(permissions, "planned_locks", missing)
    taken: list[int] = []
    real: Serialize = any_ctx.db.serialize

    async def recording(conn: AsyncConnection, key: int) -> None:
        taken.append(key)
        await real(conn, key)

    monkeypatch.setattr(any_ctx.db, "serialize", recording)

    unplanned = high.id  # its agent lock sorts after the held ones: taken when checked
    group = [await _prepared(any_ctx, who, "p@example.com", who.name) for who in (low, high)]
    done = await _write(any_ctx, group)
    assert [o.result.status for o in done] == ["queued", "queued"]
    order = [lock_key("config", config), lock_key("agent", low.id), lock_key("agent", high.id)]
    assert taken[:3] == order

    unplanned = low.id  # its agent lock sorts before the held one of ``high``
    group = [await _prepared(any_ctx, who, "p@example.com", who.name) for who in (high, low)]
    before = await table_counts(any_ctx)
    with pytest.raises(send_locks.LockOrderBroken):
        await _write(any_ctx, group)
    assert await table_counts(any_ctx) == before
    for single in group:  # alone, a send takes its own locks in order: nothing to break
        [alone] = await _write(any_ctx, [single])
        assert alone.result.status == "queued"
    assert (await table_counts(any_ctx))["deliveries"] == before["deliveries"] + 2


def _id(record: AgentRecord) -> str:
    return record.id
