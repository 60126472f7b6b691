"""The whole path, as a user runs it: ``agentpost serve`` on free ports, agents made with the
CLI, mail in over real SMTP, read over REST and over MCP (``agentpost mcp`` on stdio), a reply
that threads, search, and a clean stop on SIGTERM."""

from __future__ import annotations

import json
import smtplib
import sys
import time
from collections.abc import Awaitable, Callable
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from mcp import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client

from .support import (
    HTTP_LINE,
    READY_LINE,
    SMTP_LINE,
    StartServer,
    agentpost_env,
    run_cli,
)

pytestmark = [pytest.mark.e2e, pytest.mark.anyio]

MASTER_KEY = "mk_" + "5e" * 24
DOMAIN = "example.com"
POLL_SECONDS = 15.0


def create_agent(name: str, env: dict[str, str], data_dir: Path) -> dict[str, Any]:
    done = run_cli("agent", "create", name, "--json", env=env, data_dir=data_dir)
    assert done.returncode == 0, done.stderr
    agent: dict[str, Any] = json.loads(done.stdout)
    assert agent["email"] == f"{name}@{DOMAIN}"
    assert agent["apiKey"].startswith("ak_")
    return agent


def api(base_url: str, key: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=f"{base_url}/api/v1", headers={"Authorization": f"Bearer {key}"}, timeout=30
    )


async def poll(probe: Callable[[], Awaitable[Any]], what: str) -> Any:
    """Bounded polling: inbound mail is accepted first and filed right after commit."""
    deadline = time.monotonic() + POLL_SECONDS
    while time.monotonic() < deadline:
        if found := await probe():
            return found
        await anyio.sleep(0.05)
    raise AssertionError(f"{what} did not happen within {POLL_SECONDS}s")


async def find_in(client: httpx.AsyncClient, path: str, subject: str) -> dict[str, Any] | None:
    answer = await client.get(path, params={"limit": 100})
    assert answer.status_code == 200, answer.text
    matches = [m for m in answer.json()["messages"] if m["subject"] == subject]
    return matches[0] if matches else None


def send_over_smtp(port: int, to: str) -> None:
    message = EmailMessage()
    message["From"] = "Carol <carol@example.org>"
    message["To"] = to
    message["Subject"] = "Quarterly report"
    message["Message-ID"] = "<q3-report@example.org>"
    message.set_content("The numbers are in: revenue is up 12% on last quarter.")
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as smtp:
        assert smtp.send_message(message) == {}


async def call_tool(session: ClientSession, name: str, arguments: dict[str, Any]) -> str:
    result = await session.call_tool(name, arguments)
    text = "\n".join(block.text for block in result.content if block.type == "text")
    assert not result.is_error, f"{name}: {text}"
    return text


def mcp_server(base_url: str, key: str) -> StdioServerParameters:
    return StdioServerParameters(
        command=sys.executable,
        args=["-m", "agentpost", "mcp"],
        env={"AGENTPOST_API_URL": base_url, "AGENTPOST_API_KEY": key},
    )


def bare(message_id: str) -> str:
    return message_id.strip().strip("<>")


