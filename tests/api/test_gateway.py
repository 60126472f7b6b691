"""The gateway routes over HTTP, against a real Dovecot and a loopback SMTP peer."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from agentpost.delivery.worker import start_worker
from agentpost.services import accounts
from agentpost.services.context import AppContext
from agentpost.testing.dovecot import Dovecot, dovecot_available
from agentpost.testing.relay import RELAY_EMAIL, RELAY_PASSWORD, SmtpPeer, message, smtp_peer

from .support import MASTER_KEY, V1, Agent, auth

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.skipif(not dovecot_available(), reason="needs dovecot-imapd"),
]
ADMIN = auth(MASTER_KEY)


@pytest.fixture
def dovecot() -> Iterator[Dovecot]:
    with Dovecot() as server:
        server.add_user(RELAY_EMAIL, RELAY_PASSWORD)
        yield server


@pytest.fixture
async def peer() -> AsyncIterator[SmtpPeer]:
    async with smtp_peer(RELAY_EMAIL, RELAY_PASSWORD) as server:
        yield server


def _body(dovecot: Dovecot, peer: SmtpPeer, password: str = RELAY_PASSWORD) -> dict[str, Any]:
    return {
        "provider": "custom",
        "email": RELAY_EMAIL,
        "password": password,
        "smtpHost": "127.0.0.1",
        "smtpPort": peer.port,
        "smtpSecurity": "none",
        "imapHost": "127.0.0.1",
        "imapPort": dovecot.port,
        "imapSecurity": "none",
    }


async def _connect(client: httpx.AsyncClient, dovecot: Dovecot, peer: SmtpPeer) -> dict[str, Any]:
    response = await client.post(f"{V1}/gateway/relay", json=_body(dovecot, peer), headers=ADMIN)
    assert response.status_code == 200, response.text
    return dict(response.json())


async def test_setup_status_and_refusals(
    client: httpx.AsyncClient, alice: Agent, dovecot: Dovecot, peer: SmtpPeer
) -> None:
    before = await client.get(f"{V1}/gateway/status", headers=ADMIN)
    assert before.json() == {"mode": "none", "healthy": True, "relay": None}
    as_agent = await client.post(
        f"{V1}/gateway/relay", json=_body(dovecot, peer), headers=alice.headers
    )
    assert as_agent.status_code == 403
    wrong = await client.post(
        f"{V1}/gateway/relay", json=_body(dovecot, peer, "wrong-pass"), headers=ADMIN
    )
    assert wrong.status_code == 400 and wrong.json()["code"] == "relay_login_failed"
    assert (await client.get(f"{V1}/gateway/status", headers=ADMIN)).json()["mode"] == "none"
    plain = _body(dovecot, peer) | {"imapHost": "imap.example.com"}
    refused = await client.post(f"{V1}/gateway/relay", json=plain, headers=ADMIN)
    assert refused.status_code == 400 and refused.json()["field"] == "imapSecurity"

    created = await _connect(client, dovecot, peer)
    assert created["agent"]["name"] == "secretary"
    assert created["agent"]["subAddress"] == "owner+secretary@relay.test"
    assert created["agent"]["apiKey"].startswith("ak_")
    status = (await client.get(f"{V1}/gateway/status", headers=ADMIN)).json()
    assert status["mode"] == "relay" and status["healthy"] is True
    assert status["relay"]["email"] == RELAY_EMAIL
    for body in (created, status):
        assert RELAY_PASSWORD not in str(body)
    removed = await client.delete(f"{V1}/gateway/relay", headers=ADMIN)
    assert removed.status_code == 200
    assert (await client.get(f"{V1}/gateway/status", headers=ADMIN)).json()["mode"] == "none"


async def test_relay_search_and_import_are_scoped_to_the_agent(
    client: httpx.AsyncClient,
    alice: Agent,
    bob: Agent,
    dovecot: Dovecot,
    peer: SmtpPeer,
) -> None:
    # Old mail, there before the account was connected: not fetched, but searchable.
    for_alice = message("owner+alice@relay.test", "Invoice 42", "<inv42@example.org>")
    dovecot.append(RELAY_EMAIL, RELAY_PASSWORD, for_alice)
    dovecot.append(
        RELAY_EMAIL, RELAY_PASSWORD, message("owner+bob@relay.test", "Invoice 43", "<inv43@x>")
    )
    await _connect(client, dovecot, peer)
    url = f"{V1}/gateway/relay/search"
    everything = (await client.get(url, params={"subject": "invoice"}, headers=ADMIN)).json()
    assert {h["agent"] for h in everything["relayResults"]} == {"alice", "bob"}
    mine = (await client.get(url, params={"subject": "invoice"}, headers=alice.headers)).json()
    assert [h["subject"] for h in mine["relayResults"]] == ["Invoice 42"]
    hit = mine["relayResults"][0]
    assert hit["source"] == "relay" and hit["imported"] is False
    assert hit["from"] == [{"name": "Carol", "address": "carol@example.org"}]

    imported = await client.post(
        f"{V1}/gateway/relay/import", json={"uid": hit["uid"]}, headers=alice.headers
    )
    assert imported.status_code == 200 and imported.json()["alreadyImported"] is False
    uid = imported.json()["uid"]
    raw = await client.get(f"{V1}/mail/messages/{uid}/raw", headers=alice.headers)
    assert raw.content == for_alice
    again = await client.post(
        f"{V1}/gateway/relay/import", json={"uid": hit["uid"]}, headers=alice.headers
    )
    assert again.json()["alreadyImported"] is True and again.json()["uid"] == uid
    compat = await client.post(
        f"{V1}/mail/import-relay", json={"uid": hit["uid"]}, headers=alice.headers
    )
    assert compat.json()["ok"] is True and compat.json()["uid"] == uid
    stolen = await client.post(
        f"{V1}/gateway/relay/import", json={"uid": hit["uid"]}, headers=bob.headers
    )
    assert stolen.status_code == 404 and stolen.json()["code"] == "relay_message_not_found"
    after = (await client.get(url, params={"subject": "invoice"}, headers=alice.headers)).json()
    assert after["relayResults"][0]["imported"] is True


async def test_test_email_goes_out_through_the_relay_as_a_subaddress(
    ctx: AppContext, client: httpx.AsyncClient, dovecot: Dovecot, peer: SmtpPeer
) -> None:
    await _connect(client, dovecot, peer)
    local = await client.post(f"{V1}/gateway/test", json={"to": "alice@localhost"}, headers=ADMIN)
    assert local.status_code == 400
    response = await client.post(
        f"{V1}/gateway/test", json={"to": "carol@example.org"}, headers=ADMIN
    )
    assert response.status_code == 200, response.text
    assert response.json()["sender"] == "owner+secretary@relay.test"
    worker = start_worker(ctx)
    try:
        await asyncio.wait_for(peer.arrived.wait(), timeout=20)
    finally:
        await worker.close()
    [envelope] = peer.received
    assert envelope.mail_from == RELAY_EMAIL
    assert envelope.rcpt_tos == ["carol@example.org"]
    head = bytes(envelope.original_content or b"").split(b"\r\n\r\n")[0]
    assert b"From: secretary <owner+secretary@relay.test>" in head
    assert b"Subject: AgentPost gateway test" in head


async def test_setup_tools_guide_and_not_configured_answers(
    client: httpx.AsyncClient, dovecot: Dovecot, peer: SmtpPeer
) -> None:
    guide = (await client.get(f"{V1}/gateway/setup-guide", headers=ADMIN)).json()
    assert [m["mode"] for m in guide["modes"]] == ["local", "relay", "domain"]
    no_relay = await client.post(
        f"{V1}/gateway/domain/alias-setup", json={"agentEmail": "alice"}, headers=ADMIN
    )
    assert no_relay.status_code == 400 and no_relay.json()["code"] == "relay_not_configured"
    await _connect(client, dovecot, peer)
    alias = await client.post(
        f"{V1}/gateway/domain/alias-setup", json={"agentEmail": "alice"}, headers=ADMIN
    )
    assert alias.status_code == 200
    assert alias.json()["agentEmail"] == "owner+alice@relay.test"
    steps = alias.json()["instructions"]["steps"]
    assert any("Send mail as" in s["action"] for s in steps)
    domain = await client.post(
        f"{V1}/gateway/domain",
        json={"cloudflareToken": "t", "cloudflareAccountId": "a"},
        headers=ADMIN,
    )
    purchase = await client.post(
        f"{V1}/gateway/domain/purchase", json={"keywords": ["agents"]}, headers=ADMIN
    )
    payment = await client.get(f"{V1}/gateway/domain/payment-setup", headers=ADMIN)
    for answer in (domain, purchase, payment):
        assert answer.status_code == 501
        assert answer.json()["code"] == "not_configured"
        assert "not configured yet" in answer.json()["error"]
        assert (
            "setup_email_relay" in answer.json()["error"] or "registrar" in answer.json()["error"]
        )
    missing = await client.post(f"{V1}/gateway/domain/purchase", json={}, headers=ADMIN)
    assert missing.status_code == 400


async def test_each_owner_sees_only_their_own_relay(
    ctx: AppContext, client: httpx.AsyncClient, dovecot: Dovecot, peer: SmtpPeer
) -> None:
    await _connect(client, dovecot, peer)  # the default owner's, through the master key
    admin = await accounts.authenticate(ctx, MASTER_KEY)
    _owner, owner_key = await accounts.create_owner(ctx, admin, name="Olga")
    theirs = await client.get(f"{V1}/gateway/status", headers=auth(owner_key))
    assert theirs.json() == {"mode": "none", "healthy": True, "relay": None}
    search = await client.get(f"{V1}/gateway/relay/search", headers=auth(owner_key))
    assert search.status_code == 400 and search.json()["code"] == "relay_not_configured"
    # Olga's own agent cannot reach the default owner's relay either.
    olga = await accounts.authenticate(ctx, owner_key)
    _agent, agent_key = await accounts.create_agent(ctx, olga, name="olgabot")
    imported = await client.post(
        f"{V1}/gateway/relay/import", json={"uid": 1}, headers=auth(agent_key)
    )
    assert imported.status_code == 400 and imported.json()["code"] == "relay_not_configured"
