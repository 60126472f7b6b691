"""manage_pending_emails and held sends through the MCP tools, against the real API."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from mcp_support import MASTER_KEY, Agent
from sqlalchemy import select, update

from agentpost.client import AgentPostClient, ClientError
from agentpost.mcp.registry import ToolContext, ToolFailure
from agentpost.mcp.tools import tool_by_name
from agentpost.services.context import AppContext
from agentpost.storage.tables.guard import pending_outbound

pytestmark = pytest.mark.anyio
Api = Callable[[str], AgentPostClient]


async def _run(ctx: ToolContext, name: str, **arguments: object) -> str:
    spec = tool_by_name(name)
    assert spec is not None
    return await spec.run(ctx, arguments)


async def _age(ctx: AppContext, hours: float) -> None:
    async with ctx.db.write() as conn:
        rows = (
            await conn.execute(select(pending_outbound.c.id, pending_outbound.c.created_at))
        ).all()
        for row in rows:
            await conn.execute(
                update(pending_outbound)
                .where(pending_outbound.c.id == row.id)
                .values(created_at=row.created_at - timedelta(hours=hours))
            )


async def test_a_held_send_and_the_pending_tool(ctx: AppContext, api: Api, alice: Agent) -> None:
    tools = ToolContext(client=api(alice.key), admin=api(MASTER_KEY))
    sent = await _run(
        tools,
        "send_email",
        to="ext@example.com",
        subject="creds",
        text="db password: Winter2026! and github ghp_abcdefghijklmnopqrstuvwxyz0123456789",
    )
    assert sent.startswith("Email NOT sent — held by the outbound guard")
    assert "ob_github_token" in sent and "ob_password_value" in sent
    assert "Winter2026" not in sent and "ghp_" not in sent
    pending_id = sent.split("Pending ID: ")[1].split()[0]

    listed = await _run(tools, "manage_pending_emails", action="list")
    assert listed.startswith("Pending emails (1):") and pending_id in listed
    assert "Winter2026" not in listed and "[FOLLOW-UP" not in listed
    view = await _run(tools, "manage_pending_emails", action="view", id=pending_id)
    assert "Status: pending" in view and "[HIGH] ob_github_token" in view

    # Even with the master key configured, the tool never approves for the agent.
    for action in ("approve", "reject"):
        with pytest.raises(ClientError) as refused:
            await _run(tools, "manage_pending_emails", action=action, id=pending_id)
        assert refused.value.code == "approval_requires_owner"
    with pytest.raises(ToolFailure):
        await _run(tools, "manage_pending_emails", action="get")

    await _age(ctx, 12.5)
    reminded = await _run(tools, "manage_pending_emails", action="list")
    assert "[FOLLOW-UP REMINDER 1/4]" in reminded and f"Pending ID: {pending_id}" in reminded
    again = await _run(tools, "manage_pending_emails", action="list")
    assert "[FOLLOW-UP" not in again

    await api(MASTER_KEY).approve_pending(pending_id)
    done = await _run(tools, "manage_pending_emails", action="get", id=pending_id)
    assert "Status: approved" in done and "Resolved by admin" in done
