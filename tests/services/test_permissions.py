"""Send permissions and limits through the real send path (outbox.submit_message): the default
policy, can_send, allowed recipients, configuration choice, sliding windows at their edges,
the configuration's daily cap, restart survival and two processes on PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from agentpost.config import Settings
from agentpost.errors import (
    Forbidden,
    InvalidInput,
    PermissionNotFound,
    RateLimited,
    SmtpConfigNotFound,
)
from agentpost.services import accounts, permission_admin, permissions, smtp_configs
from agentpost.services.context import AppContext, build_context
from agentpost.storage.repositories import permissions as repo
from agentpost.storage.tables import deliveries
from agentpost.testing.permissions import grant, make_config, rows_of

from .support import admin, agent, send

pytestmark = pytest.mark.anyio


def _limited(settings: Settings, hourly: int = 0, daily: int = 0) -> Settings:
    return settings.model_copy(
        update={"default_hourly_send_limit": hourly, "default_daily_send_limit": daily}
    )


async def test_default_policy_sends_anywhere_and_counts_external_only(ctx: AppContext) -> None:
    ctx.settings = _limited(ctx.settings, hourly=2)
    alice = await agent(ctx, "alice")
    await agent(ctx, "bob")
    for _ in range(3):  # local mail is never counted
        await send(ctx, alice, "bob@localhost")
    await send(ctx, alice, "x@example.com")
    await send(ctx, alice, "y@example.com")
    with pytest.raises(RateLimited) as refused:
        await send(ctx, alice, "z@example.com")
    assert "hourly limit of 2" in refused.value.message
    assert refused.value.retry_after is not None and 3590 <= refused.value.retry_after <= 3600
    budget = await permissions.send_budget(ctx, alice)
    assert budget.policy == "default"
    hourly = budget.routes[0].windows[0]
    assert (hourly.name, hourly.used, hourly.remaining) == ("hourly", 2, 0)
    await send(ctx, alice, "bob@localhost")  # still fine


async def test_windows_slide_at_their_edges(ctx: AppContext) -> None:
    ctx.settings = _limited(ctx.settings, hourly=2, daily=3)
    alice = await agent(ctx, "alice")
    now = datetime.now(UTC)
    async with ctx.db.write() as conn:
        moments = (
            now - timedelta(hours=1, seconds=5),  # out of the hour, in the day
            now - timedelta(minutes=59, seconds=50),  # in both windows for ~10 more seconds
            now - timedelta(minutes=30),
        )
        await repo.log_sends(
            conn,
            [
                {"agent_id": alice.id, "config_id": None, "recipients": 1, "sent_at": moment}
                for moment in moments
            ],
        )
    budget = await permissions.send_budget(ctx, alice)
    hourly, daily = budget.routes[0].windows
    assert (hourly.used, hourly.remaining) == (2, 0)
    assert hourly.resets_at is not None
    # The hourly window frees its slot when the oldest counted send turns one hour old.
    expected = now - timedelta(minutes=59, seconds=50) + timedelta(hours=1)
    assert abs((hourly.resets_at - expected).total_seconds()) < 1
    assert (daily.used, daily.remaining) == (3, 0)
    with pytest.raises(RateLimited) as refused:
        await send(ctx, alice, "x@example.com")
    assert "hourly limit" in refused.value.message
    assert refused.value.retry_after is not None and refused.value.retry_after <= 10


async def test_can_send_false_everywhere_silences_the_agent(ctx: AppContext) -> None:
    owner = await admin(ctx)
    alice = await agent(ctx, "alice")
    await agent(ctx, "bob")
    config = await make_config(ctx, owner.owner_id)
    await grant(ctx, owner, "alice", config, can_send=False)
    for target in ("bob@localhost", "x@example.com"):
        with pytest.raises(Forbidden) as refused:
            await send(ctx, alice, target)
        assert refused.value.code == "send_not_permitted"
    assert not await permissions.may_send(ctx, alice)


async def test_allowed_recipients_choose_the_configuration(ctx: AppContext) -> None:
    owner = await admin(ctx)
    alice = await agent(ctx, "alice")
    work = await make_config(ctx, owner.owner_id, "work")
    other = await make_config(ctx, owner.owner_id, "other")
    await grant(ctx, owner, "alice", work, allowed_recipients=["*@Example.com"], is_default=True)
    await grant(ctx, owner, "alice", other, allowed_recipients=["/^ops-[0-9]+@partner\\.org$/"])
    await send(ctx, alice, "a@example.com")
    await send(ctx, alice, "OPS-7@partner.org")
    with pytest.raises(Forbidden) as refused:
        await send(ctx, alice, "ops-x@partner.org")
    assert refused.value.code == "recipient_not_allowed"
    assert "ops-x@partner.org" in refused.value.message
    async with ctx.db.read() as conn:
        rows = (
            await conn.execute(
                select(deliveries.c.recipient, deliveries.c.config_id).order_by(deliveries.c.id)
            )
        ).all()
    assert [tuple(r) for r in rows] == [("a@example.com", work), ("OPS-7@partner.org", other)]


async def test_inactive_or_foreign_configurations_are_not_used(ctx: AppContext) -> None:
    owner = await admin(ctx)
    alice = await agent(ctx, "alice")
    off = await make_config(ctx, owner.owner_id, "off", active=False)
    await grant(ctx, owner, "alice", off)
    with pytest.raises(Forbidden) as refused:
        await send(ctx, alice, "x@example.com")
    assert refused.value.code == "send_not_permitted"
    other_owner, _key = await accounts.create_owner(ctx, owner, name="someone else")
    foreign = await make_config(ctx, other_owner.id, "theirs")
    with pytest.raises(SmtpConfigNotFound):
        await grant(ctx, owner, "alice", foreign)


async def test_configuration_daily_cap_counts_every_agent(ctx: AppContext) -> None:
    owner = await admin(ctx)
    alice = await agent(ctx, "alice")
    bob = await agent(ctx, "bob")
    shared = await make_config(ctx, owner.owner_id, max_per_day=2)
    for name in ("alice", "bob"):
        await grant(ctx, owner, name, shared, daily_limit=10)
    await send(ctx, alice, "x@example.com")
    await send(ctx, bob, "y@example.com")
    with pytest.raises(RateLimited) as refused:
        await send(ctx, alice, "z@example.com")
    assert "daily cap of the SMTP configuration" in refused.value.message
    assert refused.value.message.endswith("Z")


async def test_patterns_and_limits_are_validated_when_saved(ctx: AppContext) -> None:
    owner = await admin(ctx)
    await agent(ctx, "alice")
    config = await make_config(ctx, owner.owner_id)
    for bad in (["/(a+)+@x\\.com/"], ["/[unclosed/"], ["not an address"], ["*@"]):
        with pytest.raises(InvalidInput) as refused:
            await grant(ctx, owner, "alice", config, allowed_recipients=bad)
        assert refused.value.field == "allowedRecipients"
    with pytest.raises(InvalidInput):
        await grant(ctx, owner, "alice", config, daily_limit=0)
    saved = await grant(ctx, owner, "alice", config, allowed_recipients=["Bob@X.org", "bob@x.org"])
    assert saved.allowed_recipients == ["bob@x.org"]
    await permission_admin.remove_permission(ctx, owner, "alice", config)
    with pytest.raises(PermissionNotFound):
        await permission_admin.remove_permission(ctx, owner, "alice", config)


async def test_limits_survive_a_restart(settings: Settings) -> None:
    settings = _limited(settings, daily=2)
    first = await build_context(settings)
    await accounts.ensure_bootstrap(first)
    alice = await agent(first, "alice")
    await send(first, alice, "x@example.com")
    await send(first, alice, "y@example.com")
    await first.close()
    second = await build_context(settings)
    try:
        with pytest.raises(RateLimited) as refused:
            await send(second, alice, "z@example.com")
        assert "daily limit of 2" in refused.value.message
    finally:
        await second.close()


@pytest.mark.postgres
async def test_limits_hold_across_two_processes_on_postgres(settings: Settings) -> None:
    from agentpost.testing.postgres import create_database, database_url, drop_database

    name = await create_database()
    shared = _limited(settings, hourly=5).model_copy(update={"database_url": database_url(name)})
    one = await build_context(shared)
    two = await build_context(shared)
    try:
        await accounts.ensure_bootstrap(one)
        alice = await agent(one, "alice")
        attempts = [send(c, alice, f"r{i}@example.com") for i in range(6) for c in (one, two)]
        outcomes = await asyncio.gather(*attempts, return_exceptions=True)
        sent = [o for o in outcomes if not isinstance(o, BaseException)]
        refused = [o for o in outcomes if isinstance(o, RateLimited)]
        assert (len(sent), len(refused)) == (5, 7), outcomes
    finally:
        await one.close()
        await two.close()
        await drop_database(name)


async def test_default_limits_follow_the_agent_across_configurations(ctx: AppContext) -> None:
    ctx.settings = _limited(ctx.settings, hourly=2)
    owner = await admin(ctx)
    alice = await agent(ctx, "alice")
    await send(ctx, alice, "x@example.com")  # no configuration yet: queued, still counted
    config = await make_config(ctx, owner.owner_id, is_default=True)
    await send(ctx, alice, "y@example.com")
    with pytest.raises(RateLimited):
        await send(ctx, alice, "z@example.com")
    budget = await permissions.send_budget(ctx, alice)
    assert budget.routes[0].route.config_id == config
    assert [w.used for w in budget.routes[0].windows] == [2, 2, 1]


async def test_deleting_a_configuration_removes_its_assignments(any_ctx: AppContext) -> None:
    owner = await admin(any_ctx)
    alice = await agent(any_ctx, "alice")
    kept = await make_config(any_ctx, owner.owner_id, "kept")
    dropped = await make_config(any_ctx, owner.owner_id, "dropped")
    await grant(any_ctx, owner, "alice", kept)
    await grant(any_ctx, owner, "alice", dropped)
    await smtp_configs.delete_config(any_ctx, owner, dropped)
    assert [row.config_id for row in await rows_of(any_ctx, alice.id)] == [kept]


async def test_a_groups_unlogged_sends_count_in_every_window(ctx: AppContext) -> None:
    """Sends of one transaction not yet in the send log (group commit) count like logged
    ones, the reset time included: with one logged send 50 minutes ago and unlogged ones 10
    and 5 minutes ago, an hourly limit of 2 is exceeded by one, so the next slot opens when
    the 10-minute one leaves the hour; another agent's sends count for nothing."""
    ctx.settings = _limited(ctx.settings, hourly=2)
    alice = await agent(ctx, "alice")
    bob = await agent(ctx, "bob")
    now = datetime.now(UTC)

    def unlogged(agent_id: str, minutes: int) -> permissions.SendGrant:
        at = now - timedelta(minutes=minutes)
        return permissions.SendGrant(None, permissions.SendCount(agent_id, 1, at))

    async with ctx.db.write() as conn:
        row = {"agent_id": alice.id, "config_id": None, "recipients": 1}
        await repo.log_sends(conn, [row | {"sent_at": now - timedelta(minutes=50)}])
        _, [route] = await permissions.routes_for(ctx, conn, alice)
        group = [unlogged(alice.id, 10), unlogged(bob.id, 7), unlogged(alice.id, 5)]
        [hourly] = await permissions.route_usage(
            conn, alice, route, now, limited_only=True, unlogged=group
        )
        [alone] = await permissions.route_usage(
            conn, alice, route, now, limited_only=True, unlogged=group[:1]
        )
    assert (hourly.used, hourly.remaining) == (3, 0)
    assert hourly.resets_at == now - timedelta(minutes=10) + timedelta(hours=1)
    assert (alone.used, alone.resets_at) == (2, now - timedelta(minutes=50) + timedelta(hours=1))
