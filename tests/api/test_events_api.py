"""Push and wait: the SSE stream over a real uvicorn server on port 0, and the long poll."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from typing import Any

import anyio
import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from agentpost.services.context import AppContext

from .support import V1, Agent, assert_error, send, until

pytestmark = pytest.mark.anyio


@pytest.fixture
async def server(app: FastAPI) -> AsyncIterator[str]:
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
    port = instance.servers[0].sockets[0].getsockname()[1]
    main = asyncio.create_task(instance.main_loop())
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        instance.should_exit = True
        await main
        await instance.shutdown()


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
