"""The content tools end to end: ``python -m agentpost.mcp`` over stdio against the real API,
each tool's happy path, missing fields, unknown ids and out-of-range values."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from mcp import ClientSession
from mcp_support import Agent, McpSession
from mcp_types import CallToolResult, TextContent

from agentpost.client import AgentPostClient
from agentpost.services.context import AppContext
from agentpost.services.scheduler import run_due

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


async def fail(session: ClientSession, tool: str, **arguments: Any) -> str:
    result = await session.call_tool(tool, arguments)
    assert result.is_error is True, text_of(result)
    return text_of(result)


def id_in(text: str) -> str:
    return text.rsplit("ID: ", 1)[1].split()[0].rstrip(".")


async def test_manage_contacts(mcp_session: McpSession, alice: Agent, bob: Agent) -> None:
    async with mcp_session(alice.key) as session:
        assert await call(session, "manage_contacts", action="list") == "No contacts."
        added = await call(session, "manage_contacts", action="add", email="ann@x.io", name="Ann")
        assert added.startswith("Contact added: Ann <ann@x.io>. ID: ")
        updated = await call(session, "manage_contacts", action="add", email="ANN@x.io", name="A")
        assert updated.startswith("Contact updated: A <ANN@x.io>.")
        contact_id = id_in(added)
        listed = await call(session, "manage_contacts", action="list")
        assert listed == f"[{contact_id}] A <ANN@x.io>"
        no_email = await fail(session, "manage_contacts", action="add")
        no_id = await fail(session, "manage_contacts", action="delete")
        bad_action = await fail(session, "manage_contacts", action="update", id=contact_id)
        bad_address = await fail(session, "manage_contacts", action="add", email="nope")
    assert "manage_contacts action=add needs: email" in no_email
    assert "needs: id" in no_id
    assert "action" in bad_action and "'list', 'add' or 'delete'" in bad_action
    assert "invalid email address" in bad_address
    async with mcp_session(bob.key) as session:
        foreign = await fail(session, "manage_contacts", action="delete", id=contact_id)
    assert "code contact_not_found" in foreign
    async with mcp_session(alice.key) as session:
        assert await call(session, "manage_contacts", action="delete", id=contact_id) == (
            "Contact deleted."
        )


async def test_manage_drafts(
    mcp_session: McpSession, api: ApiFor, alice: Agent, bob: Agent
) -> None:
    async with mcp_session(alice.key) as session:
        assert await call(session, "manage_drafts", action="list") == "No drafts."
        created = await call(
            session, "manage_drafts", action="create", to=bob.address, subject="Draft", text="v1"
        )
        draft_id = created.removeprefix("Draft created: ")
        assert await call(session, "manage_drafts", action="update", id=draft_id, text="v2") == (
            f"Draft {draft_id} updated."
        )
        listed = await call(session, "manage_drafts", action="list")
        assert listed == f"[{draft_id}] To: {bob.address} | Subject: Draft"
        nothing = await fail(session, "manage_drafts", action="update", id=draft_id)
        missing = await fail(session, "manage_drafts", action="create", text="no recipient")
        unknown = await fail(session, "manage_drafts", action="send", id="no-such-draft")
        too_long = await fail(
            session, "manage_drafts", action="create", to=bob.address, subject="s" * 999
        )
        sent = await call(session, "manage_drafts", action="send", id=draft_id)
        second = await call(session, "manage_drafts", action="create", to=bob.address, subject="x")
        other = second.removeprefix("Draft created: ")
        assert await call(session, "manage_drafts", action="delete", id=other) == "Draft deleted."
    assert "needs a field to change" in nothing
    assert "manage_drafts action=create needs: to, subject" in missing
    assert "code draft_not_found" in unknown
    assert "subject: String should have at most 998 characters" in too_long
    assert sent.startswith("Draft sent. Message ID: <")
    message = await api(bob.key).read(1)
    assert (message.subject, message.text.strip()) == ("Draft", "v2")


async def test_manage_signatures(
    mcp_session: McpSession, api: ApiFor, alice: Agent, bob: Agent
) -> None:
    async with mcp_session(alice.key) as session:
        assert await call(session, "manage_signatures", action="list") == "No signatures."
        made = await call(
            session, "manage_signatures", action="create", name="work", text="Alice", isDefault=True
        )
        assert made.startswith('Signature "work" created. ID: ')
        assert made.endswith("It is your default signature.")
        signature_id = made.split("ID: ")[1].split()[0].rstrip(".")
        listed = await call(session, "manage_signatures", action="list")
        assert listed == f"[{signature_id}] work (default): Alice"
        await call(session, "send_email", to=bob.address, subject="signed", text="Hi")
        await call(
            session, "send_email", to=bob.address, subject="bare", text="Hi", signature=False
        )
        missing = await fail(session, "manage_signatures", action="create", name="x")
        wrong_type = await fail(
            session, "manage_signatures", action="create", name="x", text="y", isDefault="maybe"
        )
        unknown = await fail(session, "manage_signatures", action="delete", id="nope")
        deleted = await call(session, "manage_signatures", action="delete", id=signature_id)
    assert "manage_signatures action=create needs: text" in missing
    assert "isDefault" in wrong_type
    assert "code signature_not_found" in unknown
    assert deleted == "Signature deleted."
    reader = api(bob.key)
    assert (await reader.read(1)).text == "Hi\n\n-- \nAlice\n"
    assert (await reader.read(2)).text.strip() == "Hi"


async def test_manage_templates_and_template_send(
    mcp_session: McpSession, api: ApiFor, alice: Agent, bob: Agent
) -> None:
    async with mcp_session(alice.key) as session:
        assert await call(session, "manage_templates", action="list") == "No templates."
        made = await call(
            session,
            "manage_templates",
            action="create",
            name="invite",
            subject="Join us, {{name}}",
            text="Dear {{ name }}, see you on {{day}}.",
        )
        assert made.startswith('Template "invite" created. ID: ')
        assert made.endswith("Variables: name, day.")
        template_id = made.split("ID: ")[1].split()[0].rstrip(".")
        listed = await call(session, "manage_templates", action="list")
        assert listed == f"[{template_id}] invite: Join us, {{{{name}}}} (variables: name, day)"
        missing_vars = await fail(
            session, "template_send", id=template_id, to=bob.address, variables={"name": "Bob"}
        )
        missing_field = await fail(session, "template_send", id=template_id)
        unknown = await fail(session, "template_send", id="nope", to=bob.address)
        incomplete = await fail(session, "manage_templates", action="create", name="x")
        sent = await call(
            session,
            "template_send",
            id=template_id,
            to=bob.address,
            variables={"name": "Bob", "day": "Friday"},
        )
        deleted = await call(session, "manage_templates", action="delete", id=template_id)
    assert "missing template variable: day" in missing_vars
    assert "code template_variables_missing" in missing_vars
    assert "to: Field required" in missing_field
    assert "code template_not_found" in unknown
    assert "needs: subject, text" in incomplete
    assert sent.startswith("Template email sent. Message ID: <")
    assert deleted == "Template deleted."
    message = await api(bob.key).read(1)
    assert (message.subject, message.text.strip()) == (
        "Join us, Bob",
        "Dear Bob, see you on Friday.",
    )


async def test_manage_scheduled(
    ctx: AppContext, mcp_session: McpSession, api: ApiFor, alice: Agent, bob: Agent
) -> None:
    async with mcp_session(alice.key) as session:
        await call(session, "update_metadata", metadata={"timezone": "America/New_York"})
        assert await call(session, "manage_scheduled", action="list") == "No scheduled emails."
        made = await call(
            session,
            "manage_scheduled",
            action="create",
            to=bob.address,
            subject="Reminder",
            text="Stand-up",
            sendAt="in 30 minutes",
        )
        assert made.startswith("Email scheduled for ") and "(America/New_York; " in made
        first = made.split("ID: ")[1]
        later = await call(
            session,
            "manage_scheduled",
            action="create",
            to=bob.address,
            subject="Monday",
            sendAt="next monday 9am",
        )
        assert "T09:00:00-05:00 (America/New_York; " in later
        second = later.split("ID: ")[1]
        assert await call(session, "manage_scheduled", action="cancel", id=second) == (
            "Scheduled email cancelled."
        )
        past = await fail(
            session,
            "manage_scheduled",
            action="create",
            to=bob.address,
            subject="Old",
            sendAt="2001-01-01T00:00:00Z",
        )
        gibberish = await fail(
            session, "manage_scheduled", action="create", to=bob.address, subject="?", sendAt="eh"
        )
        missing = await fail(session, "manage_scheduled", action="create", subject="x")
        unknown = await fail(session, "manage_scheduled", action="cancel", id="nope")
        again = await fail(session, "manage_scheduled", action="cancel", id=second)
        await run_due(ctx, now=datetime.now(UTC) + timedelta(minutes=31))
        listed = (await call(session, "manage_scheduled", action="list")).splitlines()
    assert "sendAt must be in the future" in past
    assert "cannot understand sendAt 'eh'" in gibberish
    assert "needs: to, sendAt" in missing
    assert "code scheduled_not_found" in unknown
    assert "code not_cancellable" in again
    assert listed[0].startswith(f"[{first}] To: {bob.address} | Subject: Reminder | Send at: ")
    assert listed[0].endswith("| Status: sent")
    assert listed[1].endswith("| Status: cancelled")
    assert (await api(bob.key).read(1)).subject == "Reminder"
