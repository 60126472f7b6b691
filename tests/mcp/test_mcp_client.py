"""The REST client against a scripted transport: URLs, bodies, error mapping, SSE parsing.
(The same client runs against the real API in test_mcp_stdio.py.)"""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx
import pytest

from agentpost.client import (
    AgentPostClient,
    APIUnavailable,
    ClientError,
    OutgoingAttachment,
    api_base,
)

pytestmark = pytest.mark.anyio

Handler = Callable[[httpx.Request], httpx.Response]


def client_for(handler: Handler, key: str = "ak_test") -> AgentPostClient:
    return AgentPostClient("http://api.test", key, transport=httpx.MockTransport(handler))


@pytest.mark.parametrize(
    ("url", "base"),
    [
        ("http://h:3100", "http://h:3100/api/v1"),
        ("http://h:3100/", "http://h:3100/api/v1"),
        ("http://h:3100/api/v1", "http://h:3100/api/v1"),
        ("http://h/api/agenticmail/", "http://h/api/agenticmail"),
    ],
)
def test_api_base_accepts_a_server_url_or_an_api_url(url: str, base: str) -> None:
    assert api_base(url) == base


async def test_requests_carry_the_key_and_drop_unset_parameters() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"messages": [], "count": 0, "total": 0, "folder": "INBOX"})

    async with client_for(handler) as client:
        page = await client.inbox(limit=5)
    assert page.total == 0
    assert seen[0].headers["Authorization"] == "Bearer ak_test"
    assert str(seen[0].url) == "http://api.test/api/v1/mail/inbox?limit=5"


async def test_send_builds_the_documented_body() -> None:
    bodies: list[dict[str, object]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        bodies.append(json.loads(request.content))
        assert request.headers["Idempotency-Key"] == "k1"
        return httpx.Response(
            200, json={"messageId": "<a@b>", "uid": 1, "status": "delivered", "recipients": []}
        )

    async with client_for(handler) as client:
        result = await client.send(
            "bob@localhost",
            "Hi",
            text="body",
            in_reply_to="<x@y>",
            references=["<w@y>", "<x@y>"],
            attachments=[OutgoingAttachment(filename="a.txt", content="aGk=", encoding="base64")],
            idempotency_key="k1",
        )
    assert result.message_id == "<a@b>"
    assert bodies == [
        {
            "to": "bob@localhost",
            "subject": "Hi",
            "text": "body",
            "inReplyTo": "<x@y>",
            "references": ["<w@y>", "<x@y>"],
            "attachments": [{"filename": "a.txt", "content": "aGk=", "encoding": "base64"}],
        }
    ]


async def test_folder_names_are_escaped_in_paths() -> None:
    paths: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        paths.append(request.url.raw_path.decode())
        return httpx.Response(200, json={"messages": [], "count": 0, "total": 0, "folder": "x"})

    async with client_for(handler) as client:
        await client.folder("Projects/Q1 #2")
    assert paths == ["/api/v1/mail/folders/Projects%2FQ1%20%232"]


async def test_api_errors_carry_status_code_message_and_field() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        body = {
            "error": "to must name at least one recipient",
            "code": "invalid_input",
            "field": "to",
        }
        return httpx.Response(400, json=body)

    async with client_for(handler) as client:
        with pytest.raises(ClientError) as caught:
            await client.send("", "s")
    error = caught.value
    assert (error.status, error.code, error.field) == (400, "invalid_input", "to")
    assert error.message == "to must name at least one recipient"
    assert (
        str(error) == "to must name at least one recipient (HTTP 400, code invalid_input, field to)"
    )


async def test_non_json_errors_still_become_client_errors() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(502, text="Bad Gateway from proxy")

    async with client_for(handler) as client:
        with pytest.raises(ClientError) as caught:
            await client.health()
    assert (caught.value.status, caught.value.code) == (502, "http_error")
    assert caught.value.message == "Bad Gateway from proxy"


async def test_an_unreachable_server_is_reported_without_a_traceback_worth_of_detail() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    async with client_for(handler) as client:
        with pytest.raises(APIUnavailable) as caught:
            await client.me()
    assert (caught.value.status, caught.value.code) == (0, "api_unreachable")
    assert "cannot reach the API at http://api.test/api/v1" in caught.value.message


async def test_with_key_shares_the_connection_but_not_the_key() -> None:
    keys: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        keys.append(request.headers["Authorization"])
        return httpx.Response(200, json={"agents": []})

    async with client_for(handler, key="ak_agent") as client:
        admin = client.with_key("mk_master")
        await admin.list_accounts()
        await client.directory()
        await admin.aclose()  # a borrowed pool stays open for its owner
        await client.directory()
    assert keys == ["Bearer mk_master", "Bearer ak_agent", "Bearer ak_agent"]


async def test_events_yields_each_data_frame_and_skips_pings() -> None:
    stream = (
        b'data: {"type":"connected"}\n\n'
        b": ping\n\n"
        b'data: {"type":"new",\ndata: "uid":4}\n\n'
        b"data: not json\n\n"
        b'data: {"type":"new","uid":5}\n\n'
    )

    def handler(request: httpx.Request) -> httpx.Response:
        assert request.headers["Accept"] == "text/event-stream"
        return httpx.Response(200, content=stream, headers={"Content-Type": "text/event-stream"})

    async with client_for(handler) as client, client.events() as events:
        received = [event async for event in events]
    assert received == [{"type": "connected"}, {"type": "new", "uid": 4}, {"type": "new", "uid": 5}]


async def test_events_refused_raises_the_api_error() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        body = {"error": "at most 5 event streams per agent", "code": "rate_limited"}
        return httpx.Response(429, json=body)

    async with client_for(handler) as client:
        with pytest.raises(ClientError) as caught:
            async with client.events():
                pass
    assert (caught.value.status, caught.value.code) == (429, "rate_limited")
