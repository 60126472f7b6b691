"""Scheduled sends on SQLite and PostgreSQL: validation at creation, sent exactly once by the
scheduler (also with two schedulers at once, after a crash and after a restart), cancelling
and failures that explain themselves."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from agentpost.config import Settings
from agentpost.domain.schedule import display
from agentpost.errors import Conflict, InvalidInput, ScheduledNotFound
from agentpost.services import accounts, lifecycle, mailbox, scheduled, scheduler, signatures
from agentpost.services.context import AppContext, build_context
from agentpost.services.scheduled import ScheduleInput
from agentpost.services.scheduler import LEASE, Scheduler, run_due
from agentpost.services.signatures import SignatureInput
from agentpost.storage.repositories import accounts as account_repo
from agentpost.storage.repositories import scheduled as repo
from agentpost.storage.tables.audit import audit_log
from agentpost.testing.postgres import create_database, database_url, drop_database

from .support import admin, agent

pytestmark = pytest.mark.anyio


def later(**delta: float) -> datetime:
    return datetime.now(UTC) + timedelta(**delta)


def iso(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


async def inbox_total(ctx: AppContext, name: str) -> int:
    async with ctx.db.read() as conn:
        record = await account_repo.agent_by_name(conn, name)
    assert record is not None
    return (await mailbox.list_folder(ctx, record, "INBOX", limit=1, offset=0)).total


async def test_create_stores_utc_and_shows_the_agents_zone(any_ctx: AppContext) -> None:
    record, _ = await accounts.create_agent(
        any_ctx, await admin(any_ctx), name="tokyo", metadata={"timezone": "Asia/Tokyo"}
    )
    bob = await agent(any_ctx, "bob")
    now = datetime(2026, 11, 21, 14, 0, tzinfo=UTC)  # 23:00 in Tokyo
    made = await scheduled.create_scheduled(
        any_ctx,
        record,
        ScheduleInput(to=bob.address, subject="Morning", send_at="tomorrow 8am", text="hi"),
        now=now,
    )
    assert made.send_at == datetime(2026, 11, 21, 23, 0, tzinfo=UTC)  # 08:00 JST, Sunday
    assert made.status == "pending" and made.attempts == 0
    zone = scheduled.agent_zone(record)
    assert display(made.send_at, zone) == "2026-11-22T08:00:00+09:00"
    assert [s.id for s in await scheduled.list_scheduled(any_ctx, record)] == [made.id]
    assert await scheduled.list_scheduled(any_ctx, bob) == []


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"send_at": "2020-01-01T00:00:00Z"}, "sendAt", "must be in the future"),
        ({"send_at": "in 0 minutes"}, "sendAt", "must be in the future"),
        ({"send_at": "someday"}, "sendAt", "cannot understand"),
        ({"send_at": "in 400 days"}, "sendAt", "at most a year"),
        ({"to": "not an address"}, "to", "invalid email address"),
        ({"subject": "  "}, "subject", "subject is required"),
    ],
)
async def test_bad_schedules_are_refused_and_nothing_is_stored(
    any_ctx: AppContext, fields: dict[str, str], field: str, message: str
) -> None:
    alice = await agent(any_ctx, "alice")
    bob = await agent(any_ctx, "bob")
    base = {"to": bob.address, "subject": "Hi", "send_at": "in 1 hour", "text": "x"}
    with pytest.raises(InvalidInput, match=message) as caught:
        await scheduled.create_scheduled(any_ctx, alice, ScheduleInput(**(base | fields)))
    assert caught.value.field == field
    assert await scheduled.list_scheduled(any_ctx, alice) == []


async def test_a_bad_agent_timezone_is_reported(any_ctx: AppContext) -> None:
    record, _ = await accounts.create_agent(
        any_ctx, await admin(any_ctx), name="lost", metadata={"timezone": "Mars/Olympus"}
    )
    with pytest.raises(InvalidInput, match="update_metadata"):
        await scheduled.create_scheduled(
            any_ctx, record, ScheduleInput(to="x@example.com", subject="s", send_at="tonight")
        )


async def test_due_sends_go_out_once_with_the_signature(any_ctx: AppContext) -> None:
    alice = await agent(any_ctx, "alice")
    bob = await agent(any_ctx, "bob")
    await signatures.create_signature(any_ctx, alice, SignatureInput("s", "Alice", None, True))
    made = await scheduled.create_scheduled(
        any_ctx, alice, ScheduleInput(to=bob.address, subject="Later", send_at="in 5 minutes")
    )
    assert await run_due(any_ctx) == 0  # not due yet
    assert await run_due(any_ctx, now=later(minutes=6)) == 1
    assert await run_due(any_ctx, now=later(minutes=7)) == 0
    done = await scheduled.get_scheduled(any_ctx, alice, made.id)
    assert done.status == "sent" and done.sent_at is not None and done.attempts == 1
    received = await mailbox.read_message(any_ctx, bob, 1)
    assert received.record.message_id == done.message_id
    assert received.parsed.text.endswith("-- \nAlice\n")
    assert await inbox_total(any_ctx, "bob") == 1


async def test_cancel_only_while_pending(any_ctx: AppContext) -> None:
    alice = await agent(any_ctx, "alice")
    bob = await agent(any_ctx, "bob")
    made = await scheduled.create_scheduled(
        any_ctx, alice, ScheduleInput(to=bob.address, subject="No", send_at="in 1 hour")
    )
    with pytest.raises(ScheduledNotFound):
        await scheduled.cancel_scheduled(any_ctx, bob, made.id)
    await scheduled.cancel_scheduled(any_ctx, alice, made.id)
    assert await run_due(any_ctx, now=later(hours=2)) == 0
    with pytest.raises(Conflict, match="cancelled"):
        await scheduled.cancel_scheduled(any_ctx, alice, made.id)
    assert [s.status for s in await scheduled.list_scheduled(any_ctx, alice)] == ["cancelled"]
    assert await scheduled.list_scheduled(any_ctx, alice, "pending") == []


async def test_a_claim_left_by_a_dead_scheduler_is_retried_after_its_lease(
    any_ctx: AppContext,
) -> None:
    alice = await agent(any_ctx, "alice")
    bob = await agent(any_ctx, "bob")
    await scheduled.create_scheduled(
        any_ctx, alice, ScheduleInput(to=bob.address, subject="Crash", send_at="in 1 minute")
    )
    due = later(minutes=2)
    async with any_ctx.db.write() as conn:  # a scheduler claims, then dies before sending
        claimed = await repo.claim_due(
            conn, now=due, token="dead", lease_until=due + LEASE, limit=10
        )
    assert len(claimed) == 1
    assert await run_due(any_ctx, now=due + timedelta(seconds=1)) == 0  # still leased
    assert await run_due(any_ctx, now=due + LEASE + timedelta(seconds=1)) == 1
    [row] = await scheduled.list_scheduled(any_ctx, alice)
    assert (row.status, row.attempts) == ("sent", 2)
    assert await inbox_total(any_ctx, "bob") == 1


async def test_a_scheduler_that_lost_its_lease_rolls_its_send_back(any_ctx: AppContext) -> None:
    alice = await agent(any_ctx, "alice")
    bob = await agent(any_ctx, "bob")
    await scheduled.create_scheduled(
        any_ctx, alice, ScheduleInput(to=bob.address, subject="Slow", send_at="in 1 minute")
    )
    due = later(minutes=2)
    async with any_ctx.db.write() as conn:
        [stalled] = await repo.claim_due(
            conn, now=due, token="slow", lease_until=due + LEASE, limit=10
        )
    assert await run_due(any_ctx, now=due + LEASE + timedelta(seconds=1)) == 1  # taken over
    await scheduler._send_one(any_ctx, stalled, "slow")  # the stalled one wakes up and sends
    assert await inbox_total(any_ctx, "bob") == 1
    [row] = await scheduled.list_scheduled(any_ctx, alice)
    assert row.status == "sent"


async def test_a_refused_send_fails_with_its_reason_and_an_audit_row(any_ctx: AppContext) -> None:
    alice = await agent(any_ctx, "alice")
    bob = await agent(any_ctx, "bob")
    made = await scheduled.create_scheduled(
        any_ctx, alice, ScheduleInput(to=bob.address, subject="Gone", send_at="in 1 minute")
    )
    await lifecycle.delete_agent(any_ctx, await admin(any_ctx), "bob")
    assert await run_due(any_ctx, now=later(minutes=2)) == 1
    failed = await scheduled.get_scheduled(any_ctx, alice, made.id)
    assert failed.status == "failed"
    assert failed.error is not None and "not an agent on this server" in failed.error
    async with any_ctx.db.read() as conn:
        rows = (
            await conn.execute(
                select(audit_log.c.status, audit_log.c.agent_id).where(
                    audit_log.c.operation == "scheduled.failed"
                )
            )
        ).all()
    assert [tuple(r) for r in rows] == [("failed", alice.id)]


async def test_the_scheduler_loop_wakes_for_a_new_send_and_fires_at_its_time(
    any_ctx: AppContext,
) -> None:
    alice = await agent(any_ctx, "alice")
    bob = await agent(any_ctx, "bob")
    loop = Scheduler(any_ctx, poll_seconds=3600)  # only a wake-up or the due time can help
    loop.start()
    try:
        async with any_ctx.events.subscribe(bob.id) as arrivals:
            await scheduled.create_scheduled(
                any_ctx,
                alice,
                ScheduleInput(to=bob.address, subject="Soon", send_at=iso(later(seconds=2))),
            )
            event = await asyncio.wait_for(arrivals.get(), timeout=15)
        assert event.data["subject"] == "Soon"
    finally:
        await loop.close()
    [row] = await scheduled.list_scheduled(any_ctx, alice)
    assert row.status == "sent"


async def test_scheduled_mail_survives_a_restart(settings: Settings) -> None:
    first = await build_context(settings)
    await accounts.ensure_bootstrap(first)
    alice = await agent(first, "alice")
    bob = await agent(first, "bob")
    await scheduled.create_scheduled(
        first, alice, ScheduleInput(to=bob.address, subject="Persisted", send_at="in 1 minute")
    )
    await first.close()

    second = await build_context(settings)
    try:
        assert await run_due(second, now=later(minutes=2)) == 1
        assert await inbox_total(second, "bob") == 1
    finally:
        await second.close()


@pytest.mark.postgres
async def test_two_schedulers_on_postgresql_send_each_row_exactly_once(
    settings: Settings,
) -> None:
    database = await create_database()
    shared = settings.model_copy(update={"database_url": database_url(database)})
    one = await build_context(shared)
    two = await build_context(shared)
    try:
        await accounts.ensure_bootstrap(one)
        alice = await agent(one, "alice")
        bob = await agent(one, "bob")
        for n in range(30):
            await scheduled.create_scheduled(
                one, alice, ScheduleInput(to=bob.address, subject=f"n{n}", send_at="in 1 minute")
            )
        due = later(minutes=2)

        async def drain(ctx: AppContext) -> int:
            total = 0
            while claimed := await run_due(ctx, now=due, limit=3):
                total += claimed
            return total

        counts = await asyncio.gather(drain(one), drain(two), drain(one), drain(two))
        assert sum(counts) == 30
        assert await inbox_total(one, "bob") == 30
        rows = await scheduled.list_scheduled(one, alice)
        assert {r.status for r in rows} == {"sent"} and {r.attempts for r in rows} == {1}
        page = await mailbox.list_folder(one, bob, "INBOX", limit=100, offset=0)
        assert sorted(m.subject for m in page.messages) == sorted(f"n{n}" for n in range(30))
    finally:
        await one.close()
        await two.close()
        await drop_database(database)


async def test_the_outbound_guard_holds_a_scheduled_send_like_any_other(
    any_ctx: AppContext,
) -> None:
    alice = await agent(any_ctx, "alice")
    leak = "Here is the key AKIAIOSFODNN7EXAMPLE and password: hunter2hunter2"
    made = await scheduled.create_scheduled(
        any_ctx,
        alice,
        ScheduleInput(to="x@example.com", subject="keys", send_at="in 1 minute", text=leak),
    )
    assert await run_due(any_ctx, now=later(minutes=2)) == 1
    held = await scheduled.get_scheduled(any_ctx, alice, made.id)
    assert held.status == "held" and held.sent_at is None
    assert held.error is not None and "held by the outbound guard" in held.error
    assert await run_due(any_ctx, now=later(minutes=10)) == 0
