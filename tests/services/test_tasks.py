"""Tasks and RPC on SQLite and PostgreSQL: who may see and change a task, expiry, events that
reach only the parties, and call_agent's wait for a result."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import update

from agentpost.config import Settings
from agentpost.errors import (
    AgentNotFound,
    InvalidInput,
    NotTaskAssignee,
    TaskExpired,
    TaskNotFound,
    TaskStateConflict,
)
from agentpost.services import accounts, tasks
from agentpost.services.accounts import Principal, PrincipalKind
from agentpost.services.context import AppContext, build_context
from agentpost.services.events import Event
from agentpost.services.task_sweeper import TaskSweeper
from agentpost.storage.records import AgentRecord
from agentpost.storage.tables.workflow import tasks as tasks_table
from agentpost.testing.postgres import create_database, database_url, drop_database

from .support import admin, agent

pytestmark = pytest.mark.anyio


def as_agent(record: AgentRecord) -> Principal:
    return Principal(PrincipalKind.agent, record.owner_id, record)


async def next_event(queue: asyncio.Queue[Event]) -> Event:
    return await asyncio.wait_for(queue.get(), 5)


async def test_assign_claim_submit_and_only_the_parties_hear_of_it(any_ctx: AppContext) -> None:
    alice = await agent(any_ctx, "alice")
    bob = await agent(any_ctx, "bob")
    carol = await agent(any_ctx, "carol")
    async with (
        any_ctx.events.subscribe(alice.id) as alice_q,
        any_ctx.events.subscribe(bob.id) as bob_q,
        any_ctx.events.subscribe(carol.id) as carol_q,
    ):
        task = await tasks.assign_task(
            any_ctx, as_agent(alice), assignee="bob", task_type="summarise", payload={"n": 1}
        )
        assert (task.status, task.assigner_name, task.assignee_name) == ("pending", "alice", "bob")
        assigned = await next_event(bob_q)
        assert assigned.type == "task.assigned"
        assert assigned.data["taskId"] == task.id and assigned.data["from"] == "alice"

        claimed = await tasks.claim_task(any_ctx, as_agent(bob), task.id)
        assert claimed.status == "claimed" and claimed.claimed_at is not None
        assert (await next_event(alice_q)).type == "task.claimed"

        done = await tasks.submit_result(any_ctx, as_agent(bob), task.id, {"summary": "ok"})
        assert done.status == "completed" and done.result == {"summary": "ok"}
        completed = await next_event(alice_q)
        assert completed.type == "task.completed" and completed.data["status"] == "completed"

        assert carol_q.empty() and bob_q.empty() and alice_q.empty()

    assert [t.id for t in await tasks.outgoing_tasks(any_ctx, as_agent(alice))] == [task.id]
    assert await tasks.incoming_tasks(any_ctx, bob) == []  # completed: no longer open
    assert await tasks.outgoing_tasks(any_ctx, as_agent(carol)) == []


async def test_only_the_assignee_may_change_a_task_and_others_cannot_see_it(
    any_ctx: AppContext,
) -> None:
    alice = await agent(any_ctx, "alice")
    bob = await agent(any_ctx, "bob")
    carol = await agent(any_ctx, "carol")
    task = await tasks.assign_task(any_ctx, as_agent(alice), assignee="bob")

    with pytest.raises(NotTaskAssignee):  # the assigner sees it but may not act for bob
        await tasks.claim_task(any_ctx, as_agent(alice), task.id)
    with pytest.raises(NotTaskAssignee):
        await tasks.submit_result(any_ctx, as_agent(alice), task.id, {"forged": True})
    for call in (
        tasks.get_task(any_ctx, as_agent(carol), task.id),
        tasks.claim_task(any_ctx, as_agent(carol), task.id),
        tasks.submit_result(any_ctx, as_agent(carol), task.id, None),
        tasks.get_task(any_ctx, as_agent(bob), "no-such-task"),
    ):
        with pytest.raises(TaskNotFound):
            await call
    assert (await tasks.get_task(any_ctx, as_agent(bob), task.id)).status == "pending"
    assert (await tasks.get_task(any_ctx, await admin(any_ctx), task.id)).id == task.id

    await tasks.claim_task(any_ctx, as_agent(bob), task.id)
    with pytest.raises(TaskStateConflict):
        await tasks.claim_task(any_ctx, as_agent(bob), task.id)
    await tasks.submit_result(any_ctx, as_agent(bob), task.id, None)
    with pytest.raises(TaskStateConflict):
        await tasks.submit_result(any_ctx, as_agent(bob), task.id, {"again": 1})


async def test_bad_input_and_unknown_or_foreign_assignees(any_ctx: AppContext) -> None:
    alice = await agent(any_ctx, "alice")
    owner, _key = await accounts.create_owner(any_ctx, await admin(any_ctx), name="Other")
    other_owner = Principal(PrincipalKind.owner, owner.id)
    stranger, _ = await accounts.create_agent(any_ctx, other_owner, name="stranger")
    with pytest.raises(AgentNotFound):
        await tasks.assign_task(any_ctx, as_agent(alice), assignee="nobody")
    with pytest.raises(AgentNotFound):  # agents of another owner are out of reach
        await tasks.assign_task(any_ctx, as_agent(alice), assignee=stranger.name)
    for kwargs in (
        {"task_type": "has space"},
        {"payload": ["not", "an", "object"]},
        {"payload": {"big": "x" * 70_000}},
        {"expires_in": 0},
        {"expires_in": 31 * 24 * 3600},
    ):
        with pytest.raises(InvalidInput):
            await tasks.assign_task(any_ctx, as_agent(alice), assignee="alice", **kwargs)  # type: ignore[arg-type]


async def test_expiry_is_enforced_and_both_parties_are_told(any_ctx: AppContext) -> None:
    alice = await agent(any_ctx, "alice")
    bob = await agent(any_ctx, "bob")
    task = await tasks.assign_task(any_ctx, as_agent(alice), assignee="bob", expires_in=60)
    assert [t.id for t in await tasks.incoming_tasks(any_ctx, bob)] == [task.id]
    async with any_ctx.db.write() as conn:  # let the clock run out
        await conn.execute(
            update(tasks_table)
            .where(tasks_table.c.id == task.id)
            .values(expires_at=task.created_at - timedelta(seconds=1))
        )
    async with (
        any_ctx.events.subscribe(alice.id) as alice_q,
        any_ctx.events.subscribe(bob.id) as bob_q,
    ):
        with pytest.raises(TaskExpired):
            await tasks.claim_task(any_ctx, as_agent(bob), task.id)
        assert (await next_event(alice_q)).type == "task.expired"
        assert (await next_event(bob_q)).type == "task.expired"
    with pytest.raises(TaskExpired):
        await tasks.submit_result(any_ctx, as_agent(bob), task.id, {"late": True})
    assert await tasks.incoming_tasks(any_ctx, bob) == []
    assert (await tasks.get_task(any_ctx, as_agent(alice), task.id)).status == "expired"


async def test_call_agent_returns_the_result_submitted_meanwhile(any_ctx: AppContext) -> None:
    alice = await agent(any_ctx, "alice")
    bob = await agent(any_ctx, "bob")

    subscribed = asyncio.Event()

    async def worker() -> None:
        async with any_ctx.events.subscribe(bob.id) as queue:
            subscribed.set()
            event = await next_event(queue)
            assert event.data["task"] == "add the numbers"
            await tasks.claim_task(any_ctx, as_agent(bob), event.data["taskId"])
            await tasks.submit_result(any_ctx, as_agent(bob), event.data["taskId"], {"sum": 5})

    async with asyncio.TaskGroup() as group:
        group.create_task(worker())
        await subscribed.wait()
        outcome = await tasks.call_agent(
            any_ctx, as_agent(alice), target="bob", task="add the numbers", payload={"a": 2}
        )
    assert outcome.status == "completed"
    assert outcome.task.result == {"sum": 5}
    assert outcome.task.payload == {"a": 2, "task": "add the numbers"}
    assert outcome.task.task_type == "rpc"


async def test_call_agent_times_out_and_the_task_stays_claimable(any_ctx: AppContext) -> None:
    alice = await agent(any_ctx, "alice")
    bob = await agent(any_ctx, "bob")
    with pytest.raises(InvalidInput):
        await tasks.call_agent(any_ctx, as_agent(alice), target="bob", task="x", timeout=4)
    with pytest.raises(InvalidInput):
        await tasks.call_agent(any_ctx, as_agent(alice), target="bob", task="x", timeout=301)
    outcome = await tasks.call_agent(any_ctx, as_agent(alice), target="bob", task="x", timeout=5)
    assert outcome.status == "timeout"
    assert outcome.task.status == "pending"
    claimed = await tasks.claim_task(any_ctx, as_agent(bob), outcome.task.id)
    assert claimed.status == "claimed"
    await tasks.submit_result(any_ctx, as_agent(bob), claimed.id, {"late": "but fine"})
    assert (await tasks.get_task(any_ctx, as_agent(alice), claimed.id)).result == {
        "late": "but fine"
    }


@pytest.mark.postgres
async def test_a_result_taken_by_another_process_ends_the_call_at_once(settings: Settings) -> None:
    """Two server processes on one PostgreSQL database: the call waits in one, the result is
    submitted through the other, and the event relayed by LISTEN/NOTIFY wakes the caller
    long before its poll would (and events still reach only the parties)."""
    database = await create_database()
    url = database_url(database)
    first = await build_context(settings.model_copy(update={"database_url": url}))
    await accounts.ensure_bootstrap(first)
    second = await build_context(settings.model_copy(update={"database_url": url}), migrate=False)
    try:
        alice = await agent(first, "alice")
        bob = await agent(first, "bob")
        carol = await agent(first, "carol")
        subscribed = asyncio.Event()

        async def worker() -> None:
            async with second.events.subscribe(bob.id) as queue:
                subscribed.set()
                event = await next_event(queue)  # relayed from the first process
                await tasks.submit_result(second, as_agent(bob), event.data["taskId"], {"v": 1})

        async with second.events.subscribe(carol.id) as carol_q, asyncio.TaskGroup() as group:
            group.create_task(worker())
            await subscribed.wait()
            loop = asyncio.get_running_loop()
            started = loop.time()
            outcome = await tasks.call_agent(first, as_agent(alice), target="bob", task="t")
            assert outcome.status == "completed" and outcome.task.result == {"v": 1}
            assert loop.time() - started < tasks.RPC_POLL_SECONDS
        assert carol_q.empty()
    finally:
        await second.close()
        await first.close()
        await drop_database(database)


async def test_the_sweeper_expires_overdue_tasks_nobody_asks_about(any_ctx: AppContext) -> None:
    alice = await agent(any_ctx, "alice")
    bob = await agent(any_ctx, "bob")
    task = await tasks.assign_task(any_ctx, as_agent(alice), assignee="bob", expires_in=60)
    async with any_ctx.db.write() as conn:  # let the clock run out
        await conn.execute(
            update(tasks_table)
            .where(tasks_table.c.id == task.id)
            .values(expires_at=task.created_at - timedelta(seconds=1))
        )
    async with (
        any_ctx.events.subscribe(alice.id) as alice_q,
        any_ctx.events.subscribe(bob.id) as bob_q,
    ):
        sweeper = TaskSweeper(any_ctx, interval=0.05).start()
        try:
            # Neither party calls anything: the sweep alone tells both.
            assert (await next_event(alice_q)).type == "task.expired"
            assert (await next_event(bob_q)).type == "task.expired"
        finally:
            await sweeper.close()
    assert (await tasks.get_task(any_ctx, as_agent(alice), task.id)).status == "expired"
