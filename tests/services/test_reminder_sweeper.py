"""Held-mail reminders reach an agent that only reads its mail: check_messages hands them out
once, the scheduler's sweep announces them to the agent's listeners only, and each reminder
is claimed once whoever asks (pending tools, check_messages, streams, other processes)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from agentpost.config import Settings
from agentpost.services import accounts, agent_messages, pending, reminder_sweeper
from agentpost.services.accounts import Principal, PrincipalKind
from agentpost.services.context import AppContext, build_context
from agentpost.services.events import Event
from agentpost.services.reminder_sweeper import REMINDER, REMINDER_DUE, ReminderSweeper
from agentpost.storage.records import AgentRecord
from agentpost.storage.tables.guard import pending_outbound
from agentpost.testing.postgres import create_database, database_url, drop_database

from .support import agent, send

pytestmark = pytest.mark.anyio
CARD = "card 4242 4242 4242 4242"


async def held(ctx: AppContext, sender: AgentRecord, subject: str = "Invoice") -> str:
    result = await send(ctx, sender, "client@example.com", subject=subject, text=CARD)
    assert result.held is not None
    return result.held.pending_id


async def age(ctx: AppContext, pending_id: str, hours: float) -> None:
    """Move the item ``hours`` into the past, as if that much time had gone by."""
    shift = timedelta(hours=hours)
    table = pending_outbound.c
    async with ctx.db.write() as conn:
        row = (
            await conn.execute(
                select(table.created_at, table.expires_at, table.reminded_at).where(
                    table.id == pending_id
                )
            )
        ).one()
        await conn.execute(
            update(pending_outbound)
            .where(table.id == pending_id)
            .values(
                created_at=row.created_at - shift,
                expires_at=row.expires_at - shift,
                reminded_at=row.reminded_at and row.reminded_at - shift,
            )
        )


async def next_event(queue: asyncio.Queue[Event]) -> Event:
    return await asyncio.wait_for(queue.get(), 5)


async def test_check_messages_hands_out_a_due_reminder_once(any_ctx: AppContext) -> None:
    alice = await agent(any_ctx, "alice")
    pending_id = await held(any_ctx, alice)
    first = await agent_messages.check_messages(any_ctx, alice)
    assert first.reminders == []  # held a moment ago: nothing due yet
    await age(any_ctx, pending_id, 12.5)
    due = await agent_messages.check_messages(any_ctx, alice)
    assert [(n.record.id, n.label) for n in due.reminders] == [
        (pending_id, "follow-up reminder 1/4")
    ]
    assert due.reminders[0].record.subject == "Invoice"
    assert due.reminders[0].next_at == due.reminders[0].record.created_at + timedelta(hours=18)
    assert (await agent_messages.check_messages(any_ctx, alice)).reminders == []
    # The pending tools share the claim: they do not repeat what check_messages handed out.
    as_alice = Principal(PrincipalKind.agent, alice.owner_id, alice)
    assert await pending.claim_reminders(any_ctx, as_alice) == []
    await age(any_ctx, pending_id, 6)  # 18.5 h: the second step
    labels = [n.label for n in await pending.claim_reminders(any_ctx, as_alice)]
    assert labels == ["follow-up reminder 2/4"]
    assert (await agent_messages.check_messages(any_ctx, alice)).reminders == []


async def test_resolved_and_other_agents_items_are_not_reminded(any_ctx: AppContext) -> None:
    alice = await agent(any_ctx, "alice")
    bob = await agent(any_ctx, "bob")
    rejected = await held(any_ctx, alice, "Rejected one")
    bobs = await held(any_ctx, bob, "Bob's")
    await age(any_ctx, rejected, 13)
    await age(any_ctx, bobs, 13)
    owner = Principal(PrincipalKind.owner, alice.owner_id)
    await pending.reject(any_ctx, owner, rejected)
    assert (await agent_messages.check_messages(any_ctx, alice)).reminders == []
    assert [n.record.id for n in (await agent_messages.check_messages(any_ctx, bob)).reminders] == [
        bobs
    ]


async def test_the_sweep_announces_to_that_agent_only_and_claims_nothing(
    any_ctx: AppContext,
) -> None:
    alice = await agent(any_ctx, "alice")
    bob = await agent(any_ctx, "bob")
    pending_id = await held(any_ctx, alice)
    assert await reminder_sweeper.announce_due(any_ctx) == 0
    await age(any_ctx, pending_id, 12.5)
    async with (
        any_ctx.events.subscribe(alice.id) as alice_q,
        any_ctx.events.subscribe(bob.id) as bob_q,
    ):
        assert await reminder_sweeper.announce_due(any_ctx) == 1
        assert (await next_event(alice_q)).type == REMINDER_DUE
        assert bob_q.empty()
    # Nobody claimed it: an agent that was not listening still gets it when it checks.
    notes = (await agent_messages.check_messages(any_ctx, alice)).reminders
    assert [n.record.id for n in notes] == [pending_id]
    assert await reminder_sweeper.announce_due(any_ctx) == 0  # handed out: no more news


async def test_a_listener_claims_the_announced_reminder_once(any_ctx: AppContext) -> None:
    alice = await agent(any_ctx, "alice")
    pending_id = await held(any_ctx, alice, "Quarterly figures")
    await age(any_ctx, pending_id, 21.5)
    claims = await asyncio.gather(
        *(reminder_sweeper.claim_reminder_event(any_ctx, alice.id) for _ in range(4))
    )
    won = [event for event in claims if event is not None]
    assert len(won) == 1
    event = won[0]
    assert (event.agent_id, event.type) == (alice.id, REMINDER)
    (reminder,) = event.data["reminders"]
    assert reminder["pendingId"] == pending_id
    assert reminder["label"] == "follow-up reminder 3/4"
    assert (reminder["subject"], reminder["to"]) == ("Quarterly figures", ["client@example.com"])
    assert reminder["createdAt"].endswith("Z") and reminder["nextReminderAt"].endswith("Z")
    assert (await agent_messages.check_messages(any_ctx, alice)).reminders == []


async def test_the_running_sweeper_wakes_a_waiting_agent(any_ctx: AppContext) -> None:
    alice = await agent(any_ctx, "alice")
    pending_id = await held(any_ctx, alice)
    await age(any_ctx, pending_id, 12.5)
    async with any_ctx.events.subscribe(alice.id) as queue:
        sweeper = ReminderSweeper(any_ctx, interval=0.05).start()
        try:
            assert (await next_event(queue)).type == REMINDER_DUE
        finally:
            await sweeper.close()


@pytest.mark.postgres
async def test_two_processes_never_hand_out_the_same_reminder(settings: Settings) -> None:
    """Two server processes on one PostgreSQL database claim at the same time: one wins."""
    database = await create_database()
    url = database_url(database)
    first = await build_context(settings.model_copy(update={"database_url": url}))
    await accounts.ensure_bootstrap(first)
    second = await build_context(settings.model_copy(update={"database_url": url}), migrate=False)
    try:
        alice = await agent(first, "alice")
        pending_id = await held(first, alice)
        await age(first, pending_id, 12.5)
        for hours in (6, 3, 0):  # 12.5, 18.5, 21.5 h: each round has one new step to win
            outcomes = await asyncio.gather(
                pending.claim_agent_reminders(first, alice.id),
                pending.claim_agent_reminders(second, alice.id),
                agent_messages.check_messages(second, alice),
            )
            handed = len(outcomes[0]) + len(outcomes[1]) + len(outcomes[2].reminders)
            assert handed == 1
            await age(first, pending_id, hours)
    finally:
        await second.close()
        await first.close()
        await drop_database(database)
