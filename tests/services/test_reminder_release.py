"""A listener that claimed held-mail reminders but could not deliver them gives the claim back:
the reminder is due again and announced again, unless a later reminder or the owner's
decision has overtaken it meanwhile (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio

import pytest

from agentpost.services import pending, reminder_sweeper
from agentpost.services.accounts import Principal, PrincipalKind
from agentpost.services.context import AppContext
from agentpost.services.reminder_sweeper import REMINDER_DUE, ReminderEvent

from .support import agent
from .test_reminder_sweeper import age, held

pytestmark = pytest.mark.anyio


async def claimed(ctx: AppContext, agent_id: str) -> ReminderEvent:
    event = await reminder_sweeper.claim_reminder_event(ctx, agent_id)
    assert event is not None
    return event


async def test_a_released_claim_is_due_again_and_announced(any_ctx: AppContext) -> None:
    alice = await agent(any_ctx, "alice")
    pending_id = await held(any_ctx, alice)
    await age(any_ctx, pending_id, 12.5)
    event = await claimed(any_ctx, alice.id)
    assert await reminder_sweeper.announce_due(any_ctx) == 0  # claimed: nothing to announce
    async with any_ctx.events.subscribe(alice.id) as queue:
        assert await reminder_sweeper.release_reminder_event(any_ctx, event) == 1
        assert (await asyncio.wait_for(queue.get(), 5)).type == REMINDER_DUE
    again = await claimed(any_ctx, alice.id)
    assert again.data == event.data  # the same reminder, handed out once more
    assert await reminder_sweeper.claim_reminder_event(any_ctx, alice.id) is None


async def test_a_release_does_not_undo_a_later_claim_or_reopen_a_decision(
    any_ctx: AppContext,
) -> None:
    alice = await agent(any_ctx, "alice")
    superseded = await held(any_ctx, alice, "Superseded")
    rejected = await held(any_ctx, alice, "Rejected")
    await age(any_ctx, superseded, 12.5)
    await age(any_ctx, rejected, 12.5)
    stale = await claimed(any_ctx, alice.id)
    owner = Principal(PrincipalKind.owner, alice.owner_id)
    await pending.reject(any_ctx, owner, rejected)
    # 18.75 h: the second reminder is due and handed out. (Not 18.5: ageing moves the item,
    # not the clock, and 6 h would put the second reminder where the stale first one was.)
    await age(any_ctx, superseded, 6.25)
    labels = [n.label for n in (await claimed(any_ctx, alice.id)).notes]
    assert labels == ["follow-up reminder 2/4"]
    async with any_ctx.events.subscribe(alice.id) as queue:
        assert await reminder_sweeper.release_reminder_event(any_ctx, stale) == 0
        assert queue.empty()  # nothing released: nothing announced
    assert await reminder_sweeper.announce_due(any_ctx) == 0