async def test_mail_flows_over_smtp_rest_and_mcp_and_threads(
    start_server: StartServer, tmp_path: Path
) -> None:
    data_dir = tmp_path / "data"
    env = agentpost_env(AGENTPOST_MASTER_KEY=MASTER_KEY, AGENTPOST_DOMAIN=DOMAIN)
    server = start_server(
        "--http-port", "0", "--smtp-port", "0", "--data-dir", str(data_dir), env=env
    )
    base_url = server.wait_for(HTTP_LINE).group(1)
    smtp_port = int(server.wait_for(SMTP_LINE).group(2))
    server.wait_for(READY_LINE)
    alice = create_agent("alice", env, data_dir)
    bob = create_agent("bob", env, data_dir)

    async with api(base_url, alice["apiKey"]) as as_alice, api(base_url, bob["apiKey"]) as as_bob:
        # Mail from outside arrives over SMTP and is read over REST.
        send_over_smtp(smtp_port, alice["email"])
        summary = await poll(
            lambda: find_in(as_alice, "/mail/inbox", "Quarterly report"), "SMTP delivery"
        )
        report = (await as_alice.get(f"/mail/messages/{summary['uid']}")).json()
        assert report["from"]["address"] == "carol@example.org"
        assert "revenue is up 12%" in report["text"]
        assert bare(report["messageId"]) == "q3-report@example.org"

        # Bob writes to Alice over REST; local delivery lands in her inbox.
        sent = await as_bob.post(
            "/mail/send",
            json={"to": alice["email"], "subject": "Lunch on Friday?", "text": "New place?"},
        )
        assert sent.status_code == 200, sent.text
        assert sent.json()["status"] == "delivered"
        question_id = sent.json()["messageId"]

        # Alice reads, searches and replies over MCP, as an MCP host would drive her.
        async with (
            stdio_client(mcp_server(base_url, alice["apiKey"])) as (read, write),
            ClientSession(read, write) as session,
        ):
            await session.initialize()
            tools = {tool.name for tool in (await session.list_tools()).tools}
            assert {"list_inbox", "read_email", "reply_email", "search_emails"} <= tools
            assert "Quarterly report" in await call_tool(session, "list_inbox", {})
            read_text = await call_tool(session, "read_email", {"uid": summary["uid"]})
            assert "revenue is up 12%" in read_text
            found = await call_tool(session, "search_emails", {"from": bob["email"]})
            assert "Lunch on Friday?" in found
            assert "Quarterly report" not in found
            question = await find_in(as_alice, "/mail/inbox", "Lunch on Friday?")
            assert question is not None
            await call_tool(session, "reply_email", {"uid": question["uid"], "text": "Yes, 12:30."})

        # Search over REST finds by body text, and only what matches.
        searched = await as_alice.post("/mail/search", json={"text": "revenue"})
        assert searched.status_code == 200, searched.text
        assert [m["subject"] for m in searched.json()["messages"]] == ["Quarterly report"]

        # The reply threads: headers point at Bob's message and the thread id is shared.
        reply = await poll(
            lambda: find_in(as_bob, "/mail/inbox", "Re: Lunch on Friday?"), "the reply"
        )
        reply_full = (await as_bob.get(f"/mail/messages/{reply['uid']}")).json()
        assert "12:30" in reply_full["text"]
        assert bare(reply_full["inReplyTo"]) == bare(question_id)
        assert bare(question_id) in [bare(ref) for ref in reply_full["references"]]
        original = await find_in(as_bob, "/mail/folders/Sent", "Lunch on Friday?")
        assert original is not None
        assert reply_full["threadId"] == original["threadId"] == question["threadId"]

    assert server.stop() == 0
    assert "Traceback" not in server.output


async def test_master_key_creates_agents_over_rest_seen_by_the_cli(
    start_server: StartServer, tmp_path: Path
) -> None:
    data_dir = tmp_path / "data"
    env = agentpost_env(AGENTPOST_MASTER_KEY=MASTER_KEY, AGENTPOST_DOMAIN=DOMAIN)
    server = start_server("--role", "api", "--http-port", "0", "--data-dir", str(data_dir), env=env)
    base_url = server.wait_for(HTTP_LINE).group(1)

    async with api(base_url, MASTER_KEY) as as_admin:
        created = await as_admin.post("/accounts", json={"name": "dora"})
        refused = await as_admin.post("/accounts", json={"name": "dora"})
    listed = run_cli("agent", "list", "--json", env=env, data_dir=data_dir)

    assert created.status_code == 201, created.text
    assert created.json()["apiKey"].startswith("ak_")
    assert refused.status_code == 409
    assert refused.json()["code"] == "agent_exists"
    assert [a["email"] for a in json.loads(listed.stdout)["agents"]] == [f"dora@{DOMAIN}"]
    assert server.stop() == 0
    assert "SMTP listening" not in server.output
