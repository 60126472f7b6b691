"""Push and wait: the SSE stream over a real uvicorn server on port 0, and the long poll; both
also hand out held-mail reminders when the scheduler's sweep announces them."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from datetime import timedelta
from functools import partial
from typing import Any

import anyio
import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from sqlalchemy import select, update

from agentpost.services import reminder_sweeper
from agentpost.services.context import AppContext
from agentpost.storage.tables.guard import pending_outbound

from .support import V1, Agent, assert_error, send, until

pytestmark = pytest.mark.anyio
HELD_TEXT = "please charge card 4242 4242 4242 4242"


@pytest.fixture
async def uvicorn_server(app: FastAPI) -> AsyncIterator[uvicorn.Server]:
    """The app served by uvicorn on a free port of 127.0.0.1, inside the test's loop."""
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=0,
        lifespan="off",
        ws="none",
        log_level="warning",
        timeout_graceful_shutdown=2,
    )
    config.load()
    instance = uvicorn.Server(config)
    instance.lifespan = config.lifespan_class(config)
    await instance.startup()
    main = asyncio.create_task(instance.main_loop())
    try:
        yield instance
    finally:
        instance.should_exit = True
        await main
        await instance.shutdown()


@pytest.fixture
def server(uvicorn_server: uvicorn.Server) -> str:
    port = uvicorn_server.servers[0].sockets[0].getsockname()[1]
    return f"http://127.0.0.1:{port}"


@pytest.fixture
async def http(server: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server, timeout=10) as client:
        yield client


