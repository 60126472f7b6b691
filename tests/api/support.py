"""Helpers for the API tests: keys as headers, agents with keys, sends and reads over HTTP."""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import anyio
import httpx

from agentpost.services import accounts
from agentpost.services.context import AppContext

V1 = "/api/v1"
MASTER_KEY = "mk_" + "0" * 48


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@dataclass(frozen=True)
class Agent:
    id: str
    name: str
    address: str
    key: str

    @property
    def headers(self) -> dict[str, str]:
        return auth(self.key)


async def new_agent(ctx: AppContext, name: str) -> Agent:
    """An agent created by the admin (the master key the API fixtures configure)."""
    admin = await accounts.authenticate(ctx, MASTER_KEY)
    record, key = await accounts.create_agent(ctx, admin, name=name)
    return Agent(record.id, record.name, record.address, key)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


async def send(client: httpx.AsyncClient, sender: Agent, **body: Any) -> dict[str, Any]:
    """POST /mail/send as ``sender``; the send must succeed."""
    body.setdefault("subject", "Hello")
    body.setdefault("text", "Hi there")
    response = await client.post(f"{V1}/mail/send", json=body, headers=sender.headers)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


async def inbox(client: httpx.AsyncClient, agent: Agent, **params: Any) -> dict[str, Any]:
    response = await client.get(f"{V1}/mail/inbox", params=params, headers=agent.headers)
    assert response.status_code == 200, response.text
    page: dict[str, Any] = response.json()
    return page


async def read(
    client: httpx.AsyncClient, agent: Agent, uid: int, folder: str = "INBOX"
) -> dict[str, Any]:
    response = await client.get(
        f"{V1}/mail/messages/{uid}", params={"folder": folder}, headers=agent.headers
    )
    assert response.status_code == 200, response.text
    message: dict[str, Any] = response.json()
    return message


def assert_error(
    response: httpx.Response, status: int, code: str, field: str | None = None
) -> dict[str, Any]:
    """The response is our JSON error with this status, code and (when given) field."""
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert body["code"] == code, body
    assert isinstance(body["error"], str) and body["error"]
    if field is not None:
        assert body.get("field") == field, body
    return body


async def until(condition: Callable[[], bool]) -> None:
    """Wait (at most 5 s) for a condition that another task or the server will make true:
    a condition, not a guessed delay."""
    with anyio.fail_after(5):
        while not condition():
            await anyio.sleep(0.01)
