"""Accounts over HTTP: create, list, me, metadata merge, directory, delete."""

from __future__ import annotations

import httpx
import pytest

from .support import MASTER_KEY, V1, Agent, assert_error, auth

pytestmark = pytest.mark.anyio
ADMIN = auth(MASTER_KEY)


async def test_create_agent_returns_201_with_key_shown_once(client: httpx.AsyncClient) -> None:
    response = await client.post(
        f"{V1}/accounts",
        json={"name": "Researcher-1", "role": "researcher", "metadata": {"team": "blue"}},
        headers=ADMIN,
    )
    assert response.status_code == 201, response.text
    agent = response.json()
    assert agent["email"] == "researcher-1@localhost"
    assert agent["name"] == "Researcher-1"
    assert agent["role"] == "researcher"
    assert agent["metadata"] == {"team": "blue"}
    assert agent["apiKey"].startswith("ak_")
    assert agent["createdAt"].endswith("Z")
    me = await client.get(f"{V1}/accounts/me", headers=auth(agent["apiKey"]))
    assert me.status_code == 200
    assert me.json()["id"] == agent["id"]
    assert "apiKey" not in me.json()
    listed = (await client.get(f"{V1}/accounts", headers=ADMIN)).json()["agents"]
    assert [a["name"] for a in listed] == ["Researcher-1"]
    assert "apiKey" not in listed[0]


async def test_create_agent_refuses_bad_input(client: httpx.AsyncClient, alice: Agent) -> None:
    taken = await client.post(f"{V1}/accounts", json={"name": "alice"}, headers=ADMIN)
    assert_error(taken, 409, "agent_exists")
    bad_name = await client.post(f"{V1}/accounts", json={"name": "a b"}, headers=ADMIN)
    assert_error(bad_name, 400, "invalid_input", "name")
    bad_role = await client.post(
        f"{V1}/accounts", json={"name": "x", "role": "boss"}, headers=ADMIN
    )
    assert_error(bad_role, 400, "invalid_input", "role")
    other_domain = await client.post(
        f"{V1}/accounts", json={"name": "y", "domain": "example.com"}, headers=ADMIN
    )
    assert_error(other_domain, 400, "invalid_input", "domain")
    same_domain = await client.post(
        f"{V1}/accounts", json={"name": "z", "domain": "LOCALHOST"}, headers=ADMIN
    )
    assert same_domain.status_code == 201


async def test_update_metadata_merges_and_null_removes(
    client: httpx.AsyncClient, alice: Agent
) -> None:
    first = await client.patch(
        f"{V1}/accounts/me",
        json={"metadata": {"displayName": "Alice A.", "keep": 1, "drop": True}},
        headers=alice.headers,
    )
    assert first.status_code == 200
    second = await client.patch(
        f"{V1}/accounts/me",
        json={"metadata": {"drop": None, "added": [1, 2]}},
        headers=alice.headers,
    )
    assert second.status_code == 200
    assert second.json()["metadata"] == {"displayName": "Alice A.", "keep": 1, "added": [1, 2]}
    me = (await client.get(f"{V1}/accounts/me", headers=alice.headers)).json()
    assert me["metadata"] == second.json()["metadata"]
    not_object = await client.patch(
        f"{V1}/accounts/me", json={"metadata": [1]}, headers=alice.headers
    )
    assert_error(not_object, 400, "invalid_input", "metadata")
    as_admin = await client.patch(f"{V1}/accounts/me", json={"metadata": {}}, headers=ADMIN)
    assert_error(as_admin, 403, "agent_key_required")


async def test_directory_lists_and_finds_agents(
    client: httpx.AsyncClient, alice: Agent, bob: Agent
) -> None:
    listing = await client.get(f"{V1}/accounts/directory", headers=alice.headers)
    assert listing.status_code == 200
    entries = {e["name"]: e for e in listing.json()["agents"]}
    assert entries["bob"] == {"name": "bob", "email": "bob@localhost", "role": "secretary"}
    assert set(entries) == {"alice", "bob"}
    one = await client.get(f"{V1}/accounts/directory/bob", headers=alice.headers)
    assert one.json() == entries["bob"]
    missing = await client.get(f"{V1}/accounts/directory/nobody", headers=alice.headers)
    assert_error(missing, 404, "agent_not_found")


async def test_delete_by_name_and_by_id_removes_the_agent_and_its_key(
    client: httpx.AsyncClient, alice: Agent, bob: Agent
) -> None:
    by_name = await client.delete(f"{V1}/accounts/alice", headers=ADMIN)
    deleted = by_name.json()
    assert {k: deleted[k] for k in ("deleted", "name", "email")} == {
        "deleted": True,
        "name": "alice",
        "email": "alice@localhost",
    }
    assert deleted["deletionId"] and deleted["emailsArchived"] == 0
    gone = await client.get(f"{V1}/accounts/me", headers=alice.headers)
    assert_error(gone, 401, "unauthorized")
    by_id = await client.delete(f"{V1}/accounts/{bob.id}", headers=ADMIN)
    assert by_id.status_code == 200 and by_id.json()["name"] == "bob"
    again = await client.delete(f"{V1}/accounts/{bob.id}", headers=ADMIN)
    assert_error(again, 404, "agent_not_found")
    assert (await client.get(f"{V1}/accounts", headers=ADMIN)).json() == {"agents": []}
