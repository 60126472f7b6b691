"""The gateway tools through the MCP stdio server, against the real API, a real Dovecot and a
loopback SMTP peer."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
from mcp import ClientSession
from mcp.types import CallToolResult, TextContent
from mcp_support import MASTER_KEY, Agent, McpSession

from agentpost.client import AgentPostClient
from agentpost.testing.dovecot import Dovecot, dovecot_available
from agentpost.testing.relay import RELAY_EMAIL, RELAY_PASSWORD, SmtpPeer, message, smtp_peer

Api = Callable[[str], AgentPostClient]
pytestmark = [
    pytest.mark.anyio,
    pytest.mark.skipif(not dovecot_available(), reason="needs dovecot-imapd"),
]


@pytest.fixture
def dovecot() -> Iterator[Dovecot]:
    with Dovecot() as server:
        server.add_user(RELAY_EMAIL, RELAY_PASSWORD)
        yield server


@pytest.fixture
async def peer() -> AsyncIterator[SmtpPeer]:
    async with smtp_peer(RELAY_EMAIL, RELAY_PASSWORD) as server:
        yield server


def text_of(result: CallToolResult) -> str:
    block = result.content[0]
    assert isinstance(block, TextContent)
    return block.text


async def call(session: ClientSession, tool: str, **arguments: Any) -> str:
    result = await session.call_tool(tool, arguments)
    assert result.is_error is not True, text_of(result)
    return text_of(result)


async def failure(session: ClientSession, tool: str, **arguments: Any) -> str:
    result = await session.call_tool(tool, arguments)
    assert result.is_error is True, text_of(result)
    return text_of(result)


async def test_relay_status_search_import_and_test_send(
    mcp_session: McpSession,
    api: Api,
    alice: Agent,
    bob: Agent,
    dovecot: Dovecot,
    peer: SmtpPeer,
) -> None:
    original = message("owner+alice@relay.test", "Contract draft", "<c1@example.org>")
    dovecot.append(RELAY_EMAIL, RELAY_PASSWORD, original)
    dovecot.append(
        RELAY_EMAIL, RELAY_PASSWORD, message("owner+bob@relay.test", "Contract bob", "<c2@x>")
    )
    async with mcp_session(alice.key, master_key=MASTER_KEY) as session:
        assert "Gateway mode: none" in await call(session, "check_gateway_status")
        refused = await failure(
            session,
            "setup_email_relay",
            provider="custom",
            email=RELAY_EMAIL,
            password="wrong-secret",
            imapHost="127.0.0.1",
            imapPort=dovecot.port,
        )
        # STARTTLS is the default on port != 993 and this Dovecot has no TLS: a clear refusal.
        assert "IMAP check failed" in refused and "wrong-secret" not in refused
        assert "password" in await failure(
            session, "setup_email_relay", provider="gmail", email="x@example.org"
        )
    # The test Dovecot speaks plain text on loopback, which only the API lets one choose.
    await api(MASTER_KEY).setup_relay(
        provider="custom",
        email=RELAY_EMAIL,
        password=RELAY_PASSWORD,
        smtpHost="127.0.0.1",
        smtpPort=peer.port,
        smtpSecurity="none",
        imapHost="127.0.0.1",
        imapPort=dovecot.port,
        imapSecurity="none",
    )
    async with mcp_session(alice.key, master_key=MASTER_KEY) as session:
        status = await call(session, "check_gateway_status")
        assert "Gateway mode: relay (healthy)" in status and RELAY_EMAIL in status
        found = await call(session, "search_emails", subject="contract", searchRelay=True)
        assert "No matching emails found in INBOX." in found
        assert "[relay] uid 1 |" in found and "Contract draft (not imported)" in found
        assert "Contract bob" not in found  # bob's mail is not alice's to see
        imported = await call(session, "import_relay_email", uid=1)
        assert "was imported: UID 1 in INBOX" in imported
        assert "Contract draft" in await call(session, "read_email", uid=1)
        assert "relay_message_not_found" in await failure(session, "import_relay_email", uid=2)
        sent = await call(session, "send_test_email", to="carol@example.org")
        assert "from owner+secretary@relay.test to carol@example.org" in sent
        alias = await call(session, "setup_gmail_alias", agentEmail="alice")
        assert "owner+alice@relay.test" in alias and "Send mail as" in alias


async def test_not_configured_tools_and_guides(mcp_session: McpSession, alice: Agent) -> None:
    async with mcp_session(alice.key, master_key=MASTER_KEY) as session:
        guide = await call(session, "setup_guide")
        assert "- relay (available)" in guide and "setup_email_relay" in guide
        for tool, arguments in (
            ("setup_payment", {}),
            ("purchase_domain", {"keywords": ["agentmail"], "tld": ".com"}),
            (
                "setup_email_domain",
                {"cloudflareToken": "tok", "cloudflareAccountId": "acc", "domain": "a.example"},
            ),
        ):
            text = await failure(session, tool, **arguments)
            assert "not configured yet" in text and "code not_configured" in text
        assert "keywords" in await failure(session, "purchase_domain")
        alias = await failure(session, "setup_gmail_alias", agentEmail="alice")
        assert "relay_not_configured" in alias
    async with mcp_session(alice.key) as session:  # no master key: the API refuses
        assert "owner_key_required" in await failure(session, "check_gateway_status")
