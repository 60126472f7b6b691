"""Held mail after the hold: owner-only approval bound to the content, single use, expiry,
rejection and the agent's follow-up reminders."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from agentpost.errors import (
    ApprovalMismatch,
    ApprovalRequiresOwner,
    PendingNotFound,
    PendingResolved,
    RateLimited,
)
from agentpost.services import pending, permissions
from agentpost.services.accounts import Principal, PrincipalKind, create_owner
from agentpost.services.context import AppContext
from agentpost.storage.tables import deliveries, messages
from agentpost.storage.tables.guard import pending_outbound

from .support import admin, agent, send

pytestmark = pytest.mark.anyio
CARD = "card 4242 4242 4242 4242"


async def _held(ctx: AppContext, name: str = "alice") -> tuple[Principal, str]:
    record = await agent(ctx, name)
    result = await send(ctx, record, "x@example.com", text=CARD)
    assert result.held is not None
    return Principal(PrincipalKind.agent, record.owner_id, record), result.held.pending_id


async def _shift(
    ctx: AppContext,
    pending_id: str,
    *,
    created: timedelta = timedelta(0),
    expires: timedelta = timedelta(0),
) -> None:
    """Move an item back in time (as if that much time had passed); its expiry moves
    ``expires`` further."""
    async with ctx.db.write() as conn:
        table = pending_outbound.c
        query = select(table.created_at, table.expires_at, table.reminded_at).where(
            table.id == pending_id
        )
        row = (await conn.execute(query)).one()
        await conn.execute(
            update(pending_outbound)
            .where(pending_outbound.c.id == pending_id)
            .values(
                created_at=row.created_at - created,
                expires_at=row.expires_at - created - expires,
                reminded_at=row.reminded_at and row.reminded_at - created,
            )
        )


async def _sent_rows(ctx: AppContext) -> int:
    async with ctx.db.read() as conn:
        query = select(func.count()).select_from(messages)
        return int((await conn.execute(query)).scalar_one())


async def test_only_the_owner_approves_and_the_message_goes_once(any_ctx: AppContext) -> None:
    as_agent, pending_id = await _held(any_ctx)
    with pytest.raises(ApprovalRequiresOwner):
        await pending.approve(any_ctx, as_agent, pending_id)
    with pytest.raises(ApprovalRequiresOwner):
        await pending.reject(any_ctx, as_agent, pending_id)
    root = await admin(any_ctx)
    view = await pending.get_pending(any_ctx, root, pending_id)
    result = await pending.approve(
        any_ctx, root, pending_id, expected_hash=view.record.content_hash
    )
    assert result.status == "queued" and result.uid is not None
    assert result.message_id == view.record.message_id  # the very bytes that were held
    with pytest.raises(PendingResolved):
        await pending.approve(any_ctx, root, pending_id)
    with pytest.raises(PendingResolved):
        await pending.reject(any_ctx, root, pending_id)
    assert await _sent_rows(any_ctx) == 1
    done = await pending.get_pending(any_ctx, as_agent, pending_id)
    assert (done.status, done.record.resolved_by) == ("approved", "admin")


async def test_concurrent_approvals_send_exactly_once(any_ctx: AppContext) -> None:
    _, pending_id = await _held(any_ctx)
    root = await admin(any_ctx)
    outcomes = await asyncio.gather(
        *(pending.approve(any_ctx, root, pending_id) for _ in range(4)), return_exceptions=True
    )
    assert sum(not isinstance(o, BaseException) for o in outcomes) == 1
    assert all(isinstance(o, PendingResolved) for o in outcomes if isinstance(o, BaseException))
    async with any_ctx.db.read() as conn:
        rows = (await conn.execute(select(func.count()).select_from(deliveries))).scalar_one()
    assert rows == 1


async def test_approval_is_bound_to_the_exact_content(any_ctx: AppContext) -> None:
    _, pending_id = await _held(any_ctx)
    root = await admin(any_ctx)
    with pytest.raises(ApprovalMismatch):
        await pending.approve(any_ctx, root, pending_id, expected_hash="0" * 64)
    async with any_ctx.db.write() as conn:  # the stored bytes changed behind the owner's back
        await conn.execute(
            update(pending_outbound)
            .where(pending_outbound.c.id == pending_id)
            .values(raw=b"Subject: other\r\n\r\nsomething else\r\n")
        )
    with pytest.raises(ApprovalMismatch):
        await pending.approve(any_ctx, root, pending_id)
    assert await _sent_rows(any_ctx) == 0


async def test_expired_items_cannot_be_approved(any_ctx: AppContext) -> None:
    as_agent, pending_id = await _held(any_ctx)
    await _shift(any_ctx, pending_id, expires=timedelta(days=30))
    assert (await pending.list_pending(any_ctx, as_agent))[0].status == "expired"
    with pytest.raises(PendingResolved):
        await pending.approve(any_ctx, await admin(any_ctx), pending_id)
    view = await pending.get_pending(any_ctx, as_agent, pending_id)
    assert (view.status, view.record.status) == ("expired", "expired")
    assert await _sent_rows(any_ctx) == 0


async def test_reject_discards_and_owners_see_only_their_agents(any_ctx: AppContext) -> None:
    as_agent, pending_id = await _held(any_ctx)
    other, _ = await create_owner(any_ctx, await admin(any_ctx), name="other")
    stranger = Principal(PrincipalKind.owner, other.id)
    with pytest.raises(PendingNotFound):
        await pending.reject(any_ctx, stranger, pending_id)
    assert await pending.list_pending(any_ctx, stranger) == []
    _, bobs = await _held(any_ctx, "bob")
    mine = await pending.list_pending(any_ctx, as_agent)
    assert [v.record.id for v in mine] == [pending_id]  # an agent sees only its own
    with pytest.raises(PendingNotFound):
        await pending.get_pending(any_ctx, as_agent, bobs)
    owner = Principal(PrincipalKind.owner, as_agent.owner_id)
    view = await pending.reject(any_ctx, owner, pending_id)
    assert (view.status, view.record.resolved_by) == ("rejected", "owner")
    with pytest.raises(PendingResolved):
        await pending.approve(any_ctx, owner, pending_id)
    assert [v.status for v in await pending.list_pending(any_ctx, owner, status="rejected")] == [
        "rejected"
    ]


async def test_reminders_fall_due_on_schedule_and_come_once(any_ctx: AppContext) -> None:
    as_agent, pending_id = await _held(any_ctx)
    assert await pending.claim_reminders(any_ctx, as_agent) == []

    async def age(hours: float) -> None:
        await _shift(any_ctx, pending_id, created=timedelta(hours=hours))

    await age(12.5)
    first = await pending.claim_reminders(any_ctx, as_agent)
    assert [n.label for n in first] == ["follow-up reminder 1/4"]
    assert first[0].next_at is not None
    assert await pending.claim_reminders(any_ctx, as_agent) == []  # handed out once
    await age(10)  # 22.5 h: the 18 h and 21 h steps were missed, the 22 h one is due
    assert [n.label for n in await pending.claim_reminders(any_ctx, as_agent)] == [
        "final follow-up before a 3-day pause"
    ]
    await age(72)  # 94.5 h: a new cycle opens
    labels = [n.label for n in await pending.claim_reminders(any_ctx, as_agent)]
    assert labels == ["follow-up reminder, cycle 2"]


async def test_held_mail_counts_against_the_limits_once_when_it_goes_out(
    any_ctx: AppContext,
) -> None:
    any_ctx.settings = any_ctx.settings.model_copy(update={"default_hourly_send_limit": 1})
    as_agent, pending_id = await _held(any_ctx)
    writer = as_agent.agent
    assert writer is not None

    async def hourly_used() -> int:
        budget = await permissions.send_budget(any_ctx, writer)
        [window] = [w for w in budget.routes[0].windows if w.name == "hourly"]
        return window.used

    assert await hourly_used() == 0  # held, not sent: the hour's one send is still free
    await pending.approve(any_ctx, await admin(any_ctx), pending_id)
    assert await hourly_used() == 1
    with pytest.raises(RateLimited):
        await send(any_ctx, writer, "y@example.com", text="hello")
