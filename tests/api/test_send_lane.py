"""POST /mail/send's short path (api/send_lane.py): it takes plain sends, answers them as the
FastAPI route does, and hands everything else on to that route with the body it read."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from starlette.types import Receive, Scope, Send

from agentpost.api import send_lane
from agentpost.api.schemas import SendCreate
from agentpost.testing.asgi import post_scope

from .support import MASTER_KEY, V1, Agent, assert_error, auth

pytestmark = pytest.mark.anyio

EXTERNAL = {"to": "partner@example.com", "subject": "Quarterly", "text": "Numbers attached."}


@pytest.fixture
async def route_only(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """A client whose requests skip the lane, as handed-on requests do: the FastAPI route."""

    async def handed_on(scope: Scope, receive: Receive, send: Send) -> None:
        await app(scope | {send_lane.HANDED_ON: True}, receive, send)

    transport = httpx.ASGITransport(app=handed_on)
    async with httpx.AsyncClient(transport=transport, base_url="http://agentpost.test") as http:
        yield http


@pytest.fixture
def lane_calls(monkeypatch: pytest.MonkeyPatch) -> list[SendCreate]:
    """The bodies of the sends the lane itself answered."""
    calls: list[SendCreate] = []
    answer = send_lane.send_answer

    async def counted(ctx: Any, agent: Any, body: SendCreate, key: str | None) -> Any:
        calls.append(body)
        return await answer(ctx, agent, body, key)

    monkeypatch.setattr(send_lane, "send_answer", counted)
    return calls


def _comparable(response: httpx.Response) -> tuple[int, str, dict[str, Any]]:
    body = response.json()
    uid = body.pop("uid")  # present on both, different per message
    assert body.pop("messageId")
    body["note"] = body["note"].replace(f"/messages/{uid}/", "/messages/<uid>/")
    return response.status_code, response.headers["content-type"], body


async def test_the_lane_answers_a_send_as_the_route_does(
    client: httpx.AsyncClient,
    route_only: httpx.AsyncClient,
    alice: Agent,
    bob: Agent,
    lane_calls: list[SendCreate],
) -> None:
    body = {**EXTERNAL, "cc": [bob.address]}
    by_lane = await client.post(f"{V1}/mail/send", json=body, headers=alice.headers)
    by_route = await route_only.post(f"{V1}/mail/send", json=body, headers=alice.headers)
    assert len(lane_calls) == 1 and lane_calls[0].to == "partner@example.com"
    assert _comparable(by_lane) == _comparable(by_route)
    assert by_lane.json()["status"] == "queued"
    # Serialized alike: the same fields in the same order, none of them null.
    assert list(by_lane.json()) == list(by_route.json())


async def test_the_compatibility_prefix_has_the_lane_too(
    client: httpx.AsyncClient, alice: Agent, lane_calls: list[SendCreate]
) -> None:
    response = await client.post("/api/agenticmail/mail/send", json=EXTERNAL, headers=alice.headers)
    assert response.status_code == 200 and response.json()["status"] == "queued"
    assert len(lane_calls) == 1


async def test_idempotent_retries_replay_through_the_lane(
    client: httpx.AsyncClient, alice: Agent, lane_calls: list[SendCreate]
) -> None:
    headers = {**alice.headers, "Idempotency-Key": "lane-retry-1"}
    first = await client.post(f"{V1}/mail/send", json=EXTERNAL, headers=headers)
    again = await client.post(f"{V1}/mail/send", json=EXTERNAL, headers=headers)
    assert first.status_code == again.status_code == 200
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    changed = await client.post(
        f"{V1}/mail/send", json={**EXTERNAL, "subject": "Other"}, headers=headers
    )
    assert_error(changed, 409, "idempotency_conflict")
    assert len(lane_calls) == 3


async def test_a_held_send_is_202_through_the_lane(
    client: httpx.AsyncClient, alice: Agent, lane_calls: list[SendCreate]
) -> None:
    leak = {**EXTERNAL, "text": "my card is 4111 1111 1111 1111, exp 12/29"}
    response = await client.post(f"{V1}/mail/send", json=leak, headers=alice.headers)
    assert response.status_code == 202
    assert response.json()["status"] == "held"
    assert len(lane_calls) == 1


async def test_a_chunked_body_is_read_whole(
    client: httpx.AsyncClient, alice: Agent, lane_calls: list[SendCreate]
) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"to": "partner@example.com", '
        yield b'"subject": "In parts", "text": "one"}'

    headers = {**alice.headers, "Content-Type": "application/json; charset=utf-8"}
    response = await client.post(f"{V1}/mail/send", content=chunks(), headers=headers)
    assert response.status_code == 200, response.text
    assert lane_calls[0].subject == "In parts"


@pytest.mark.parametrize(
    ("authorization", "content_type", "content", "status", "code"),
    [
        (None, "application/json", b'{"to": "a@example.com", "text": "x"}', 401, "unauthorized"),
        ("Basic eDp5", "application/json", b'{"to": "a@example.com"}', 401, "unauthorized"),
        ("Bearer ", "application/json", b'{"to": "a@example.com"}', 401, "unauthorized"),
        ("Bearer ak_" + "f" * 48, "application/json", b'{"to": "a@x.com"}', 401, "unauthorized"),
        ("alice", "application/json", b'{"to": "a@exa', 400, "invalid_json"),
        ("alice", "application/json", b"", 400, "invalid_input"),
        ("alice", "application/json", b'{"subject": "no to"}', 400, "invalid_input"),
        ("alice", "application/json", b'["a@example.com"]', 400, "invalid_input"),
        ("alice", "text/plain", b'{"to": "a@example.com"}', 400, "invalid_input"),
    ],
)
async def test_what_the_lane_does_not_take_gets_the_routes_answer(
    client: httpx.AsyncClient,
    route_only: httpx.AsyncClient,
    alice: Agent,
    lane_calls: list[SendCreate],
    authorization: str | None,
    content_type: str,
    content: bytes,
    status: int,
    code: str,
) -> None:
    headers = {"Content-Type": content_type}
    if authorization is not None:
        headers["Authorization"] = (
            alice.headers["Authorization"] if authorization == "alice" else authorization
        )
    by_lane = await client.post(f"{V1}/mail/send", content=content, headers=headers)
    by_route = await route_only.post(f"{V1}/mail/send", content=content, headers=headers)
    assert_error(by_lane, status, code)
    assert (by_lane.status_code, by_lane.json()) == (by_route.status_code, by_route.json())
    assert by_lane.headers.get("www-authenticate") == by_route.headers.get("www-authenticate")
    assert lane_calls == []


async def test_a_key_of_the_wrong_kind_is_refused_by_the_lane_as_by_the_route(
    client: httpx.AsyncClient, route_only: httpx.AsyncClient, lane_calls: list[SendCreate]
) -> None:
    by_lane = await client.post(f"{V1}/mail/send", json=EXTERNAL, headers=auth(MASTER_KEY))
    by_route = await route_only.post(f"{V1}/mail/send", json=EXTERNAL, headers=auth(MASTER_KEY))
    assert_error(by_lane, 403, "agent_key_required")
    assert by_lane.json() == by_route.json()
    assert lane_calls == []


async def test_other_methods_on_the_path_are_the_routes_405(client: httpx.AsyncClient) -> None:
    response = await client.get(f"{V1}/mail/send")
    assert_error(response, 405, "method_not_allowed")
    assert "POST" in response.headers["allow"]


async def test_openapi_still_documents_the_send_route(client: httpx.AsyncClient) -> None:
    schema = (await client.get("/openapi.json")).json()
    operation = schema["paths"][f"{V1}/mail/send"]["post"]
    assert "Idempotency-Key" in [p["name"] for p in operation["parameters"]]
    assert operation["security"] == [{"HTTPBearer": []}]


async def test_a_client_gone_before_its_body_arrives_sends_nothing(
    app: FastAPI, client: httpx.AsyncClient, alice: Agent
) -> None:
    messages = iter(
        [
            {"type": "http.request", "body": b'{"to": "partner@example.com", ', "more_body": True},
            {"type": "http.disconnect"},
        ]
    )
    answered: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return next(messages)

    async def send(message: dict[str, Any]) -> None:
        answered.append(message)

    authorization = (b"authorization", alice.headers["Authorization"].encode())
    scope = post_scope(f"{V1}/mail/send", [authorization, (b"content-type", b"application/json")])
    await app(scope, receive, send)
    assert answered == []
    sent = await client.get(f"{V1}/mail/folders/Sent", headers=alice.headers)
    assert sent.status_code == 200 and sent.json()["total"] == 0