class Stream:
    """An open SSE response read line by line."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self.lines = response.aiter_lines()

    async def next_line(self, prefix: str) -> str:
        with anyio.fail_after(5):
            async for line in self.lines:
                if line.startswith(prefix):
                    return line
        raise AssertionError("the stream ended")

    async def next_event(self) -> dict[str, Any]:
        payload: dict[str, Any] = json.loads((await self.next_line("data: "))[6:])
        return payload


async def open_stream(http: httpx.AsyncClient, agent: Agent, stack: AsyncExitStack) -> Stream:
    response = await stack.enter_async_context(
        http.stream("GET", f"{V1}/events", headers=agent.headers)
    )
    assert response.status_code == 200
    return Stream(response)


async def test_sse_says_connected_then_pushes_new_mail(
    http: httpx.AsyncClient, alice: Agent, bob: Agent
) -> None:
    async with AsyncExitStack() as stack:
        stream = await open_stream(http, bob, stack)
        assert stream.response.headers["content-type"].startswith("text/event-stream")
        assert stream.response.headers["cache-control"] == "no-cache"
        assert await stream.next_event() == {"type": "connected", "agentId": bob.id}
        result = await send(http, alice, to=bob.address, subject="Ping over SSE")
        assert await stream.next_event() == {
            "type": "new",
            "uid": 1,
            "folder": "INBOX",
            "subject": "Ping over SSE",
            "from": "alice@localhost",
            "messageId": result["messageId"],
        }


async def test_sse_sends_keepalive_pings_when_idle(
    app: FastAPI, http: httpx.AsyncClient, bob: Agent
) -> None:
    app.state.ping_seconds = 0.05
    async with AsyncExitStack() as stack:
        stream = await open_stream(http, bob, stack)
        await stream.next_event()
        assert await stream.next_line(":") == ": ping"


async def test_sse_allows_five_streams_per_agent_and_frees_slots_on_disconnect(
    app: FastAPI, ctx: AppContext, http: httpx.AsyncClient, alice: Agent, bob: Agent
) -> None:
    slots = app.state.event_streams
    async with AsyncExitStack() as all_streams:
        streams = []
        for _ in range(5):
            stream = await open_stream(http, bob, all_streams)
            await stream.next_event()
            streams.append(stream)
        sixth = await http.get(f"{V1}/events", headers=bob.headers)
        assert_error(sixth, 429, "rate_limited")
        other_agent = await open_stream(http, alice, all_streams)  # the cap is per agent
        assert (await other_agent.next_event())["type"] == "connected"

        await streams[0].response.aclose()
        await until(lambda: slots.open_count(bob.id) == 4)
        again = await open_stream(http, bob, all_streams)
        assert (await again.next_event())["type"] == "connected"
    await until(lambda: ctx.events.subscriber_count(bob.id) == 0)
    await until(lambda: slots.open_count(bob.id) == 0)


async def test_wait_returns_when_mail_arrives(
    client: httpx.AsyncClient, ctx: AppContext, alice: Agent, bob: Agent
) -> None:
    answers: list[httpx.Response] = []

    async def wait() -> None:
        answers.append(
            await client.get(f"{V1}/mail/wait", params={"timeout": 60}, headers=bob.headers)
        )

    async with anyio.create_task_group() as group:
        group.start_soon(wait)
        await until(lambda: ctx.events.subscriber_count(bob.id) == 1)
        result = await send(client, alice, to=bob.address, subject="Wake up")
    assert answers[0].status_code == 200
    assert answers[0].json() == {
        "arrived": True,
        "eventType": "email",
        "uid": 1,
        "folder": "INBOX",
        "subject": "Wake up",
        "from": "alice@localhost",
        "messageId": result["messageId"],
    }
    assert ctx.events.subscriber_count(bob.id) == 0


async def test_wait_times_out_without_mail(client: httpx.AsyncClient, bob: Agent) -> None:
    with anyio.fail_after(5):
        response = await client.get(f"{V1}/mail/wait", params={"timeout": 1}, headers=bob.headers)
    assert response.json() == {"arrived": False, "timedOut": True}


async def test_wait_is_capped_per_agent(
    app: FastAPI, client: httpx.AsyncClient, ctx: AppContext, alice: Agent, bob: Agent
) -> None:
    answers: list[dict[str, Any]] = []

    async def wait() -> None:
        response = await client.get(f"{V1}/mail/wait", params={"timeout": 60}, headers=bob.headers)
        answers.append(response.json())

    async with anyio.create_task_group() as group:
        for _ in range(5):
            group.start_soon(wait)
        await until(lambda: app.state.mail_waits.open_count(bob.id) == 5)
        sixth = await client.get(f"{V1}/mail/wait", params={"timeout": 1}, headers=bob.headers)
        assert_error(sixth, 429, "rate_limited")
        await until(lambda: ctx.events.subscriber_count(bob.id) == 5)
        await send(client, alice, to=bob.address, subject="All of you")
    assert [a["subject"] for a in answers] == ["All of you"] * 5
    assert app.state.mail_waits.open_count(bob.id) == 0


# -- held-mail reminders --------------------------------------------------------------------


async def held_and_due(
    client: httpx.AsyncClient, ctx: AppContext, sender: Agent, hours: float = 12.5
) -> str:
    """Send mail the guard holds, then move it ``hours`` into the past (a reminder is due)."""
    body = {"to": "client@example.com", "subject": "Card details", "text": HELD_TEXT}
    response = await client.post(f"{V1}/mail/send", json=body, headers=sender.headers)
    assert response.status_code == 202, response.text
    pending_id: str = response.json()["pendingId"]
    shift = timedelta(hours=hours)
    async with ctx.db.write() as conn:
        row = (
            await conn.execute(
                select(pending_outbound.c.created_at, pending_outbound.c.expires_at).where(
                    pending_outbound.c.id == pending_id
                )
            )
        ).one()
        await conn.execute(
            update(pending_outbound)
            .where(pending_outbound.c.id == pending_id)
            .values(created_at=row.created_at - shift, expires_at=row.expires_at - shift)
        )
    return pending_id


async def test_check_hands_out_reminders_once_and_unread_does_not(
    client: httpx.AsyncClient, ctx: AppContext, alice: Agent, bob: Agent
) -> None:
    pending_id = await held_and_due(client, ctx, alice)
    await send(client, bob, to=alice.address, subject="Lunch?")
    unread = await client.get(f"{V1}/agent-messages/unread", headers=alice.headers)
    assert "reminders" not in unread.json()  # the plain summary claims nothing
    check = await client.post(f"{V1}/agent-messages/check", headers=alice.headers)
    assert check.status_code == 200, check.text
    answer = check.json()
    assert (answer["total"], answer["messages"][0]["subject"]) == (1, "Lunch?")
    (reminder,) = answer["reminders"]
    assert reminder["pendingId"] == pending_id
    assert (reminder["label"], reminder["subject"]) == ("follow-up reminder 1/4", "Card details")
    assert reminder["to"] == ["client@example.com"]
    assert {"dueAt", "nextReminderAt", "createdAt"} <= reminder.keys()
    assert "4242" not in check.text  # the held content itself never comes back
    again = await client.post(f"{V1}/agent-messages/check", headers=alice.headers)
    assert again.json()["reminders"] == []
    bobs = await client.post(f"{V1}/agent-messages/check", headers=bob.headers)
    assert bobs.json()["reminders"] == []


async def test_sse_emits_a_reminder_to_that_agent_only(
    http: httpx.AsyncClient, ctx: AppContext, alice: Agent, bob: Agent
) -> None:
    pending_id = await held_and_due(http, ctx, alice)
    async with AsyncExitStack() as stack:
        alices = await open_stream(http, alice, stack)
        bobs = await open_stream(http, bob, stack)
        assert (await alices.next_event())["type"] == "connected"
        assert (await bobs.next_event())["type"] == "connected"
        assert await reminder_sweeper.announce_due(ctx) == 1
        event = await alices.next_event()
        assert event["type"] == "reminder"
        assert [r["pendingId"] for r in event["reminders"]] == [pending_id]
        assert event["reminders"][0]["subject"] == "Card details"
        # Bob's stream stays quiet: the next thing it sees is his own mail, not the reminder.
        await send(http, alice, to=bob.address, subject="For Bob")
        assert (await bobs.next_event())["subject"] == "For Bob"
    check = await http.post(f"{V1}/agent-messages/check", headers=alice.headers)
    assert check.json()["reminders"] == []  # the stream claimed it


async def test_wait_wakes_when_a_reminder_falls_due(
    client: httpx.AsyncClient, ctx: AppContext, alice: Agent
) -> None:
    pending_id = await held_and_due(client, ctx, alice, hours=22.5)
    answers: list[httpx.Response] = []

    async def wait() -> None:
        params = {"timeout": 60}
        answers.append(await client.get(f"{V1}/mail/wait", params=params, headers=alice.headers))

    async with anyio.create_task_group() as group:
        group.start_soon(wait)
        await until(lambda: ctx.events.subscriber_count(alice.id) == 1)
        assert await reminder_sweeper.announce_due(ctx) == 1
    answer = answers[0].json()
    assert (answer["arrived"], answer["eventType"]) == (True, "reminder")
    (reminder,) = answer["reminders"]
    assert (reminder["pendingId"], reminder["label"]) == (
        pending_id,
        "final follow-up before a 3-day pause",
    )


class StalledClaim:
    """Claims as the server does, then holds the claim's answer until ``resume``: the client
    can leave between the claim and the write, as it may in production at any moment."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.claimed = anyio.Event()
        self.resume = anyio.Event()
        self._real = reminder_sweeper.claim_reminder_event
        monkeypatch.setattr(reminder_sweeper, "claim_reminder_event", self)

    async def __call__(self, ctx: AppContext, agent_id: str) -> Any:
        event = await self._real(ctx, agent_id)
        self.claimed.set()
        await self.resume.wait()
        return event


