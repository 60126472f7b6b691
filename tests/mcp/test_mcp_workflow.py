"""The workflow tools through ``python -m agentpost.mcp`` over stdio against the real API:
tags, rules, agent messages, tasks, call_agent, and wait_for_email waking on a task."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import anyio
import pytest
from mcp import ClientSession
from mcp_support import Agent, McpSession
from mcp_types import CallToolResult, TextContent

from agentpost.client import AgentPostClient
from agentpost.services import inbox
from agentpost.services.context import AppContext

pytestmark = pytest.mark.anyio

ApiFor = Callable[[str], AgentPostClient]


def text_of(result: CallToolResult) -> str:
    block = result.content[0]
    assert isinstance(block, TextContent)
    return block.text


async def call(session: ClientSession, tool: str, **arguments: Any) -> str:
    result = await session.call_tool(tool, arguments)
    assert result.is_error is not True, text_of(result)
    return text_of(result)


async def error(session: ClientSession, tool: str, **arguments: Any) -> str:
    result = await session.call_tool(tool, arguments)
    assert result.is_error is True, text_of(result)
    assert "Traceback" not in text_of(result)
    return text_of(result)


async def subscribed(ctx: AppContext, agent_id: str, count: int = 1) -> None:
    """Until the agent's stream or long poll is listening (a condition, with a timeout)."""
    with anyio.fail_after(10):
        while ctx.events.subscriber_count(agent_id) < count:
            await anyio.sleep(0.01)


async def test_tag_and_rule_tools(
    mcp_session: McpSession, api: ApiFor, alice: Agent, bob: Agent
) -> None:
    await api(alice.key).send(bob.address, "Contract draft", text="see below")
    async with mcp_session(bob.key) as session:
        assert await call(session, "manage_tags", action="list") == "No tags."
        created = await call(session, "manage_tags", action="create", name="legal", color="#aa0000")
        assert created.startswith('Tag "legal" created (#aa0000). ID: ')
        tag_id = created.rsplit(" ", 1)[1]
        assert await call(session, "manage_tags", action="list") == f"[{tag_id}] legal (#aa0000)"
        tagged = await call(session, "manage_tags", action="tag_message", id=tag_id, uid=1)
        assert tagged == f"Tagged message UID 1 in INBOX with tag {tag_id}."
        listed = await call(session, "manage_tags", action="get_messages", id=tag_id)
        assert listed.splitlines()[0] == 'Tag "legal" — 1 messages:'
        assert "UID 1 (INBOX)" in listed and "Contract draft" in listed
        on_it = await call(session, "manage_tags", action="get_message_tags", uid=1)
        assert on_it == f"[{tag_id}] legal (#aa0000)"
        untagged = await call(session, "manage_tags", action="untag_message", id=tag_id, uid=1)
        assert untagged == "Removed tag from message UID 1 in INBOX."
        assert await call(session, "manage_tags", action="delete", id=tag_id) == "Tag deleted."

        assert "name is required" in await error(session, "manage_tags", action="create")
        assert "id is required" in await error(session, "manage_tags", action="tag_message", uid=1)
        assert "uid is required" in await error(
            session, "manage_tags", action="tag_message", id="x"
        )
        assert "code tag_not_found" in await error(session, "manage_tags", action="delete", id="x")
        assert "uid" in await error(session, "manage_tags", action="get_message_tags", uid=0)
        assert "action" in await error(session, "manage_tags", action="rename")

        assert await call(session, "manage_rules", action="list") == "No email rules configured."
        made = await call(
            session,
            "manage_rules",
            action="create",
            name="contracts",
            priority=2,
            conditions={"subject_contains": "contract"},
            actions={"mark_read": True},
        )
        assert made.startswith('Rule "contracts" created. ID: ')
        rule_id = made.rsplit(" ", 1)[1]
        listing = await call(session, "manage_rules", action="list")
        assert listing.splitlines()[0] == f"[{rule_id}] contracts (priority: 2, enabled: true)"
        assert '  Conditions: {"subject_contains": "contract"}' in listing
        bad = await error(
            session,
            "manage_rules",
            action="create",
            name="bad",
            conditions={"subject_regex": "(a*)*b"},
            actions={"delete": True},
        )
        assert "conditions.subject_regex" in bad
        assert "actions is required" in await error(
            session, "manage_rules", action="create", name="x"
        )
        assert await call(session, "manage_rules", action="delete", id=rule_id) == "Rule deleted."
        assert "code rule_not_found" in await error(
            session, "manage_rules", action="delete", id=rule_id
        )


