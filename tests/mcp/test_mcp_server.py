"""The MCP server in-process over a scripted API: what hosts see in tools/list, how results
and failures come back, key selection, wait_for_email's modes, the inbox resource, config."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from mcp import Client
from mcp_types import CallToolResult, TextContent

from agentpost.client import AgentPostClient
from agentpost.mcp import McpConfig, build_server
from agentpost.mcp.registry import NoArgs, ToolContext, tool
from agentpost.mcp.tools import ALL_TOOLS

pytestmark = pytest.mark.anyio

Handler = Callable[[httpx.Request], httpx.Response]
MESSAGE = {
    "uid": 4,
    "folder": "INBOX",
    "messageId": "<m4@localhost>",
    "subject": "Status?",
    "from": {"name": "Alice", "address": "alice@localhost"},
    "to": [{"name": "", "address": "bob@localhost"}],
    "date": "2026-11-22T10:00:00Z",
    "text": "Where are we on the report?\nThanks",
}


def api(handler: Handler, key: str = "ak_bob") -> AgentPostClient:
    return AgentPostClient("http://api.test", key, transport=httpx.MockTransport(handler))


def text_of(result: CallToolResult) -> str:
    block = result.content[0]
    assert isinstance(block, TextContent)
    return block.text


def not_found(request: httpx.Request) -> httpx.Response:
    return httpx.Response(
        404, json={"error": "no message with UID 9 in INBOX", "code": "message_not_found"}
    )


async def test_tools_list_advertises_real_schemas_and_hints() -> None:
    async with Client(build_server(api(not_found))) as session:
        listed = {t.name: t for t in (await session.list_tools()).tools}
    assert set(listed) == {spec.name for spec in ALL_TOOLS}
    read = listed["read_email"]
    assert read.input_schema["required"] == ["uid"]
    assert read.input_schema["properties"]["uid"] == {
        "description": "Message UID, as shown by list_inbox or search_emails.",
        "minimum": 1,
        "type": "integer",
    }
    assert read.annotations is not None and read.annotations.read_only_hint is True
    deleting = listed["batch_delete"].annotations
    assert deleting is not None and deleting.destructive_hint is True
    assert "untrusted" in (read.description or "")


async def test_tools_that_hand_out_reminders_are_not_advertised_read_only() -> None:
    # check_messages and wait_for_email claim held-mail reminders (each comes once), a change
    # a host must not take for a plain read; neither removes anything.
    async with Client(build_server(api(not_found))) as session:
        hints = {t.name: t.annotations for t in (await session.list_tools()).tools}
    for name in ("check_messages", "wait_for_email"):
        annotations = hints[name]
        assert annotations is not None
        assert (annotations.read_only_hint, annotations.destructive_hint) == (False, False)
    # Reads stay read-only, setup_gmail_alias included: it only answers with instructions.
    for name in ("read_email", "list_inbox", "check_tasks", "setup_gmail_alias"):
        annotations = hints[name]
        assert annotations is not None and annotations.read_only_hint is True, name


async def test_api_refusals_are_tool_errors_with_message_and_code() -> None:
    async with Client(build_server(api(not_found))) as session:
        result = await session.call_tool("read_email", {"uid": 9})
    assert result.is_error is True
    assert text_of(result) == (
        "Error: no message with UID 9 in INBOX (HTTP 404, code message_not_found)"
    )


async def test_bad_arguments_are_tool_errors_before_any_request() -> None:
    requests: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        return httpx.Response(500)

    async with Client(build_server(api(handler))) as session:
        result = await session.call_tool("batch_mark_read", {"uids": []})
    assert result.is_error is True
    assert "invalid arguments for batch_mark_read: uids: List should have at least 1 item" in (
        text_of(result)
    )
    assert requests == []


async def test_an_unreachable_api_is_a_tool_error() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    async with Client(build_server(api(handler))) as session:
        result = await session.call_tool("whoami", {})
    assert result.is_error is True
    assert "cannot reach the API" in text_of(result)
    assert "code api_unreachable" in text_of(result)


async def test_a_crash_reaches_the_host_without_a_traceback() -> None:
    @tool(NoArgs)
    async def explode(ctx: ToolContext, args: NoArgs) -> str:
        """Always fails."""
        raise RuntimeError("secret internal detail")

    async with Client(build_server(api(not_found), tools=[explode])) as session:
        result = await session.call_tool("explode", {})
    assert result.is_error is True
    assert text_of(result) == "Error executing tool explode"


async def test_master_key_tools_use_the_master_key_and_others_the_agent_key() -> None:
    seen: list[tuple[str, str]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append((request.url.path, request.headers["Authorization"]))
        if request.url.path.endswith("/accounts"):
            agent = {"id": "a1", "name": "carol", "email": "carol@localhost", "role": "writer"}
            return httpx.Response(201, json=agent | {"apiKey": "ak_new"})
        return httpx.Response(200, json={"agents": []})

    client = api(handler)
    async with Client(build_server(client, client.with_key("mk_admin"))) as session:
        created = await session.call_tool("create_account", {"name": "carol", "role": "writer"})
        listed = await session.call_tool("list_agents", {})
    assert seen == [
        ("/api/v1/accounts", "Bearer mk_admin"),
        ("/api/v1/accounts/directory", "Bearer ak_bob"),
    ]
    assert text_of(created).splitlines()[:6] == [
        "Account created successfully!",
        "  Name: carol",
        "  Email: carol@localhost",
        "  Role: writer",
        "  API Key: ak_new",
        "  ID: a1",
    ]
    assert text_of(listed) == "No agents found."


async def test_without_a_master_key_master_tools_fall_back_to_the_agent_key() -> None:
    keys: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        keys.append(request.headers["Authorization"])
        body = {"error": "this needs the master key or an owner key", "code": "owner_key_required"}
        return httpx.Response(403, json=body)

    async with Client(build_server(api(handler))) as session:
        result = await session.call_tool("delete_agent", {"name": "carol"})
    assert keys == ["Bearer ak_bob"]
    assert result.is_error is True
    assert "code owner_key_required" in text_of(result)


def sse(*events: dict[str, Any], hold: asyncio.Event | None = None) -> httpx.Response:
    async def frames() -> AsyncIterator[bytes]:
        for event in events:
            yield f"data: {json.dumps(event)}\n\n".encode()
        if hold is not None:
            await hold.wait()

    return httpx.Response(200, content=frames(), headers={"Content-Type": "text/event-stream"})


async def test_wait_for_email_returns_the_first_new_mail_pushed() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/events"):
            new = {"type": "new", "uid": 4, "folder": "INBOX", "subject": "Status?"}
            return sse({"type": "connected"}, new | {"from": "alice@localhost"})
        assert request.url.path.endswith("/mail/messages/4")
        return httpx.Response(200, json=MESSAGE)

    async with Client(build_server(api(handler))) as session:
        result = await session.call_tool("wait_for_email", {"timeout": 30})
    answer = json.loads(text_of(result))
    assert answer["arrived"] is True and answer["timedOut"] is False
    assert (answer["mode"], answer["eventType"]) == ("push", "email")
    assert answer["email"] == {
        "uid": 4,
        "folder": "INBOX",
        "from": "alice@localhost",
        "fromName": "Alice",
        "subject": "Status?",
        "messageId": None,
        "date": "2026-11-22T10:00:00Z",
        "preview": "Where are we on the report? Thanks",
    }


async def test_wait_for_email_falls_back_to_the_long_poll_when_push_is_refused() -> None:
    paths: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        paths.append(request.url.path)
        if request.url.path.endswith("/events"):
            return httpx.Response(429, json={"error": "too many streams", "code": "rate_limited"})
        if request.url.path.endswith("/mail/wait"):
            assert request.url.params["timeout"] == "30"
            body = {"arrived": True, "eventType": "email", "uid": 4, "folder": "INBOX"}
            return httpx.Response(
                200, json=body | {"subject": "Status?", "from": "alice@localhost"}
            )
        return httpx.Response(200, json=MESSAGE)

    async with Client(build_server(api(handler))) as session:
        answer = json.loads(text_of(await session.call_tool("wait_for_email", {"timeout": 30})))
    assert paths == ["/api/v1/events", "/api/v1/mail/wait", "/api/v1/mail/messages/4"]
    assert (answer["arrived"], answer["mode"], answer["email"]["uid"]) == (True, "poll", 4)


async def test_wait_for_email_reports_a_poll_timeout() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/events"):
            return sse({"type": "connected"})  # the stream ends: the long poll takes over
        return httpx.Response(200, json={"arrived": False, "timedOut": True})

    async with Client(build_server(api(handler))) as session:
        answer = json.loads(text_of(await session.call_tool("wait_for_email", {"timeout": 5})))
    assert answer == {
        "arrived": False,
        "mode": "poll",
        "timedOut": True,
        "reason": "No email received within 5s",
    }


async def test_wait_for_email_times_out_on_a_quiet_stream() -> None:
    quiet = asyncio.Event()

    def handler(request: httpx.Request) -> httpx.Response:
        return sse({"type": "connected"}, {"type": "flags", "uid": 1}, hold=quiet)

    async with Client(build_server(api(handler))) as session:
        answer = json.loads(text_of(await session.call_tool("wait_for_email", {"timeout": 1})))
    quiet.set()
    assert answer == {
        "arrived": False,
        "mode": "push",
        "timedOut": True,
        "reason": "No email received within 1s",
    }


async def test_the_inbox_resource_lists_the_newest_messages() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        assert request.url.params["limit"] == "20"
        page = {"messages": [MESSAGE], "count": 1, "total": 1, "folder": "INBOX"}
        return httpx.Response(200, json=page)

    async with Client(build_server(api(handler))) as session:
        resources = (await session.list_resources()).resources
        read = await session.read_resource("agenticmail://inbox")
    assert [(r.uri, r.name, r.mime_type) for r in resources] == [
        ("agenticmail://inbox", "Agent Inbox", "text/plain")
    ]
    text = read.contents[0].text  # type: ignore[union-attr]
    assert text.splitlines() == [
        "Inbox (1-1 of 1, newest first):",
        "1. [UID:4] From: Alice <alice@localhost> | Subject: Status? | "
        "Date: 2026-11-22T10:00:00Z [unread]",
    ]


async def test_the_inbox_resource_reports_errors_as_text() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(401, json={"error": "unknown API key", "code": "unauthorized"})

    async with Client(build_server(api(handler))) as session:
        read = await session.read_resource("agenticmail://inbox")
    assert read.contents[0].text == "Error: unknown API key (HTTP 401, code unauthorized)"  # type: ignore[union-attr]


def test_config_prefers_agentpost_names_and_accepts_agenticmail_ones() -> None:
    env = {
        "AGENTICMAIL_API_URL": "http://old:1",
        "AGENTICMAIL_API_KEY": "ak_old",
        "AGENTPOST_API_KEY": "ak_new",
        "AGENTICMAIL_MASTER_KEY": "mk_old",
        "AGENTPOST_MASTER_KEY": " ",
    }
    assert McpConfig.from_env(env) == McpConfig("http://old:1", "ak_new", "mk_old")
    assert McpConfig.from_env({}) == McpConfig("http://127.0.0.1:3100", "", "")
