"""get_send_budget and the account lifecycle tools over the MCP stdio client, and function
calling (GET/POST /tools) over real HTTP, whose results must equal the MCP tools' own."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import httpx
import pytest
from mcp import ClientSession
from mcp_support import MASTER_KEY, Agent, McpSession
from mcp_types import TextContent
from sqlalchemy import update

from agentpost.client import AgentPostClient
from agentpost.services import accounts
from agentpost.services.accounts import now_utc
from agentpost.services.context import AppContext
from agentpost.storage.tables import agents
from agentpost.testing.permissions import grant, make_config

pytestmark = pytest.mark.anyio
ApiFor = Callable[[str], AgentPostClient]


async def call(session: ClientSession, tool: str, *, error: bool = False, **arguments: Any) -> str:
    result = await session.call_tool(tool, arguments)
    block = result.content[0]
    assert isinstance(block, TextContent)
    assert bool(result.is_error) is error, block.text
    return block.text


async def _limit_alice(ctx: AppContext, **fields: object) -> str:
    admin = await accounts.authenticate(ctx, MASTER_KEY)
    config = await make_config(ctx, admin.owner_id, max_per_day=40)
    await grant(ctx, admin, "alice", config, **fields)
    return config


async def test_get_send_budget_over_stdio(
    ctx: AppContext, mcp_session: McpSession, alice: Agent, api: ApiFor
) -> None:
    config = await _limit_alice(ctx, hourly_limit=5, allowed_recipients=["*@example.com"])
    await api(alice.key).send("a@example.com", "hi", text="x")
    async with mcp_session(alice.key) as session:
        text = await call(session, "get_send_budget")
    assert "permissions assigned by your owner" in text
    assert f"Configuration {config}" in text
    assert "hourly: 1 of 5 used, 4 left (a slot frees at " in text
    assert "config_daily: 1 of 40 used, 39 left" in text
    assert "allowed recipients: *@example.com" in text


async def test_lifecycle_tools_over_stdio(
    ctx: AppContext, mcp_session: McpSession, alice: Agent, bob: Agent, api: ApiFor
) -> None:
    await api(alice.key).send("bob@localhost", "one", text="x")
    await api(bob.key).send("alice@localhost", "two", text="y")
    async with mcp_session(alice.key, master_key=MASTER_KEY) as session:
        deleted = await call(session, "delete_agent", name="bob", reason="done")
        assert 'Agent "bob" deleted successfully.' in deleted
        assert "Emails archived: 2" in deleted and "Top correspondents: alice@localhost" in deleted
        report_id = deleted.split("Deletion ID: ")[1].split()[0]
        listing = await call(session, "deletion_reports")
        assert f"[{report_id}] bob (bob@localhost) — deleted " in listing
        shown = await call(session, "deletion_reports", id=report_id)
        assert "Inbox: 1, Sent: 1, Other: 0" in shown and "Reason: done" in shown
        assert "Top correspondents: alice@localhost (2)" in shown
        missing = await call(session, "deletion_reports", error=True, id="nope")
        assert "deletion_report_not_found" in missing
        await _make_idle(ctx, "carol")
        idle = await call(session, "cleanup_agents", action="list_inactive", hours=24)
        assert idle.startswith("1 inactive agent(s):") and "carol (carol@localhost)" in idle
        dry = await call(session, "cleanup_agents", action="cleanup", hours=24, dryRun=True)
        assert dry == "Would delete 1 agent(s): carol"
        carol = await accounts.find_agent(
            ctx, await accounts.authenticate(ctx, MASTER_KEY), "carol"
        )
        flag = await call(
            session, "cleanup_agents", action="set_persistent", agentId=carol.id, persistent=True
        )
        assert flag == f"Agent {carol.id} persistent flag set to true"
        none = await call(session, "cleanup_agents", action="cleanup", hours=24)
        assert none.startswith("No inactive agents to clean up.")
        await call(
            session, "cleanup_agents", action="set_persistent", agentId=carol.id, persistent=False
        )
        gone = await call(session, "cleanup_agents", action="cleanup", hours=24)
        assert gone == "Deleted 1 agent(s): carol"
        bad = await call(session, "cleanup_agents", error=True, action="set_persistent")
        assert "agentId and persistent" in bad
        wrong = await call(session, "cleanup_agents", error=True, action="explode")
        assert "action" in wrong
    async with mcp_session(alice.key) as session:  # no master key: the API refuses the agent
        refused = await call(session, "deletion_reports", error=True)
        assert "owner_key_required" in refused


async def _make_idle(ctx: AppContext, name: str) -> None:
    admin = await accounts.authenticate(ctx, MASTER_KEY)
    record, _key = await accounts.create_agent(ctx, admin, name=name)
    moment = now_utc() - timedelta(hours=48)
    async with ctx.db.write() as conn:
        await conn.execute(
            update(agents).where(agents.c.id == record.id).values(last_activity_at=moment)
        )


async def _tools(api_url: str, agent: Agent, **params: str) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=f"{api_url}/api/v1") as http:
        response = await http.get("/tools", params=params, headers=_auth(agent.key))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def test_function_tools_follow_permissions(
    ctx: AppContext, api_url: str, alice: Agent
) -> None:
    both = await _tools(api_url, alice)
    openai_names = [t["function"]["name"] for t in both["openai"]]
    anthropic_names = [t["name"] for t in both["anthropic"]]
    assert openai_names == anthropic_names
    assert {"send_email", "get_send_budget", "list_inbox", "wait_for_email"} <= set(openai_names)
    assert not {"create_account", "delete_agent"} & set(openai_names)
    send = next(t for t in both["openai"] if t["function"]["name"] == "send_email")
    assert send["type"] == "function"
    assert send["function"]["parameters"]["required"] == ["to", "subject"]
    anthropic = await _tools(api_url, alice, format="anthropic")
    assert set(anthropic) == {"anthropic"}
    assert anthropic["anthropic"][0].keys() == {"name", "description", "input_schema"}
    await _limit_alice(ctx, can_send=False)
    silenced = await _tools(api_url, alice, format="openai")
    names = {t["function"]["name"] for t in silenced["openai"]}
    assert "send_email" not in names and "reply_email" not in names and "list_inbox" in names


async def test_function_call_equals_the_mcp_tool(
    ctx: AppContext, api_url: str, mcp_session: McpSession, alice: Agent, bob: Agent, api: ApiFor
) -> None:
    await api(bob.key).send("alice@localhost", "Quarterly numbers", text="attached")
    async with httpx.AsyncClient(base_url=f"{api_url}/api/v1", headers=_auth(alice.key)) as http:
        whoami = (await http.post("/tools/whoami", json={})).json()
        inbox = (await http.post("/tools/list_inbox", json={"limit": 5})).json()
        sent = await http.post(
            "/tools/send_email", json={"to": "bob@localhost", "subject": "Re", "text": "ok"}
        )
        unknown = await http.post("/tools/no_such_tool", json={})
        bad = await http.post("/tools/list_inbox", json={"limit": 0})
        master = await http.post("/tools/create_account", json={"name": "x"})
        await _limit_alice(ctx, hourly_limit=1)
        await http.post("/tools/send_email", json={"to": "a@example.com", "subject": "1"})
        limited = await http.post("/tools/send_email", json={"to": "b@example.com", "subject": "2"})
    async with mcp_session(alice.key) as session:
        assert whoami["result"] == await call(session, "whoami")
        assert inbox["result"] == await call(session, "list_inbox", limit=5)
    assert sent.status_code == 200 and "Message ID" in sent.json()["result"]
    assert (unknown.status_code, unknown.json()["code"]) == (404, "tool_not_found")
    assert (bad.status_code, bad.json()["code"]) == (400, "invalid_arguments")
    assert "limit" in bad.json()["error"]
    assert (master.status_code, master.json()["code"]) == (403, "tool_not_permitted")
    assert (limited.status_code, limited.json()["code"]) == (429, "rate_limited")


async def test_wait_for_email_by_function_call_waits_by_long_poll(
    api_url: str, alice: Agent, bob: Agent, api: ApiFor
) -> None:
    async with httpx.AsyncClient(
        base_url=f"{api_url}/api/v1", headers=_auth(alice.key), timeout=30
    ) as http:
        waiting = asyncio.create_task(http.post("/tools/wait_for_email", json={"timeout": 20}))
        await asyncio.sleep(0.5)  # the long poll is open
        await api(bob.key).send("alice@localhost", "Are you there?", text="ping")
        answer = await asyncio.wait_for(waiting, 25)
        idle = await http.post("/tools/wait_for_email", json={"timeout": 1})
    assert answer.status_code == 200, answer.text
    arrived = json.loads(answer.json()["result"])
    assert arrived["arrived"] is True and arrived["mode"] == "poll"
    assert arrived["email"]["subject"] == "Are you there?"
    assert arrived["email"]["from"] == "bob@localhost"
    timed_out = json.loads(idle.json()["result"])
    assert timed_out["arrived"] is False and timed_out["timedOut"] is True
