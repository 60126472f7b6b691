"""The content routes over HTTP: contacts, drafts, signatures, templates and scheduled sends,
each agent's rows invisible to the others, and errors with stable codes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from agentpost.services.context import AppContext
from agentpost.services.scheduler import run_due

from .support import V1, Agent, assert_error, inbox, read, send

pytestmark = pytest.mark.anyio


async def call(
    client: httpx.AsyncClient, agent: Agent, method: str, path: str, **kw: Any
) -> dict[str, Any]:
    response = await client.request(method, f"{V1}{path}", headers=agent.headers, **kw)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_contacts_round_trip(client: httpx.AsyncClient, alice: Agent) -> None:
    made = await call(client, alice, "POST", "/contacts", json={"email": "a@x.io", "name": "A"})
    assert made["created"] is True and made["email"] == "a@x.io"
    again = await call(client, alice, "POST", "/contacts", json={"email": "A@X.io", "notes": "n"})
    assert (again["id"], again["created"], again["name"]) == (made["id"], False, "A")
    changed = await call(client, alice, "PATCH", f"/contacts/{made['id']}", json={"name": "Ann"})
    assert changed["name"] == "Ann" and changed["notes"] == "n"
    listed = await call(client, alice, "GET", "/contacts")
    assert [(c["name"], c["email"]) for c in listed["contacts"]] == [("Ann", "A@X.io")]
    assert set(listed["contacts"][0]) == {"id", "email", "name", "notes", "createdAt", "updatedAt"}
    await call(client, alice, "DELETE", f"/contacts/{made['id']}")
    missing = await client.delete(f"{V1}/contacts/{made['id']}", headers=alice.headers)
    assert_error(missing, 404, "contact_not_found", "id")
    bad = await client.post(f"{V1}/contacts", json={"email": "nope"}, headers=alice.headers)
    assert_error(bad, 400, "invalid_input", "email")


async def test_another_agents_items_are_404(
    client: httpx.AsyncClient, alice: Agent, bob: Agent
) -> None:
    contact = await call(client, alice, "POST", "/contacts", json={"email": "c@x.io"})
    draft = await call(client, alice, "POST", "/drafts", json={"to": bob.address})
    signature = await call(client, alice, "POST", "/signatures", json={"name": "s", "text": "t"})
    template = await call(
        client, alice, "POST", "/templates", json={"name": "t", "subject": "s", "text": "x"}
    )
    planned = await call(
        client,
        alice,
        "POST",
        "/scheduled",
        json={"to": bob.address, "subject": "s", "sendAt": "in 1 hour"},
    )
    attempts = [
        ("PATCH", f"/contacts/{contact['id']}", {"name": "x"}, "contact_not_found"),
        ("DELETE", f"/contacts/{contact['id']}", None, "contact_not_found"),
        ("GET", f"/drafts/{draft['id']}", None, "draft_not_found"),
        ("PUT", f"/drafts/{draft['id']}", {"text": "x"}, "draft_not_found"),
        ("POST", f"/drafts/{draft['id']}/send", None, "draft_not_found"),
        ("DELETE", f"/drafts/{draft['id']}", None, "draft_not_found"),
        ("PATCH", f"/signatures/{signature['id']}", {"isDefault": True}, "signature_not_found"),
        ("DELETE", f"/signatures/{signature['id']}", None, "signature_not_found"),
        ("GET", f"/templates/{template['id']}", None, "template_not_found"),
        ("PATCH", f"/templates/{template['id']}", {"name": "y"}, "template_not_found"),
        ("POST", f"/templates/{template['id']}/send", {"to": alice.address}, "template_not_found"),
        ("DELETE", f"/templates/{template['id']}", None, "template_not_found"),
        ("GET", f"/scheduled/{planned['id']}", None, "scheduled_not_found"),
        ("DELETE", f"/scheduled/{planned['id']}", None, "scheduled_not_found"),
    ]
    for method, path, body, code in attempts:
        response = await client.request(method, f"{V1}{path}", json=body, headers=bob.headers)
        assert_error(response, 404, code)
    for path in ("/contacts", "/drafts", "/signatures", "/templates", "/scheduled"):
        listed = await call(client, bob, "GET", path)
        assert list(listed.values()) == [[]], path
    assert (await call(client, alice, "GET", f"/drafts/{draft['id']}"))["to"] == bob.address
    assert (await inbox(client, alice))["total"] == 0


async def test_draft_lifecycle_and_send(
    client: httpx.AsyncClient, alice: Agent, bob: Agent
) -> None:
    draft = await call(client, alice, "POST", "/drafts", json={"subject": "Notes"})
    assert draft["to"] is None and draft["references"] == []
    no_rcpt = await client.post(f"{V1}/drafts/{draft['id']}/send", headers=alice.headers)
    assert_error(no_rcpt, 400, "invalid_input", "to")
    await call(
        client,
        alice,
        "PUT",
        f"/drafts/{draft['id']}",
        json={"to": [bob.address], "text": "Body", "inReplyTo": "<x@y>"},
    )
    got = await call(client, alice, "GET", f"/drafts/{draft['id']}")
    assert (got["subject"], got["text"], got["inReplyTo"]) == ("Notes", "Body", "<x@y>")
    sent = await call(client, alice, "POST", f"/drafts/{draft['id']}/send", json={})
    assert sent["status"] == "delivered" and sent["folder"] == "Sent"
    assert (await call(client, alice, "GET", "/drafts"))["drafts"] == []
    message = await read(client, bob, 1)
    assert message["subject"] == "Notes" and message["inReplyTo"] == "<x@y>"


async def test_signature_default_and_the_send_flag(
    client: httpx.AsyncClient, alice: Agent, bob: Agent
) -> None:
    made = await call(
        client, alice, "POST", "/signatures", json={"name": "main", "text": "-- A", "isDefault": 1}
    )
    assert made["isDefault"] is True
    await send(client, alice, to=bob.address, subject="one", text="first")
    await send(client, alice, to=bob.address, subject="two", text="second", signature=False)
    await call(client, alice, "PATCH", f"/signatures/{made['id']}", json={"isDefault": False})
    await send(client, alice, to=bob.address, subject="three", text="third")
    bodies = [(await read(client, bob, uid))["text"] for uid in (1, 2, 3)]
    assert bodies[0] == "first\n\n-- \n-- A\n"
    assert bodies[1].strip() == "second" and bodies[2].strip() == "third"


async def test_templates_and_template_send(
    client: httpx.AsyncClient, alice: Agent, bob: Agent
) -> None:
    template = await call(
        client,
        alice,
        "POST",
        "/templates",
        json={"name": "hello", "subject": "Hi {{ who }}", "text": "{{greeting}}, {{who}}!"},
    )
    assert template["variables"] == ["who", "greeting"]
    missing = await client.post(
        f"{V1}/templates/{template['id']}/send",
        json={"to": bob.address, "variables": {}},
        headers=alice.headers,
    )
    body = assert_error(missing, 400, "template_variables_missing", "variables")
    assert "who, greeting" in body["error"]
    sent = await call(
        client,
        alice,
        "POST",
        f"/templates/{template['id']}/send",
        json={"to": bob.address, "variables": {"who": "Bob", "greeting": "Hello"}},
    )
    message = await read(client, bob, 1)
    assert message["messageId"] == sent["messageId"]
    assert (message["subject"], message["text"].strip()) == ("Hi Bob", "Hello, Bob!")
    listed = await call(client, alice, "GET", "/templates")
    assert [t["name"] for t in listed["templates"]] == ["hello"]
    no_to = await client.post(
        f"{V1}/templates/{template['id']}/send", json={}, headers=alice.headers
    )
    assert_error(no_to, 400, "invalid_input", "to")


async def test_scheduled_create_list_cancel_and_send(
    client: httpx.AsyncClient, ctx: AppContext, alice: Agent, bob: Agent
) -> None:
    await call(
        client, alice, "PATCH", "/accounts/me", json={"metadata": {"timezone": "Europe/Paris"}}
    )
    made = await call(
        client,
        alice,
        "POST",
        "/scheduled",
        json={"to": bob.address, "subject": "Later", "text": "x", "sendAt": "in 10 minutes"},
    )
    assert made["status"] == "pending" and made["timezone"] == "Europe/Paris"
    assert made["sendAt"].endswith("Z") and made["sendAtLocal"].endswith(("+01:00", "+02:00"))
    other = await call(
        client,
        alice,
        "POST",
        "/scheduled",
        json={"to": bob.address, "subject": "Never", "sendAt": "tomorrow 9am"},
    )
    await call(client, alice, "DELETE", f"/scheduled/{other['id']}")
    again = await client.delete(f"{V1}/scheduled/{other['id']}", headers=alice.headers)
    assert_error(again, 409, "not_cancellable")
    past = await client.post(
        f"{V1}/scheduled",
        json={"to": bob.address, "subject": "s", "sendAt": "2001-01-01T00:00:00Z"},
        headers=alice.headers,
    )
    assert_error(past, 400, "invalid_input", "sendAt")
    assert await run_due(ctx, now=datetime.now(UTC) + timedelta(minutes=11)) == 1
    listed = await call(client, alice, "GET", "/scheduled")
    assert [(s["subject"], s["status"]) for s in listed["scheduled"]] == [
        ("Later", "sent"),
        ("Never", "cancelled"),
    ]
    pending = await call(client, alice, "GET", "/scheduled", params={"status": "pending"})
    assert pending["scheduled"] == []
    bad = await client.get(f"{V1}/scheduled", params={"status": "x"}, headers=alice.headers)
    assert_error(bad, 400, "invalid_input", "status")
    assert (await read(client, bob, 1))["subject"] == "Later"


async def test_content_routes_need_an_agent_key(client: httpx.AsyncClient) -> None:
    response = await client.get(f"{V1}/contacts")
    assert_error(response, 401, "unauthorized")
