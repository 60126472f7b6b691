"""Permissions over the API: who may manage them, the 403/429 answers of a refused send with
Retry-After, the budget, and Idempotency-Key replay, conflict and concurrency."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

import httpx
import pytest

from agentpost.services import accounts
from agentpost.services.context import AppContext
from agentpost.testing.permissions import make_config

from .support import MASTER_KEY, V1, Agent, assert_error, auth, send

pytestmark = pytest.mark.anyio
ADMIN = auth(MASTER_KEY)


async def _config(ctx: AppContext, **kw: object) -> str:
    admin = await accounts.authenticate(ctx, MASTER_KEY)
    return await make_config(ctx, admin.owner_id, **kw)  # type: ignore[arg-type]


async def _put(client: httpx.AsyncClient, name: str, config: str, **body: object) -> httpx.Response:
    return await client.put(f"{V1}/accounts/{name}/permissions/{config}", json=body, headers=ADMIN)


async def test_owners_manage_permissions_and_agents_cannot(
    ctx: AppContext, client: httpx.AsyncClient, alice: Agent
) -> None:
    config = await _config(ctx)
    url = f"{V1}/accounts/alice/permissions"
    assert_error(await client.get(url, headers=alice.headers), 403, "owner_key_required")
    assert_error(
        await client.put(f"{url}/{config}", json={}, headers=alice.headers),
        403,
        "owner_key_required",
    )
    response = await _put(client, "alice", config, dailyLimit=5, allowedRecipients=["*@x.org"])
    assert response.status_code == 200, response.text
    assert response.json()["dailyLimit"] == 5
    listing = (await client.get(url, headers=ADMIN)).json()
    assert listing["policy"] == "assigned"
    assert [p["configId"] for p in listing["permissions"]] == [config]
    bad = await _put(client, "alice", config, allowedRecipients=["/(x+)+y/"])
    assert "exponential" in assert_error(bad, 400, "invalid_input", "allowedRecipients")["error"]
    missing = await _put(client, "alice", str(uuid.uuid4()))
    assert_error(missing, 404, "smtp_config_not_found")
    _owner, owner_key = await accounts.create_owner(
        ctx, await accounts.authenticate(ctx, MASTER_KEY), name="other"
    )
    assert_error(await client.get(url, headers=auth(owner_key)), 404, "agent_not_found")
    deleted = await client.delete(f"{url}/{config}", headers=ADMIN)
    assert deleted.status_code == 200
    assert_error(await client.delete(f"{url}/{config}", headers=ADMIN), 404, "permission_not_found")


async def test_refusals_say_which_rule_and_when(
    ctx: AppContext, client: httpx.AsyncClient, alice: Agent
) -> None:
    config = await _config(ctx)
    await _put(client, "alice", config, hourlyLimit=1, allowedRecipients=["*@example.com"])
    await send(client, alice, to="one@example.com")
    over = await client.post(
        f"{V1}/mail/send",
        json={"to": "two@example.com", "subject": "s", "text": "t"},
        headers=alice.headers,
    )
    body = assert_error(over, 429, "rate_limited")
    assert "hourly limit of 1" in body["error"]
    assert 3590 <= int(over.headers["Retry-After"]) <= 3600
    when = body["error"].rsplit(" ", 1)[-1]
    assert datetime.fromisoformat(when) > datetime.now(UTC)
    wrong = await client.post(
        f"{V1}/mail/send",
        json={"to": "someone@else.org", "subject": "s", "text": "t"},
        headers=alice.headers,
    )
    assert_error(wrong, 403, "recipient_not_allowed", "to")
    await _put(client, "alice", config, canSend=False)
    silenced = await client.post(
        f"{V1}/mail/send",
        json={"to": "alice@localhost", "subject": "s", "text": "t"},
        headers=alice.headers,
    )
    assert_error(silenced, 403, "send_not_permitted")


async def test_budget_shows_each_window(
    ctx: AppContext, client: httpx.AsyncClient, alice: Agent
) -> None:
    default = (await client.get(f"{V1}/mail/budget", headers=alice.headers)).json()
    assert default["policy"] == "default" and default["canSend"] is True
    assert default["configurations"][0]["configId"] is None
    config = await _config(ctx, max_per_day=50)
    await _put(client, "alice", config, hourlyLimit=3, dailyLimit=10, isDefault=True)
    await send(client, alice, to="a@example.com")
    budget = (await client.get(f"{V1}/mail/budget", headers=alice.headers)).json()
    route = budget["configurations"][0]
    assert (route["configId"], route["active"], route["isDefault"]) == (config, True, True)
    windows = {w["name"]: w for w in route["windows"]}
    assert (windows["hourly"]["limit"], windows["hourly"]["remaining"]) == (3, 2)
    assert (windows["daily"]["used"], windows["config_daily"]["remaining"]) == (1, 49)
    assert windows["hourly"]["resetsAt"].endswith("Z")
    assert_error(await client.get(f"{V1}/mail/budget", headers=ADMIN), 403, "agent_key_required")


async def _post_send(
    client: httpx.AsyncClient, agent: Agent, key: str, **body: object
) -> httpx.Response:
    body = {"to": "bob@localhost", "subject": "Once", "text": "only once"} | body
    headers = agent.headers | {"Idempotency-Key": key}
    return await client.post(f"{V1}/mail/send", json=body, headers=headers)


async def test_idempotency_key_replays_the_first_answer(
    client: httpx.AsyncClient, alice: Agent, bob: Agent
) -> None:
    first = await _post_send(client, alice, "k-1")
    again = await _post_send(client, alice, "k-1")
    assert first.status_code == again.status_code == 200
    assert again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    inbox = (await client.get(f"{V1}/mail/inbox", headers=bob.headers)).json()
    assert inbox["total"] == 1
    conflict = await _post_send(client, alice, "k-1", subject="Different")
    assert_error(conflict, 409, "idempotency_conflict")
    other_agent = await _post_send(client, bob, "k-1", to="alice@localhost")
    assert other_agent.status_code == 200  # keys are per agent
    assert_error(await _post_send(client, alice, "bad key"), 400, "invalid_input")


async def test_a_refused_send_leaves_the_key_free(
    ctx: AppContext, client: httpx.AsyncClient, alice: Agent, bob: Agent
) -> None:
    config = await _config(ctx)
    await _put(client, "alice", config, canSend=False)
    assert_error(await _post_send(client, alice, "k-2"), 403, "send_not_permitted")
    await _put(client, "alice", config, canSend=True)
    assert (await _post_send(client, alice, "k-2")).status_code == 200


async def test_concurrent_requests_with_one_key_send_once(
    client: httpx.AsyncClient, alice: Agent, bob: Agent
) -> None:
    answers = await asyncio.gather(*(_post_send(client, alice, "k-3") for _ in range(4)))
    statuses = sorted(a.status_code for a in answers)
    assert statuses[0] == 200 and set(statuses) <= {200, 409}, [a.text for a in answers]
    for answer in answers:
        if answer.status_code == 409:
            assert answer.json()["code"] == "idempotency_in_progress"
    bodies = {a.text for a in answers if a.status_code == 200}
    assert len(bodies) == 1
    inbox = (await client.get(f"{V1}/mail/inbox", headers=bob.headers)).json()
    assert inbox["total"] == 1


async def test_reply_and_forward_take_the_key_too(
    client: httpx.AsyncClient, alice: Agent, bob: Agent
) -> None:
    await send(client, alice, to="bob@localhost")
    url = f"{V1}/mail/messages/1/reply"
    headers = bob.headers | {"Idempotency-Key": "r-1"}
    first = await client.post(url, json={"text": "thanks"}, headers=headers)
    again = await client.post(url, json={"text": "thanks"}, headers=headers)
    assert first.status_code == again.status_code == 200
    assert first.json() == again.json()
    forward = await client.post(
        f"{V1}/mail/messages/1/forward", json={"to": "alice@localhost"}, headers=headers
    )
    assert_error(forward, 409, "idempotency_conflict")
    inbox = (await client.get(f"{V1}/mail/inbox", headers=alice.headers)).json()
    assert inbox["total"] == 1
