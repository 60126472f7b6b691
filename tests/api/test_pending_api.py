"""Held mail over HTTP: 202 with the pending id, owner-only approval, the guard policy."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from agentpost.services import accounts
from agentpost.services.context import AppContext

from .support import MASTER_KEY, V1, Agent, auth

pytestmark = pytest.mark.anyio
SECRET = "here is the key AKIAIOSFODNN7EXAMPLE for prod"


async def _held(client: httpx.AsyncClient, alice: Agent) -> dict[str, Any]:
    body = {"to": "ext@example.com", "bcc": "x@example.net", "subject": "keys", "text": SECRET}
    response = await client.post(f"{V1}/mail/send", json=body, headers=alice.headers)
    assert response.status_code == 202, response.text
    answer: dict[str, Any] = response.json()
    return answer


async def test_a_held_send_answers_202_without_the_secret(
    client: httpx.AsyncClient, alice: Agent
) -> None:
    answer = await _held(client, alice)
    assert answer["status"] == "held" and "uid" not in answer
    assert answer["warnings"][0]["ruleId"] == "ob_aws_key"
    assert answer["warnings"][0]["severity"] == "HIGH"
    assert {"pendingId", "expiresAt", "remindAt", "note"} <= answer.keys()
    assert "AKIA" not in str(answer)
    assert [r["status"] for r in answer["recipients"]] == ["held", "held"]


async def test_agents_list_and_view_but_only_owners_decide(
    client: httpx.AsyncClient, alice: Agent, bob: Agent
) -> None:
    pending_id = (await _held(client, alice))["pendingId"]
    listed = (await client.get(f"{V1}/pending", headers=alice.headers)).json()
    assert listed["count"] == 1 and listed["pending"][0]["id"] == pending_id
    assert listed["pending"][0]["to"] == ["ext@example.com", "x@example.net"]
    assert "AKIA" not in str(listed)
    assert (await client.get(f"{V1}/pending", headers=bob.headers)).json()["count"] == 0
    missing = await client.get(f"{V1}/pending/{pending_id}", headers=bob.headers)
    assert (missing.status_code, missing.json()["code"]) == (404, "pending_not_found")
    for action in ("approve", "reject"):
        refused = await client.post(f"{V1}/pending/{pending_id}/{action}", headers=alice.headers)
        assert (refused.status_code, refused.json()["code"]) == (403, "approval_requires_owner")
    detail = (await client.get(f"{V1}/pending/{pending_id}", headers=auth(MASTER_KEY))).json()
    assert detail["message"]["text"].startswith("here is the key")
    stale = await client.post(
        f"{V1}/pending/{pending_id}/approve",
        json={"contentHash": "f" * 64},
        headers=auth(MASTER_KEY),
    )
    assert (stale.status_code, stale.json()["code"]) == (409, "approval_mismatch")
    approved = await client.post(
        f"{V1}/pending/{pending_id}/approve",
        json={"contentHash": detail["contentHash"]},
        headers=auth(MASTER_KEY),
    )
    assert approved.status_code == 200, approved.text
    assert approved.json()["status"] == "queued" and approved.json()["uid"] >= 1
    again = await client.post(f"{V1}/pending/{pending_id}/approve", headers=auth(MASTER_KEY))
    assert (again.status_code, again.json()["code"]) == (409, "pending_resolved")
    sent = (await client.get(f"{V1}/mail/folders/Sent", headers=alice.headers)).json()
    assert sent["total"] == 1


async def test_owner_keys_reject_their_own_agents_mail_only(
    ctx: AppContext, client: httpx.AsyncClient, alice: Agent
) -> None:
    pending_id = (await _held(client, alice))["pendingId"]
    admin = await accounts.authenticate(ctx, MASTER_KEY)
    _, other_key = await accounts.create_owner(ctx, admin, name="other")
    hidden = await client.post(f"{V1}/pending/{pending_id}/reject", headers=auth(other_key))
    assert hidden.status_code == 404
    rejected = await client.post(f"{V1}/pending/{pending_id}/reject", headers=auth(MASTER_KEY))
    assert rejected.status_code == 200 and rejected.json()["status"] == "rejected"
    assert rejected.json()["resolvedBy"] == "admin"


async def test_guard_policy_round_trip(client: httpx.AsyncClient, alice: Agent) -> None:
    url = f"{V1}/accounts/alice/guard-policy"
    default = (await client.get(url, headers=auth(MASTER_KEY))).json()
    assert default["actions"]["stranger"]["HIGH"] == "hold"
    refused = await client.get(url, headers=alice.headers)
    assert (refused.status_code, refused.json()["code"]) == (403, "owner_key_required")
    body = {"actions": {"stranger": {"HIGH": "warn"}}, "allowDomains": ["Corp.Example"]}
    saved = await client.put(url, json=body, headers=auth(MASTER_KEY))
    assert saved.status_code == 200, saved.text
    assert saved.json()["allowDomains"] == ["corp.example"]
    bad = await client.put(url, json={"disabledRules": ["nope"]}, headers=auth(MASTER_KEY))
    assert (bad.status_code, bad.json()["code"], bad.json()["field"]) == (
        400,
        "invalid_input",
        "disabledRules",
    )
    send = {"to": "ext@example.com", "subject": "keys", "text": SECRET}
    response = await client.post(f"{V1}/mail/send", json=send, headers=alice.headers)
    assert response.status_code == 200 and response.json()["warnings"]


async def test_reminders_endpoint_is_for_agents(client: httpx.AsyncClient, alice: Agent) -> None:
    await _held(client, alice)
    due = await client.post(f"{V1}/pending/reminders", headers=alice.headers)
    assert due.status_code == 200 and due.json() == {"reminders": []}
    refused = await client.post(f"{V1}/pending/reminders", headers=auth(MASTER_KEY))
    assert refused.status_code == 403


async def test_a_retried_held_send_replays_the_first_answer(
    client: httpx.AsyncClient, alice: Agent
) -> None:
    body = {"to": "ext@example.com", "subject": "keys", "text": SECRET}
    headers = {**alice.headers, "Idempotency-Key": "retry-1"}
    first = await client.post(f"{V1}/mail/send", json=body, headers=headers)
    again = await client.post(f"{V1}/mail/send", json=body, headers=headers)
    assert first.status_code == again.status_code == 202
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert again.json()["pendingId"] == first.json()["pendingId"]
    listed = (await client.get(f"{V1}/pending", headers=alice.headers)).json()
    assert listed["count"] == 1
