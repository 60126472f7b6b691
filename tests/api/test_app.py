"""The app as a whole: health, OpenAPI, both prefixes, authentication and the error mapping
(validation, malformed JSON, unknown routes, oversize bodies, unexpected exceptions)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from agentpost.api import create_app
from agentpost.services import accounts, mailbox
from agentpost.services.context import AppContext

from .support import MASTER_KEY, V1, Agent, assert_error, auth

pytestmark = pytest.mark.anyio


async def test_health_needs_no_key_and_reports_the_database(client: httpx.AsyncClient) -> None:
    response = await client.get(f"{V1}/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["services"] == {"api": "ok", "database": "ok"}
    assert body["version"]
    assert body["timestamp"].endswith("Z")


async def test_health_is_503_degraded_when_the_database_fails(
    client: httpx.AsyncClient, ctx: AppContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken() -> None:
        raise OSError("connection refused by 10.0.0.7")

    monkeypatch.setattr(ctx.db, "ping", broken)
    response = await client.get(f"{V1}/health")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "degraded"
    assert body["services"]["database"] == "unavailable"
    assert "10.0.0.7" not in response.text


async def test_openapi_documents_v1_routes_with_400_not_422(client: httpx.AsyncClient) -> None:
    schema = (await client.get("/openapi.json")).json()
    paths = schema["paths"]
    assert f"{V1}/mail/send" in paths and f"{V1}/events" in paths
    assert not any(p.startswith("/api/agenticmail") for p in paths)
    send = paths[f"{V1}/mail/send"]["post"]
    assert "422" not in send["responses"] and "400" in send["responses"]
    assert "HTTPValidationError" not in schema["components"]["schemas"]


async def test_compat_prefix_serves_the_same_routes(
    client: httpx.AsyncClient, alice: Agent
) -> None:
    v1 = await client.get(f"{V1}/accounts/me", headers=alice.headers)
    compat = await client.get("/api/agenticmail/accounts/me", headers=alice.headers)
    assert v1.status_code == compat.status_code == 200
    # The first call may have refreshed lastActivityAt; everything else is the same agent.
    assert {**v1.json(), "lastActivityAt": None} == {**compat.json(), "lastActivityAt": None}


async def test_missing_and_unknown_keys_are_401_with_bearer_challenge(
    client: httpx.AsyncClient,
) -> None:
    missing = await client.get(f"{V1}/mail/inbox")
    assert_error(missing, 401, "unauthorized")
    assert missing.headers["www-authenticate"] == "Bearer"
    unknown = await client.get(f"{V1}/mail/inbox", headers=auth("ak_" + "f" * 48))
    assert_error(unknown, 401, "unauthorized")
    not_bearer = await client.get(f"{V1}/mail/inbox", headers={"Authorization": "Basic eDp5"})
    assert_error(not_bearer, 401, "unauthorized")


async def test_wrong_kind_of_key_is_403(client: httpx.AsyncClient, alice: Agent) -> None:
    as_master = await client.get(f"{V1}/mail/inbox", headers=auth(MASTER_KEY))
    assert_error(as_master, 403, "agent_key_required")
    as_agent = await client.get(f"{V1}/accounts", headers=alice.headers)
    assert_error(as_agent, 403, "owner_key_required")
    delete = await client.delete(f"{V1}/accounts/alice", headers=alice.headers)
    assert_error(delete, 403, "owner_key_required")


async def test_unknown_route_and_wrong_method_are_json(client: httpx.AsyncClient) -> None:
    missing = assert_error(await client.get(f"{V1}/no/such/thing"), 404, "not_found")
    assert "/api/v1/no/such/thing" in missing["error"]
    wrong = await client.put(f"{V1}/mail/inbox")
    assert_error(wrong, 405, "method_not_allowed")
    assert "GET" in wrong.headers["allow"]


async def test_malformed_json_is_400_invalid_json(client: httpx.AsyncClient, alice: Agent) -> None:
    response = await client.post(
        f"{V1}/mail/send",
        content=b'{"to": "bob@localhost", "subject": ',
        headers={**alice.headers, "Content-Type": "application/json"},
    )
    assert_error(response, 400, "invalid_json")


async def test_non_object_body_is_400_naming_the_body(
    client: httpx.AsyncClient, alice: Agent
) -> None:
    response = await client.post(f"{V1}/mail/send", json=["x"], headers=alice.headers)
    body = assert_error(response, 400, "invalid_input")
    assert body["error"] == "the request body must be a JSON object"
    assert "field" not in body


@pytest.mark.parametrize(
    ("path", "params", "field", "sentence"),
    [
        ("/mail/inbox", {"limit": 0}, "limit", "limit must be at least 1"),
        ("/mail/inbox", {"limit": 101}, "limit", "limit must be at most 100"),
        ("/mail/inbox", {"limit": "ten"}, "limit", "limit must be an integer"),
        ("/mail/inbox", {"offset": -1}, "offset", "offset must be at least 0"),
        ("/mail/digest", {"limit": 51}, "limit", "limit must be at most 50"),
        ("/mail/digest", {"previewLength": 49}, "previewLength", "at least 50"),
        ("/mail/digest", {"previewLength": 501}, "previewLength", "at most 500"),
        ("/mail/wait", {"timeout": 0}, "timeout", "timeout must be at least 1"),
        ("/mail/wait", {"timeout": 301}, "timeout", "timeout must be at most 300"),
        ("/mail/messages/0", {}, "uid", "uid must be at least 1"),
    ],
)
async def test_out_of_range_query_values_are_refused_not_clamped(
    client: httpx.AsyncClient,
    alice: Agent,
    path: str,
    params: dict[str, int | str],
    field: str,
    sentence: str,
) -> None:
    response = await client.get(f"{V1}{path}", params=params, headers=alice.headers)
    body = assert_error(response, 400, "invalid_input", field)
    assert sentence in body["error"]


async def test_missing_and_mistyped_body_fields_are_named(
    client: httpx.AsyncClient, alice: Agent
) -> None:
    missing = await client.post(f"{V1}/mail/send", json={"to": "b@x.io"}, headers=alice.headers)
    body = assert_error(missing, 400, "invalid_input", "subject")
    assert body["error"] == "subject is required"
    wrong = await client.post(
        f"{V1}/mail/send", json={"to": 5, "subject": "s"}, headers=alice.headers
    )
    body = assert_error(wrong, 400, "invalid_input", "to")
    assert body["error"] == "to must be a string or a list"


async def test_unexpected_errors_are_500_without_internals(
    ctx: AppContext, alice: Agent, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def explode(*args: object, **kwargs: object) -> None:
        raise RuntimeError("SELECT secret FROM vault")

    monkeypatch.setattr(mailbox, "list_folder", explode)
    transport = httpx.ASGITransport(app=create_app(ctx), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        response = await http.get(f"{V1}/mail/inbox", headers=alice.headers)
    assert_error(response, 500, "internal_error")
    assert "vault" not in response.text and "RuntimeError" not in response.text


@pytest.fixture
async def small_client(ctx: AppContext) -> AsyncIterator[httpx.AsyncClient]:
    """An app whose messages may be at most 1 KB, so its body limit is about 65 KB."""
    ctx.settings = ctx.settings.model_copy(update={"max_message_bytes": 1024})
    app: FastAPI = create_app(ctx)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        yield http


async def test_oversize_body_is_413_by_content_length(
    small_client: httpx.AsyncClient, alice: Agent
) -> None:
    huge = {"to": "bob@localhost", "subject": "big", "text": "x" * 80_000}
    response = await small_client.post(f"{V1}/mail/send", json=huge, headers=alice.headers)
    assert_error(response, 413, "payload_too_large")


async def test_oversize_streamed_body_is_413_without_content_length(
    small_client: httpx.AsyncClient, alice: Agent
) -> None:
    chunks_sent = 0

    async def chunks() -> AsyncIterator[bytes]:
        nonlocal chunks_sent
        yield b'{"to": "bob@localhost", "subject": "big", "text": "'
        for _ in range(100):
            chunks_sent += 1
            yield b"x" * 8192
        yield b'"}'

    response = await small_client.post(
        f"{V1}/mail/send",
        content=chunks(),
        headers={**alice.headers, "Content-Type": "application/json"},
    )
    assert "content-length" not in response.request.headers
    assert_error(response, 413, "payload_too_large")
    assert chunks_sent < 100  # refused while streaming, not after reading everything


async def test_message_over_the_limit_but_body_under_it_is_413(
    small_client: httpx.AsyncClient, alice: Agent, bob: Agent
) -> None:
    response = await small_client.post(
        f"{V1}/mail/send",
        json={"to": bob.address, "subject": "big", "text": "y" * 4000},
        headers=alice.headers,
    )
    assert_error(response, 413, "payload_too_large")


async def test_owner_keys_see_only_their_own_agents(
    client: httpx.AsyncClient, ctx: AppContext, alice: Agent
) -> None:
    admin = await accounts.authenticate(ctx, MASTER_KEY)
    _owner, owner_key = await accounts.create_owner(ctx, admin, name="Olga")
    created = await client.post(
        f"{V1}/accounts", json={"name": "olgas-agent"}, headers=auth(owner_key)
    )
    assert created.status_code == 201
    listed = (await client.get(f"{V1}/accounts", headers=auth(owner_key))).json()
    assert [a["name"] for a in listed["agents"]] == ["olgas-agent"]
    foreign = await client.delete(f"{V1}/accounts/{alice.name}", headers=auth(owner_key))
    assert_error(foreign, 404, "agent_not_found")
    everyone = (await client.get(f"{V1}/accounts", headers=auth(MASTER_KEY))).json()
    assert {a["name"] for a in everyone["agents"]} == {"alice", "olgas-agent"}
