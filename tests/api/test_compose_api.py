"""Reply and forward over HTTP: threading headers, subjects, recipients, quoting, attachments
and the flags left on the original."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from .support import V1, Agent, assert_error, b64, inbox, read, send

pytestmark = pytest.mark.anyio


async def reply(client: httpx.AsyncClient, agent: Agent, uid: int, **body: Any) -> dict[str, Any]:
    response = await client.post(
        f"{V1}/mail/messages/{uid}/reply", json=body, headers=agent.headers
    )
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


async def test_replies_keep_the_thread_across_two_rounds(
    client: httpx.AsyncClient, alice: Agent, bob: Agent
) -> None:
    first = await send(client, alice, to=bob.address, subject="Project", text="Lunch at noon?")
    m1 = first["messageId"]
    answer = await reply(client, bob, 1, text="Yes, see you there.")
    m2 = answer["messageId"]
    assert answer["recipients"] == [
        {"address": "alice@localhost", "kind": "local", "status": "delivered"}
    ]
    at_alice = await read(client, alice, 1)
    assert at_alice["subject"] == "Re: Project"
    assert at_alice["inReplyTo"] == m1
    assert at_alice["references"] == [m1]
    assert at_alice["text"].startswith("Yes, see you there.")
    assert "> Lunch at noon?" in at_alice["text"]
    assert "alice@localhost" in at_alice["text"]  # the "On …, alice wrote:" line

    await reply(client, alice, 1, text="Great.")
    at_bob = await read(client, bob, 2)
    assert at_bob["subject"] == "Re: Project"  # not "Re: Re: Project"
    assert at_bob["inReplyTo"] == m2
    assert at_bob["references"] == [m1, m2]
    original = await read(client, bob, 1)
    assert at_bob["threadId"] == original["threadId"]
    assert "\\Answered" in original["flags"]
    assert original["seen"] is False  # replying does not mark the original read


async def test_reply_goes_to_reply_to_and_passes_html_through(
    client: httpx.AsyncClient, alice: Agent, bob: Agent, carol: Agent
) -> None:
    await send(client, alice, to=bob.address, reply_to=carol.address, subject="Re: RE: Help")
    result = await reply(client, bob, 1, text="On it", html="<p>On it</p>")
    assert [r["address"] for r in result["recipients"]] == ["carol@localhost"]
    at_carol = await read(client, carol, 1)
    assert at_carol["subject"] == "Re: Help"
    assert at_carol["html"].strip() == "<p>On it</p>"
    assert (await inbox(client, alice))["total"] == 0


async def test_reply_all_reaches_everyone_but_the_agent_itself(
    client: httpx.AsyncClient, alice: Agent, bob: Agent, carol: Agent
) -> None:
    await send(
        client,
        alice,
        to=[bob.address, "Dave <dave@example.com>"],
        cc=[carol.address, "bob+work@localhost", "ALICE@localhost"],
        subject="Team",
    )
    result = await reply(client, bob, 1, text="Agreed", replyAll=True)
    recipients = {r["address"]: r["status"] for r in result["recipients"]}
    assert recipients == {
        "alice@localhost": "delivered",
        "dave@example.com": "queued",
        "carol@localhost": "delivered",
    }
    sent = await read(client, bob, result["uid"], folder="Sent")
    assert [a["address"] for a in sent["to"]] == ["alice@localhost", "dave@example.com"]
    assert [a["address"] for a in sent["cc"]] == ["carol@localhost"]
    assert sent["to"][1]["name"] == "Dave"


async def test_replying_to_own_sent_mail_goes_to_its_recipients(
    client: httpx.AsyncClient, alice: Agent, bob: Agent
) -> None:
    first = await send(client, alice, to=bob.address, subject="Ping")
    result = await reply(client, alice, first["uid"], text="Ping again", folder="Sent")
    assert [r["address"] for r in result["recipients"]] == ["bob@localhost"]
    assert (await inbox(client, bob))["total"] == 2


async def test_forward_carries_the_original_attachments(
    client: httpx.AsyncClient, alice: Agent, bob: Agent, carol: Agent
) -> None:
    blob = bytes(range(256)) * 4
    await send(
        client,
        alice,
        to=bob.address,
        subject="Fwd: Quarterly",
        text="Numbers attached.",
        attachments=[
            {"filename": "q3.bin", "content": b64(blob), "encoding": "base64"},
            {"filename": "summary.txt", "content": "all good", "contentType": "text/plain"},
        ],
    )
    response = await client.post(
        f"{V1}/mail/messages/1/forward",
        json={"to": carol.address, "text": "FYI, see below."},
        headers=bob.headers,
    )
    assert response.status_code == 200, response.text
    forwarded = await read(client, carol, 1)
    assert forwarded["subject"] == "Fwd: Quarterly"
    assert forwarded["inReplyTo"] is None
    assert forwarded["text"].startswith("FYI, see below.")
    assert "---------- Forwarded message ----------" in forwarded["text"]
    assert "Numbers attached." in forwarded["text"]
    assert [(a["filename"], a["size"]) for a in forwarded["attachments"]] == [
        ("q3.bin", len(blob)),
        ("summary.txt", len(b"all good")),
    ]
    first = await client.get(f"{V1}/mail/messages/1/attachments/0", headers=carol.headers)
    assert first.content == blob
    second = await client.get(f"{V1}/mail/messages/1/attachments/1", headers=carol.headers)
    assert second.content == b"all good"
    assert "$Forwarded" in (await read(client, bob, 1))["flags"]


async def test_forward_validates_recipients(
    client: httpx.AsyncClient, alice: Agent, bob: Agent
) -> None:
    await send(client, alice, to=bob.address)
    response = await client.post(
        f"{V1}/mail/messages/1/forward", json={"to": "nope"}, headers=bob.headers
    )
    assert_error(response, 400, "invalid_input", "to")
    missing = await client.post(f"{V1}/mail/messages/1/forward", json={}, headers=bob.headers)
    assert_error(missing, 400, "invalid_input", "to")
