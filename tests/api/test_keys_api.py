"""Rotating keys over HTTP: an agent's (POST /accounts/{name_or_id}/key) and an owner's
(POST /accounts/owners/{owner_id}/key). The old key is refused on the very next request, the
new one is shown once, and neither reaches the audit log or any log line."""

from __future__ import annotations

import logging
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from agentpost.client import AgentPostClient, ClientError
from agentpost.services import accounts
from agentpost.services.context import AppContext

from .support import MASTER_KEY, V1, Agent, assert_error, auth, inbox, send

pytestmark = pytest.mark.anyio
ADMIN = auth(MASTER_KEY)


async def rotate(client: httpx.AsyncClient, path: str, headers: dict[str, str]) -> dict[str, Any]:
    response = await client.post(f"{V1}/accounts/{path}/key", headers=headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def new_owner(ctx: AppContext, name: str) -> tuple[str, str]:
    """An owner created by the admin: its id and its key."""
    owner, key = await accounts.create_owner(
        ctx, await accounts.authenticate(ctx, MASTER_KEY), name=name
    )
    return owner.id, key


async def test_rotating_an_agent_key_answers_like_create_and_retires_the_old_key(
    client: httpx.AsyncClient, alice: Agent, bob: Agent
) -> None:
    await send(client, bob, to=alice.address, subject="Before the rotation")
    assert (await client.get(f"{V1}/accounts/me", headers=alice.headers)).status_code == 200
    created = await client.post(f"{V1}/accounts", json={"name": "dave"}, headers=ADMIN)

    body = await rotate(client, "alice", ADMIN)

    assert set(body) == set(created.json())  # the shape of the create answer, apiKey included
    assert body["id"] == alice.id and body["email"] == alice.address
    assert body["apiKey"].startswith("ak_") and body["apiKey"] != alice.key
    # The old key was used a moment ago (its caller is kept): refused all the same.
    assert_error(await client.get(f"{V1}/accounts/me", headers=alice.headers), 401, "unauthorized")
    renewed = Agent(alice.id, alice.name, alice.address, body["apiKey"])
    assert (await client.get(f"{V1}/accounts/me", headers=renewed.headers)).json()["id"] == alice.id
    messages = (await inbox(client, renewed))["messages"]
    assert [m["subject"] for m in messages] == ["Before the rotation"]
    by_id = await rotate(client, alice.id, ADMIN)
    assert by_id["id"] == alice.id
    assert_error(
        await client.get(f"{V1}/accounts/me", headers=renewed.headers), 401, "unauthorized"
    )


async def test_who_may_rotate_an_agent_key(
    ctx: AppContext, client: httpx.AsyncClient, alice: Agent
) -> None:
    _, key_a = await new_owner(ctx, "A")
    _, key_b = await new_owner(ctx, "B")
    made = await client.post(f"{V1}/accounts", json={"name": "bot-a"}, headers=auth(key_a))
    bot = made.json()

    other = await client.post(f"{V1}/accounts/bot-a/key", headers=auth(key_b))
    assert_error(other, 404, "agent_not_found")
    by_agent = await client.post(f"{V1}/accounts/bot-a/key", headers=auth(bot["apiKey"]))
    assert_error(by_agent, 403, "owner_key_required")
    itself = await client.post(f"{V1}/accounts/alice/key", headers=alice.headers)
    assert_error(itself, 403, "owner_key_required")
    assert_error(
        await client.post(f"{V1}/accounts/nobody/key", headers=ADMIN), 404, "agent_not_found"
    )
    anonymous = await client.post(f"{V1}/accounts/bot-a/key")
    assert_error(anonymous, 401, "unauthorized")
    # The refusals changed nothing; its owner may.
    me = await client.get(f"{V1}/accounts/me", headers=auth(bot["apiKey"]))
    assert me.status_code == 200
    rotated = await rotate(client, "bot-a", auth(key_a))
    me = await client.get(f"{V1}/accounts/me", headers=auth(rotated["apiKey"]))
    assert me.json()["name"] == "bot-a"


async def test_rotating_an_owner_key(ctx: AppContext, client: httpx.AsyncClient) -> None:
    dana_id, dana_key = await new_owner(ctx, "Dana")
    erin_id, erin_key = await new_owner(ctx, "Erin")
    made = await client.post(f"{V1}/accounts", json={"name": "dana-bot"}, headers=auth(dana_key))
    assert made.status_code == 201
    assert (await client.get(f"{V1}/accounts", headers=auth(dana_key))).status_code == 200

    body = await rotate(client, f"owners/{dana_id}", ADMIN)

    assert body["id"] == dana_id and body["name"] == "Dana" and body["isDefault"] is False
    assert body["apiKey"].startswith("ok_") and body["apiKey"] != dana_key
    assert body["createdAt"].endswith("Z")
    assert_error(await client.get(f"{V1}/accounts", headers=auth(dana_key)), 401, "unauthorized")
    listed = await client.get(f"{V1}/accounts", headers=auth(body["apiKey"]))
    assert [a["name"] for a in listed.json()["agents"]] == ["dana-bot"]
    # An owner rotates its own key, and no other owner's.
    own = await rotate(client, f"owners/{dana_id}", auth(body["apiKey"]))
    foreign = await client.post(f"{V1}/accounts/owners/{erin_id}/key", headers=auth(own["apiKey"]))
    assert_error(foreign, 404, "owner_not_found")
    assert (await client.get(f"{V1}/accounts", headers=auth(erin_key))).status_code == 200
    by_agent = await client.post(
        f"{V1}/accounts/owners/{dana_id}/key", headers=auth(made.json()["apiKey"])
    )
    assert_error(by_agent, 403, "owner_key_required")
    admin = await accounts.authenticate(ctx, MASTER_KEY)
    default = await client.post(f"{V1}/accounts/owners/{admin.owner_id}/key", headers=ADMIN)
    assert_error(default, 409, "default_owner_keyless")
    unknown = await client.post(f"{V1}/accounts/owners/no-such-owner/key", headers=ADMIN)
    assert_error(unknown, 404, "owner_not_found")


async def test_keys_reach_neither_the_audit_log_nor_the_logs(
    ctx: AppContext, client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    """A whole key life over HTTP, with every log record kept: the audit rows name whose key
    changed, and no key or key hash is in any audit answer or log line."""
    caplog.set_level(logging.DEBUG)
    dana_id, dana_key = await new_owner(ctx, "Dana")
    made = (
        await client.post(f"{V1}/accounts", json={"name": "bot"}, headers=auth(dana_key))
    ).json()
    rotated = await rotate(client, "bot", auth(dana_key))
    owner_rotated = await rotate(client, f"owners/{dana_id}", ADMIN)
    keys = [dana_key, made["apiKey"], rotated["apiKey"], owner_rotated["apiKey"], MASTER_KEY]

    audit = await client.get(f"{V1}/audit", params={"operation": "key."}, headers=ADMIN)
    rows = audit.json()["entries"]
    assert [(r["operation"], r["detail"]["kind"]) for r in reversed(rows)] == [
        ("key.created", "master"),  # the configured master key, on the first start
        ("key.created", "owner"),
        ("key.created", "agent"),
        ("key.rotated", "agent"),
        ("key.rotated", "owner"),
    ]
    dana_rows = [r for r in rows if r["detail"]["kind"] != "master"]
    assert all(r["ownerId"] == dana_id and r["status"] == "ok" for r in dana_rows)
    assert {r["agentId"] for r in rows if r["detail"]["kind"] == "agent"} == {made["id"]}
    assert caplog.records  # the search below looks at real log lines
    texts = [audit.text, *(record.getMessage() for record in caplog.records)]
    for key in keys:
        for secret in (key, ctx.keys.hash(key)):
            assert not [text for text in texts if secret in text]


async def test_openapi_says_the_new_key_is_shown_once(client: httpx.AsyncClient) -> None:
    paths = (await client.get("/openapi.json")).json()["paths"]
    for path in (f"{V1}/accounts/{{name_or_id}}/key", f"{V1}/accounts/owners/{{owner_id}}/key"):
        operation = paths[path]["post"]
        assert "shown only once" in operation["description"]
        assert "stops working" in operation["description"]


async def test_the_python_client_rotates_keys(ctx: AppContext, app: FastAPI, alice: Agent) -> None:
    """``AgentPostClient.rotate_key`` / ``rotate_owner_key`` against the real routes."""
    dana_id, dana_key = await new_owner(ctx, "Dana")
    transport = httpx.ASGITransport(app=app)
    async with AgentPostClient("http://agentpost.test", MASTER_KEY, transport=transport) as admin:
        rotated = await admin.rotate_key("alice")
        assert (rotated.id, rotated.email) == (alice.id, alice.address)
        assert rotated.api_key.startswith("ak_") and rotated.api_key != alice.key
        owner = await admin.rotate_owner_key(dana_id)
        assert (owner.id, owner.name) == (dana_id, "Dana")
        assert owner.api_key != dana_key
        with pytest.raises(ClientError) as missing:
            await admin.rotate_key("nobody")
        assert missing.value.status == 404
    async with AgentPostClient("http://agentpost.test", alice.key, transport=transport) as old:
        with pytest.raises(ClientError) as refused:
            await old.me()
        assert (refused.value.status, refused.value.code) == (401, "unauthorized")
        assert (await old.with_key(rotated.api_key).me()).id == alice.id