async def test_message_agent_and_check_messages(
    ctx: AppContext, mcp_session: McpSession, alice: Agent, bob: Agent
) -> None:
    async with mcp_session(alice.key) as session:
        sent = await call(
            session, "message_agent", agent="bob", subject="Standup", text="5 min", priority="high"
        )
        assert sent.startswith(f"Message sent to {bob.address}. Message ID: <")
        missing = await error(session, "message_agent", agent="nobody", subject="x", text="y")
        assert 'agent "nobody" not found' in missing and "list_agents" in missing
        assert "text" in await error(session, "message_agent", agent="bob", subject="x")
        assert "priority" in await error(
            session, "message_agent", agent="bob", subject="x", text="y", priority="low"
        )
    external = b"From: news@example.com\r\nTo: bob@localhost\r\nSubject: Outside\r\n\r\nhi\r\n"
    await inbox.accept_message(ctx, external, [bob.record])
    async with mcp_session(bob.key) as session:
        summary = await call(session, "check_messages")
    assert summary.splitlines() == [
        "2 unread message(s):",
        '  [external] UID 2: from news@example.com — "Outside"',
        f'  [agent] UID 1: from {alice.address} — "[HIGH] Standup"',
    ]


async def test_task_tools_and_their_permissions(
    mcp_session: McpSession, api: ApiFor, alice: Agent, bob: Agent
) -> None:
    async with mcp_session(alice.key) as session:
        assigned = await call(
            session, "assign_task", assignee="bob", taskType="review", payload={"pr": 12}
        )
        assert assigned.startswith("Task assigned to bob. Task ID: ")
        task_id = assigned.rsplit(" ", 1)[1]
        assert "expiresInSeconds" in await error(
            session, "assign_task", assignee="bob", expiresInSeconds=0
        )
        assert "assignee" in await error(session, "assign_task")
        assert "code agent_not_found" in await error(session, "assign_task", assignee="ghost")
        assert "code not_task_assignee" in await error(session, "claim_task", id=task_id)
        assert "code not_task_assignee" in await error(session, "submit_result", id=task_id)
        assert await call(session, "check_tasks") == "No pending tasks."
    async with mcp_session(bob.key) as session:
        incoming = await call(session, "check_tasks", direction="incoming", assignee="bob")
        assert incoming.splitlines()[0] == "1 tasks:"
        assert f"[{task_id}] review — status: pending, from alice to bob" in incoming
        assert "private" in await error(session, "check_tasks", assignee="alice")
        assert "code task_not_found" in await error(session, "claim_task", id="no-such-task")
        claimed = await call(session, "claim_task", id=task_id)
        assert claimed.startswith(f"Task {task_id} claimed. Type: review. From: alice.")
        assert '{"pr": 12}' in claimed
        assert "code task_state_conflict" in await error(session, "claim_task", id=task_id)
        done = await call(session, "submit_result", id=task_id, result={"approved": True})
        assert done == f"Result submitted for task {task_id}. Status: completed"
        assert "id" in await error(session, "submit_result")
        outgoing = await call(session, "check_tasks", direction="outgoing")
        assert outgoing == "No tasks assigned by you."
    [mine] = await api(alice.key).list_tasks("outgoing")
    assert (mine.id, mine.status, mine.result) == (task_id, "completed", {"approved": True})


async def test_call_agent_gets_the_answer_a_waiting_agent_gives(
    ctx: AppContext, mcp_session: McpSession, api: ApiFor, alice: Agent, bob: Agent
) -> None:
    """Bob's wait_for_email wakes on the task; his answer ends Alice's call_agent."""
    async with mcp_session(bob.key) as bob_session, mcp_session(alice.key) as alice_session:
        waiting = asyncio.create_task(bob_session.call_tool("wait_for_email", {"timeout": 60}))
        await subscribed(ctx, bob.record.id)
        calling = asyncio.create_task(
            alice_session.call_tool(
                "call_agent", {"target": "bob", "task": "capital of France?", "timeout": 60}
            )
        )
        woke = json.loads(text_of(await waiting))
        assert (woke["arrived"], woke["eventType"]) == (True, "task")
        task = woke["task"]
        assert (task["event"], task["from"], task["description"]) == (
            "assigned",
            "alice",
            "capital of France?",
        )
        assert "claim_task" in woke["hint"]
        await call(bob_session, "claim_task", id=task["taskId"])
        await call(bob_session, "submit_result", id=task["taskId"], result={"answer": "Paris"})
        answer = text_of(await calling)
    assert answer == f'bob completed task {task["taskId"]}.\nResult: {{"answer": "Paris"}}'


async def test_call_agent_times_out_and_leaves_the_task_open(
    mcp_session: McpSession, api: ApiFor, alice: Agent, bob: Agent
) -> None:
    async with mcp_session(alice.key) as session:
        assert "timeout" in await error(session, "call_agent", target="bob", task="x", timeout=4)
        assert "timeout" in await error(session, "call_agent", target="bob", task="x", timeout=301)
        assert "task" in await error(session, "call_agent", target="bob")
        answer = await call(session, "call_agent", target="bob", task="slow job", timeout=5)
    assert answer.startswith("Timed out: Task not completed within 5s; it is still pending")
    [open_task] = await api(bob.key).list_tasks("incoming")
    assert open_task.payload == {"task": "slow job"}
    assert (await api(bob.key).claim_task(open_task.id)).status == "claimed"