class Connections:
    """The server's own view of the connections a test opens: ``mark`` those opened since
    this was made (while they are surely open), ``left`` waits until the server has seen
    them close. Other connections may come and go meanwhile."""

    def __init__(self, server: uvicorn.Server) -> None:
        self._open = server.server_state.connections
        self._before = set(self._open)
        self._ours = set(self._open) - self._before  # none yet: marked once open

    def mark(self) -> None:
        self._ours = set(self._open) - self._before
        assert self._ours

    async def left(self) -> None:
        await until(lambda: not self._ours & self._open)


async def stream_reminder(http: httpx.AsyncClient, ctx: AppContext, agent: Agent) -> Any:
    async with AsyncExitStack() as stack:
        stream = await open_stream(http, agent, stack)
        assert (await stream.next_event())["type"] == "connected"
        assert await reminder_sweeper.announce_due(ctx) == 1  # unclaimed: announced again
        return await stream.next_event()


async def test_a_reminder_a_stream_claimed_for_a_client_that_left_comes_again(
    app: FastAPI,
    uvicorn_server: uvicorn.Server,
    server: str,
    http: httpx.AsyncClient,
    ctx: AppContext,
    alice: Agent,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pending_id = await held_and_due(http, ctx, alice)
    stall = StalledClaim(monkeypatch)
    connections = Connections(uvicorn_server)
    async with httpx.AsyncClient(base_url=server, timeout=10) as leaving, AsyncExitStack() as stack:
        stream = await open_stream(leaving, alice, stack)
        assert (await stream.next_event())["type"] == "connected"
        assert await reminder_sweeper.announce_due(ctx) == 1
        with anyio.fail_after(5):
            await stall.claimed.wait()
        connections.mark()
        await stack.aclose()  # the client leaves: its connection closes
        await connections.left()
    stall.resume.set()  # the claim answers only now, for a connection the server knows closed
    await until(lambda: app.state.event_streams.open_count(alice.id) == 0)
    monkeypatch.undo()
    event = await stream_reminder(http, ctx, alice)
    assert event["type"] == "reminder"
    assert [r["pendingId"] for r in event["reminders"]] == [pending_id]
    check = await http.post(f"{V1}/agent-messages/check", headers=alice.headers)
    assert check.json()["reminders"] == []  # and once delivered, it is not handed out again


async def test_a_reminder_a_wait_claimed_for_a_client_that_left_comes_again(
    app: FastAPI,
    uvicorn_server: uvicorn.Server,
    server: str,
    http: httpx.AsyncClient,
    ctx: AppContext,
    alice: Agent,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pending_id = await held_and_due(http, ctx, alice)
    stall = StalledClaim(monkeypatch)
    connections = Connections(uvicorn_server)
    async with httpx.AsyncClient(base_url=server, timeout=10) as leaving:
        async with anyio.create_task_group() as group:
            wait = partial(leaving.get, f"{V1}/mail/wait", headers=alice.headers)
            group.start_soon(partial(wait, params={"timeout": 60}))
            await until(lambda: ctx.events.subscriber_count(alice.id) == 1)
            assert await reminder_sweeper.announce_due(ctx) == 1
            with anyio.fail_after(5):
                await stall.claimed.wait()
            connections.mark()
            group.cancel_scope.cancel()  # the client gives up waiting: its connection closes
        await connections.left()
    stall.resume.set()
    await until(lambda: app.state.mail_waits.open_count(alice.id) == 0)
    monkeypatch.undo()
    answers: list[httpx.Response] = []

    async def wait_again() -> None:
        params = {"timeout": 60}
        answers.append(await http.get(f"{V1}/mail/wait", params=params, headers=alice.headers))

    async with anyio.create_task_group() as group:
        group.start_soon(wait_again)
        await until(lambda: ctx.events.subscriber_count(alice.id) == 1)
        assert await reminder_sweeper.announce_due(ctx) == 1  # unclaimed: announced again
    answer = answers[0].json()
    assert (answer["arrived"], answer["eventType"]) == (True, "reminder")
    assert [r["pendingId"] for r in answer["reminders"]] == [pending_id]
