"""Isolation: with its own key, agent B walks every agent-scoped endpoint against agent A's
UIDs and folder names. Nothing of A is readable, movable, flaggable or deletable by B, B's
events carry none of A's mail, and A's mailbox is byte-for-byte the same afterwards.

Runs on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import anyio
import httpx
import pytest

from agentpost.api import create_app
from agentpost.services.context import AppContext

from .support import V1, Agent, assert_error, b64, new_agent, send, until

pytestmark = pytest.mark.anyio
FOLDERS = ("INBOX", "Sent", "Secret", "Trash")


@pytest.fixture
async def any_client(any_ctx: AppContext) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_app(any_ctx))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        yield http


async def _fill_alice(client: httpx.AsyncClient, alice: Agent, carol: Agent) -> None:
    """Alice: INBOX uid 1 (with attachment), Secret uid 1, Sent uid 1, Trash uid 1."""
    attachment = {"filename": "plan.bin", "content": b64(b"secret plan"), "encoding": "base64"}
    await send(client, carol, to=alice.address, subject="Secret plan", attachments=[attachment])
    await send(client, carol, to=alice.address, subject="Secret two", text="the secret")
    await send(client, carol, to=alice.address, subject="Secret three")
    await send(client, alice, to=carol.address, subject="Secret reply")
    h = alice.headers
    await client.post(f"{V1}/mail/folders", json={"name": "Secret"}, headers=h)
    await client.post(f"{V1}/mail/messages/2/move", json={"to": "Secret"}, headers=h)
    await client.delete(f"{V1}/mail/messages/3", headers=h)


async def _snapshot(client: httpx.AsyncClient, agent: Agent) -> dict[str, Any]:
    """Everything the agent can see of its own mailbox, with full messages and raw bytes."""
    h = agent.headers
    state: dict[str, Any] = {"folders": (await client.get(f"{V1}/mail/folders", headers=h)).json()}
    for folder in FOLDERS:
        page = (await client.get(f"{V1}/mail/folders/{folder}", headers=h)).json()
        state[folder] = page
        for summary in page["messages"]:
            params = {"folder": folder}
            uid = summary["uid"]
            state[f"{folder}/{uid}"] = (
                await client.get(f"{V1}/mail/messages/{uid}", params=params, headers=h)
            ).json()
            raw = await client.get(f"{V1}/mail/messages/{uid}/raw", params=params, headers=h)
            state[f"{folder}/{uid}/raw"] = raw.content
    return state


def _single_message_calls(uid: int, folder: str) -> list[tuple[str, str, dict[str, Any]]]:
    q = {"params": {"folder": folder}}
    return [
        ("GET", f"/mail/messages/{uid}", q),
        ("GET", f"/mail/messages/{uid}/raw", q),
        ("GET", f"/mail/messages/{uid}/attachments/0", q),
        ("POST", f"/mail/messages/{uid}/seen", q),
        ("POST", f"/mail/messages/{uid}/unseen", q),
        ("DELETE", f"/mail/messages/{uid}", q),
        ("POST", f"/mail/messages/{uid}/move", {"json": {"from": folder, "to": "Archive"}}),
        ("POST", f"/mail/messages/{uid}/reply", {"json": {"text": "x", "folder": folder}}),
        (
            "POST",
            f"/mail/messages/{uid}/forward",
            {"json": {"to": "x@example.com", "folder": folder}},
        ),
    ]


async def _walk_single_message_routes(client: httpx.AsyncClient, bob: Agent) -> None:
    for folder in ("INBOX", "Sent", "Trash", "Secret"):
        for method, path, kwargs in _single_message_calls(1, folder):
            response = await client.request(method, f"{V1}{path}", headers=bob.headers, **kwargs)
            # Bob has no folder "Secret"; in his own folders A's UID 1 does not exist.
            code = "folder_not_found" if folder == "Secret" else "message_not_found"
            assert_error(response, 404, code)


async def _walk_batch_routes(client: httpx.AsyncClient, bob: Agent) -> None:
    h = bob.headers
    uids = {"uids": [1, 2, 3]}
    for folder in ("INBOX", "Sent", "Trash"):
        body = {**uids, "folder": folder}
        assert (await client.post(f"{V1}/mail/batch/seen", json=body, headers=h)).json()[
            "marked"
        ] == 0
        assert (await client.post(f"{V1}/mail/batch/unseen", json=body, headers=h)).json()[
            "marked"
        ] == 0
        read = (await client.post(f"{V1}/mail/batch/read", json=body, headers=h)).json()
        assert read == {"messages": [], "count": 0}
        moved = await client.post(
            f"{V1}/mail/batch/move", json={**uids, "from": folder, "to": "Archive"}, headers=h
        )
        assert moved.json() == {"ok": True, "moved": 0, "uids": {}}
        deleted = await client.post(f"{V1}/mail/batch/delete", json=body, headers=h)
        assert deleted.json() == {"ok": True, "deleted": 0, "uids": []}
    secret = await client.post(
        f"{V1}/mail/batch/read", json={**uids, "folder": "Secret"}, headers=h
    )
    assert_error(secret, 404, "folder_not_found")


async def _walk_listing_routes(client: httpx.AsyncClient, bob: Agent) -> None:
    h = bob.headers
    for body in ({}, {"text": "secret"}, {"from": "carol"}, {"subject": "plan"}):
        found = (await client.post(f"{V1}/mail/search", json=body, headers=h)).json()
        assert found == {"uids": [], "messages": [], "total": 0}
    for folder in ("Sent", "Trash"):
        in_folder = (
            await client.post(f"{V1}/mail/search", json={"folder": folder}, headers=h)
        ).json()
        assert in_folder["total"] == 0
    assert (await client.get(f"{V1}/mail/inbox", headers=h)).json()["total"] == 0
    assert (await client.get(f"{V1}/mail/digest", headers=h)).json()["messages"] == []
    folders = (await client.get(f"{V1}/mail/folders", headers=h)).json()["folders"]
    assert "Secret" not in {f["name"] for f in folders}
    assert all(f["total"] == 0 for f in folders)
    assert_error(await client.get(f"{V1}/mail/folders/Secret", headers=h), 404, "folder_not_found")
    me = (await client.get(f"{V1}/accounts/me", headers=h)).json()
    assert me["email"] == bob.address


async def _walk_wait_route(
    client: httpx.AsyncClient, ctx: AppContext, alice: Agent, bob: Agent, carol: Agent
) -> None:
    """Mail for Alice arrives while Bob long-polls; Bob is woken only by his own mail."""
    answers: list[dict[str, Any]] = []

    async def wait_as_bob() -> None:
        response = await client.get(f"{V1}/mail/wait", params={"timeout": 30}, headers=bob.headers)
        answers.append(response.json())

    async with anyio.create_task_group() as group:
        group.start_soon(wait_as_bob)
        await until(lambda: ctx.events.subscriber_count(bob.id) == 1)
        await send(client, carol, to=alice.address, subject="For Alice only")
        await send(client, carol, to=bob.address, subject="For Bob")
    assert answers[0]["arrived"] is True
    assert answers[0]["subject"] == "For Bob"


async def test_agent_b_can_reach_nothing_of_agent_a(
    any_ctx: AppContext, any_client: httpx.AsyncClient
) -> None:
    alice = await new_agent(any_ctx, "alice")
    bob = await new_agent(any_ctx, "bob")
    carol = await new_agent(any_ctx, "carol")
    client = any_client
    await _fill_alice(client, alice, carol)
    before = await _snapshot(client, alice)
    assert before["INBOX"]["total"] == 1 and before["Secret"]["total"] == 1
    assert before["Sent"]["total"] == 1 and before["Trash"]["total"] == 1

    await _walk_single_message_routes(client, bob)
    await _walk_batch_routes(client, bob)
    await _walk_listing_routes(client, bob)

    assert await _snapshot(client, alice) == before
    await _walk_wait_route(client, any_ctx, alice, bob, carol)
    after = await _snapshot(client, alice)
    assert after["INBOX"]["total"] == 2  # the one new message for Alice, nothing else changed
    assert after["Secret"] == before["Secret"] and after["Sent"] == before["Sent"]
    # Bob's attempts sent nothing anywhere: his Sent folder is empty.
    bob_sent = await client.get(f"{V1}/mail/folders/Sent", headers=bob.headers)
    assert bob_sent.json()["total"] == 0
