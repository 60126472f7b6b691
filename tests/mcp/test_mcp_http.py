"""MCP over streamable HTTP at /mcp, with the SDK's own client against a real uvicorn server:
the same tools and answers as stdio, authenticated per request with the agent's key."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import httpx
import httpx2
import pytest
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp_support import MASTER_KEY, Agent, McpSession
from mcp_types import TextContent

from agentpost.client import AgentPostClient
from agentpost.errors import Unauthenticated

pytestmark = pytest.mark.anyio
ApiFor = Callable[[str], AgentPostClient]


@asynccontextmanager
async def http_session(api_url: str, key: str) -> AsyncIterator[ClientSession]:
    headers = {"Authorization": f"Bearer {key}"}
    async with (
        httpx2.AsyncClient(headers=headers, timeout=30) as http,
        streamable_http_client(f"{api_url}/mcp", http_client=http) as streams,
        ClientSession(streams[0], streams[1]) as session,
    ):
        await session.initialize()
        yield session


async def _text(session: ClientSession, tool: str, **arguments: object) -> str:
    result = await session.call_tool(tool, arguments)
    block = result.content[0]
    assert isinstance(block, TextContent)
    assert not result.is_error, block.text
    return block.text


async def test_tools_over_http_answer_as_over_stdio(
    api_url: str, mcp_session: McpSession, alice: Agent, bob: Agent, api: ApiFor
) -> None:
    await api(bob.key).send("alice@localhost", "Quarterly numbers", text="attached")
    async with http_session(api_url, alice.key) as session:
        names = {tool.name for tool in (await session.list_tools()).tools}
        over_http = [await _text(session, "whoami"), await _text(session, "list_inbox")]
        sent = await _text(
            session, "send_email", to="bob@localhost", subject="Re: numbers", text="thanks"
        )
    async with mcp_session(alice.key) as stdio:
        assert over_http == [await _text(stdio, "whoami"), await _text(stdio, "list_inbox")]
    assert {"send_email", "list_inbox", "wait_for_email"} <= names
    assert "Quarterly numbers" in over_http[1]
    assert "Message ID" in sent
    inbox = await api(bob.key).inbox(limit=5)
    assert [m.subject for m in inbox.messages] == ["Re: numbers"]


async def test_each_agent_acts_as_itself(api_url: str, alice: Agent, bob: Agent) -> None:
    async with http_session(api_url, alice.key) as first, http_session(api_url, bob.key) as second:
        assert "alice@localhost" in await _text(first, "whoami")
        assert "bob@localhost" in await _text(second, "whoami")


@pytest.mark.parametrize(
    ("key", "status", "code"),
    [
        (None, 401, Unauthenticated.code),
        ("ak_" + "0" * 48, 401, Unauthenticated.code),
        (MASTER_KEY, 403, "agent_key_required"),
    ],
)
async def test_requests_without_an_agent_key_are_refused(
    api_url: str, key: str | None, status: int, code: str
) -> None:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
    async with httpx.AsyncClient(base_url=api_url) as http:
        answer = await http.post("/mcp", json=body, headers=headers)
    assert answer.status_code == status
    assert answer.json()["code"] == code
