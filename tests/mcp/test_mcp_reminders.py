"""Held-mail reminders through an agent's everyday tools, over stdio against the real API:
check_messages shows a due reminder once, and wait_for_email wakes when the scheduler's
sweep announces one (another agent's wait does not)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import timedelta

import anyio
import pytest
from mcp import ClientSession
from mcp_support import Agent, McpSession
from mcp_types import TextContent
from sqlalchemy import select, update

from agentpost.client import AgentPostClient
from agentpost.mcp.tools import waiting
from agentpost.services import reminder_sweeper
from agentpost.services.context import AppContext
from agentpost.storage.tables.guard import pending_outbound

pytestmark = pytest.mark.anyio

ApiFor = Callable[[str], AgentPostClient]
HELD_TEXT = "please charge card 4242 4242 4242 4242"


async def call(session: ClientSession, tool: str, **arguments: object) -> str:
    result = await session.call_tool(tool, dict(arguments))
    block = result.content[0]
    assert isinstance(block, TextContent) and result.is_error is not True, block
    return block.text


async def held_and_due(ctx: AppContext, api: ApiFor, sender: Agent, hours: float) -> str:
    """Mail the guard holds, moved ``hours`` into the past so a reminder is due."""
    result = await api(sender.key).send("client@example.com", "Card details", text=HELD_TEXT)
    assert result.pending_id is not None
    shift = timedelta(hours=hours)
    table = pending_outbound.c
    async with ctx.db.write() as conn:
        query = select(table.created_at, table.expires_at).where(table.id == result.pending_id)
        row = (await conn.execute(query)).one()
        await conn.execute(
            update(pending_outbound)
            .where(table.id == result.pending_id)
            .values(created_at=row.created_at - shift, expires_at=row.expires_at - shift)
        )
    return result.pending_id


async def subscribed(ctx: AppContext, agent_id: str) -> None:
    with anyio.fail_after(10):
        while ctx.events.subscriber_count(agent_id) < 1:
            await anyio.sleep(0.01)


async def test_check_messages_shows_a_due_reminder_once(
    ctx: AppContext, mcp_session: McpSession, api: ApiFor, alice: Agent
) -> None:
    pending_id = await held_and_due(ctx, api, alice, 12.5)
    async with mcp_session(alice.key) as session:
        first = await call(session, "check_messages")
        again = await call(session, "check_messages")
    unread, reminder = first.split("\n\n")
    assert unread == "No unread messages."
    assert reminder.startswith(
        "Reminder (follow-up reminder 1/4): your message to client@example.com about "
        "'Card details' has been waiting for your owner's approval since "
    )
    assert "Remind your owner to approve or reject it" in reminder
    assert f"Pending ID: {pending_id}." in reminder
    assert "4242" not in first
    assert again == "No unread messages."


async def test_wait_for_email_wakes_on_a_due_reminder_for_that_agent_only(
    ctx: AppContext, mcp_session: McpSession, api: ApiFor, alice: Agent, bob: Agent
) -> None:
    pending_id = await held_and_due(ctx, api, alice, 18.5)
    async with mcp_session(alice.key) as alices, mcp_session(bob.key) as bobs:
        bob_waits = asyncio.create_task(bobs.call_tool("wait_for_email", {"timeout": 5}))
        await subscribed(ctx, bob.record.id)
        alice_waits = asyncio.create_task(alices.call_tool("wait_for_email", {"timeout": 60}))
        await subscribed(ctx, alice.record.id)
        assert await reminder_sweeper.announce_due(ctx) == 1
        woke = await alice_waits
        bob_result = await bob_waits
    block = woke.content[0]
    assert isinstance(block, TextContent)
    answer = json.loads(block.text)
    assert (answer["arrived"], answer["mode"], answer["eventType"]) == (True, "push", "reminder")
    (reminder,) = answer["reminders"]
    assert (reminder["pendingId"], reminder["label"]) == (pending_id, "follow-up reminder 2/4")
    assert "your message to client@example.com about 'Card details'" in answer["message"]
    bob_block = bob_result.content[0]
    assert isinstance(bob_block, TextContent)
    assert json.loads(bob_block.text)["timedOut"] is True


async def test_the_long_poll_fallback_returns_a_reminder_too(
    ctx: AppContext, api: ApiFor, alice: Agent
) -> None:
    """The branch wait_for_email takes when the event stream is refused (mode poll)."""
    pending_id = await held_and_due(ctx, api, alice, 12.5)
    polling = asyncio.create_task(waiting._poll(api(alice.key), 30, 30))
    await subscribed(ctx, alice.record.id)
    assert await reminder_sweeper.announce_due(ctx) == 1
    answer = await polling
    assert (answer["arrived"], answer["mode"], answer["eventType"]) == (True, "poll", "reminder")
    assert [r["pendingId"] for r in answer["reminders"]] == [pending_id]
    assert answer["message"].startswith("Reminder (follow-up reminder 1/4): your message to ")
