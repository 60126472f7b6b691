"""Events on SQLite and PostgreSQL: published after the commit, to the agent concerned only."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncConnection

from agentpost.config import Settings
from agentpost.services import accounts, inbox, mailbox, outbox
from agentpost.services.context import AppContext, build_context
from agentpost.services.delivery import DELIVERY_TOPIC
from agentpost.services.events import QUEUE_LIMIT, Event, EventBus

from .support import agent, send
from .two_processes import DIALECTS, two_contexts

pytestmark = pytest.mark.anyio


def _track_transactions(ctx: AppContext, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Record, for every published event, how many write transactions were still open."""
    open_writes = 0
    seen: list[int] = []
    original_write = ctx.db.write

    @asynccontextmanager
    async def write() -> AsyncIterator[AsyncConnection]:
        nonlocal open_writes
        open_writes += 1
        try:
            async with original_write() as conn:
                yield conn
        finally:
            open_writes -= 1

    original_publish = ctx.events.publish

    def publish(event: Event) -> None:
        seen.append(open_writes)
        original_publish(event)

    monkeypatch.setattr(ctx.db, "write", write)
    monkeypatch.setattr(ctx.events, "publish", publish)
    return seen


async def test_send_event_arrives_after_commit_and_the_message_is_readable(
    any_ctx: AppContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The recipient's 'new' event is published with no write transaction open, and a
    subscriber reacting at once (on its own connection) finds the message."""
    alice = await agent(any_ctx, "alice")
    bob = await agent(any_ctx, "bob")
    open_at_publish = _track_transactions(any_ctx, monkeypatch)
    read_on_arrival: list[str] = []

    async def subscriber(ready: asyncio.Event) -> Event:
        async with any_ctx.events.subscribe(bob.id) as queue:
            ready.set()
            event = await queue.get()
            view = await mailbox.read_message(any_ctx, bob, event.data["uid"], event.data["folder"])
            read_on_arrival.append(view.parsed.text)
            return event

    ready = asyncio.Event()
    task = asyncio.create_task(subscriber(ready))
    await ready.wait()
    result = await send(any_ctx, alice, "bob@localhost", "Ping", text="are you there")
    event = await asyncio.wait_for(task, 10)

    assert open_at_publish == [0]
    assert read_on_arrival == ["are you there\n"]
    assert event.agent_id == bob.id
    assert event.payload() == {
        "type": "new",
        "uid": 1,
        "folder": "INBOX",
        "subject": "Ping",
        "from": "alice@localhost",
        "messageId": result.message_id,
    }


async def test_inbound_events_go_to_each_recipient_after_commit(
    any_ctx: AppContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Accepted mail announces one event per recipient agent, all after the commit."""
    bob = await agent(any_ctx, "bob")
    carol = await agent(any_ctx, "carol")
    open_at_publish = _track_transactions(any_ctx, monkeypatch)
    raw = b"From: x@example.com\r\nSubject: Hi\r\nMessage-ID: <e1@example.com>\r\n\r\nbody"
    async with (
        any_ctx.events.subscribe(bob.id) as bob_q,
        any_ctx.events.subscribe(carol.id) as carol_q,
    ):
        await inbox.accept_message(any_ctx, raw, [bob, carol])
        bob_event, carol_event = bob_q.get_nowait(), carol_q.get_nowait()
        assert bob_q.empty() and carol_q.empty()
    assert open_at_publish == [0, 0]
    assert (bob_event.agent_id, carol_event.agent_id) == (bob.id, carol.id)
    assert bob_event.data["from"] == "x@example.com"
    assert bob_event.data["messageId"] == "<e1@example.com>"


async def test_failed_send_publishes_nothing(
    any_ctx: AppContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A send that rolls back announces nothing, not even for copies stored before the failure."""
    alice = await agent(any_ctx, "alice")
    bob = await agent(any_ctx, "bob")
    await agent(any_ctx, "carol")
    original = outbox.store_copies

    async def failing(*args: Any, **kwargs: Any) -> Any:
        await original(*args, **kwargs)  # Sent, bob's and carol's copies are written...
        raise RuntimeError("boom")  # ...then the transaction fails

    monkeypatch.setattr(outbox, "store_copies", failing)
    async with any_ctx.events.subscribe(bob.id) as queue:
        with pytest.raises(RuntimeError):
            await send(any_ctx, alice, "bob@localhost, carol@localhost")
        assert queue.empty()


async def test_events_reach_only_the_agent_concerned(any_ctx: AppContext) -> None:
    """The sender and uninvolved agents hear nothing about a message to someone else."""
    alice = await agent(any_ctx, "alice")
    bob = await agent(any_ctx, "bob")
    carol = await agent(any_ctx, "carol")
    async with (
        any_ctx.events.subscribe(alice.id) as alice_q,
        any_ctx.events.subscribe(carol.id) as carol_q,
    ):
        await send(any_ctx, alice, "bob@localhost")
        assert alice_q.empty() and carol_q.empty()
    assert any_ctx.events.subscriber_count(bob.id) == 0


async def test_slow_subscribers_lose_the_oldest_events_and_never_block() -> None:
    """A full queue drops its oldest event so publishing never waits on a subscriber."""
    bus = EventBus()
    async with bus.subscribe("a") as queue:
        for i in range(QUEUE_LIMIT + 5):
            bus.publish(Event("a", "new", {"i": i}))
        assert queue.qsize() == QUEUE_LIMIT
        assert queue.get_nowait().data["i"] == 5
    assert bus.subscriber_count("a") == 0
    bus.publish(Event("a", "new"))  # nobody listening: a no-op


@pytest.mark.parametrize("dialect", DIALECTS)
async def test_events_reach_streams_held_by_another_process(
    settings: Settings, dialect: str
) -> None:
    """Two server processes on one database: mail stored through one wakes a stream held by
    the other (LISTEN/NOTIFY on PostgreSQL, sockets on SQLite), and each process hears its own
    events once."""
    async with two_contexts(settings, dialect) as (storing, streaming):
        await accounts.ensure_bootstrap(storing)
        alice = await agent(storing, "alice")
        bob = await agent(storing, "bob")
        async with (
            streaming.events.subscribe(bob.id) as remote,
            storing.events.subscribe(bob.id) as local,
        ):
            sent = await send(storing, alice, "bob@localhost")
            relayed = await asyncio.wait_for(remote.get(), timeout=10)
            assert relayed.type == "new" and relayed.data["subject"] == "Hello"
            read = await mailbox.read_message(streaming, bob, relayed.data["uid"])
            assert read.record.message_id == sent.message_id
            assert local.qsize() == 1  # delivered here at once, not again via the relay
            await send(storing, alice, "bob@localhost")  # a second event as a sync point
            await asyncio.wait_for(remote.get(), timeout=10)
            assert local.qsize() == 2


async def test_a_send_wakes_the_delivery_topic_of_another_sqlite_process(
    settings: Settings,
) -> None:
    """The delivery worker of one process hears of a send committed by another on the same
    SQLite file (it would otherwise find the row only at its next poll)."""
    async with two_contexts(settings, "sqlite") as (api, worker):
        await accounts.ensure_bootstrap(api)
        alice = await agent(api, "alice")
        async with worker.events.subscribe(DELIVERY_TOPIC) as wakeups:
            await send(api, alice, "carol@example.org")
            woken = await asyncio.wait_for(wakeups.get(), timeout=10)
        assert woken.agent_id == DELIVERY_TOPIC and woken.type == "delivery.queued"


@pytest.mark.parametrize("dialect", DIALECTS)
async def test_a_notice_announced_just_before_closing_still_reaches_other_processes(
    settings: Settings, dialect: str
) -> None:
    """A short-lived process (a CLI command rotating a key) announces, then closes at once:
    closing waits for the relay, so the server processes still hear it."""
    async with two_contexts(settings, dialect) as (server, _other):
        heard: list[str | None] = []
        server.events.listen("principals", heard.append)
        command = await build_context(
            server.settings.model_copy(update={"data_dir": settings.data_dir / "command"})
        )
        command.events.announce("principals", None)
        await command.close()
        async with asyncio.timeout(10):
            while not heard:
                await asyncio.sleep(0.01)
        assert heard == [None]


async def test_a_process_that_cannot_make_its_socket_still_starts(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    """A file where the sockets' directory should be (or no permission to make it) costs
    only the events to other processes, with a warning; the process itself works."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    (settings.data_dir / "agentpost.db.events").write_text("in the way")
    ctx = await build_context(settings)
    try:
        assert ctx.channel is None
        assert "will not reach other processes" in caplog.text
        await accounts.ensure_bootstrap(ctx)
        alice = await agent(ctx, "alice")
        async with ctx.events.subscribe(alice.id) as mine:
            await send(ctx, alice, "alice@localhost")
            assert (await asyncio.wait_for(mine.get(), 10)).type == "new"  # local events still
    finally:
        await ctx.close()


async def test_a_burst_is_relayed_whole_and_in_order_even_when_one_relay_fails() -> None:
    """Events published together (a group commit's) all reach the relay in the order they
    were published; a relay that fails for one loses that one only, and ``drain`` returns
    once every send is done."""
    relayed: list[str] = []

    async def relay(payload: str) -> None:
        await asyncio.sleep(0)  # a real relay awaits (NOTIFY, a socket)
        if '"n": 3' in payload:
            raise OSError("the relay is down for a moment")
        relayed.append(payload)

    bus = EventBus()
    bus.attach_relay(relay)
    for n in range(10):
        bus.publish(Event(agent_id="a", type="new", data={"n": n}))
    await asyncio.sleep(0)
    bus.announce("later")  # while the burst is being relayed
    await bus.drain()
    numbers = [p for p in relayed if '"n":' in p]
    assert [int(p.split('"n": ')[1].split("}")[0]) for p in numbers] == [0, 1, 2, 4, 5, 6, 7, 8, 9]
    assert '"topic": "later"' in relayed[-1]
    bus.publish(Event(agent_id="a", type="new", data={"n": 10}))  # the next burst goes too
    await bus.drain()
    assert '"n": 10' in relayed[-1]
