"""Scheduled sends across real processes on PostgreSQL: mail scheduled through an API-only
process while no scheduler runs is sent later by two scheduler-only processes, each message
exactly once."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import httpx
import pytest

from agentpost.testing.postgres import create_database, drop_database
from agentpost.testing.postgres import database_url as postgres_url

from .support import HTTP_LINE, READY_LINE, StartServer, agentpost_env

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.anyio]

SENDS = 12
MASTER_KEY = "mk_" + "66" * 24
DEADLINE_SECONDS = 60.0


@pytest.fixture
async def database_url() -> AsyncIterator[str]:
    name = await create_database()
    yield postgres_url(name)
    await drop_database(name)


async def _create_agent(base_url: str, name: str) -> str:
    async with httpx.AsyncClient(base_url=f"{base_url}/api/v1") as admin:
        response = await admin.post(
            "/accounts", json={"name": name}, headers={"Authorization": f"Bearer {MASTER_KEY}"}
        )
    assert response.status_code in (200, 201), response.text
    key: str = response.json()["apiKey"]
    return key


async def test_two_scheduler_processes_send_each_scheduled_message_once(
    start_server: StartServer, tmp_path: Path, database_url: str
) -> None:
    env = agentpost_env(
        AGENTPOST_DATABASE_URL=database_url,
        AGENTPOST_SECRET_KEY="e2e-" + "1" * 60,
        AGENTPOST_MASTER_KEY=MASTER_KEY,
        AGENTPOST_SCHEDULER_POLL_SECONDS="3600",  # only wake-ups and due times may help
    )
    api_only = start_server(
        "--role", "api", "--http-port", "0", "--data-dir", str(tmp_path / "api"), env=env
    )
    base_url = api_only.wait_for(HTTP_LINE).group(1)
    alice = await _create_agent(base_url, "alice")
    bob = await _create_agent(base_url, "bob")
    async with (
        httpx.AsyncClient(
            base_url=f"{base_url}/api/v1", headers={"Authorization": f"Bearer {alice}"}
        ) as sender,
        httpx.AsyncClient(
            base_url=f"{base_url}/api/v1", headers={"Authorization": f"Bearer {bob}"}
        ) as reader,
    ):
        for n in range(SENDS):
            body = {"to": "bob@localhost", "subject": f"n{n}", "sendAt": "in 3 seconds"}
            response = await sender.post("/scheduled", json=body)
            assert response.status_code == 200, response.text
        schedulers = [
            start_server("--role", "scheduler", "--data-dir", str(tmp_path / f"s{i}"), env=env)
            for i in (1, 2)
        ]
        for process in schedulers:
            process.wait_for(READY_LINE)
        with anyio.fail_after(DEADLINE_SECONDS):
            while not await _all_sent(sender):
                await anyio.sleep(0.2)
        inbox = (await reader.get("/mail/inbox", params={"limit": 100})).json()
    assert sorted(m["subject"] for m in inbox["messages"]) == sorted(f"n{n}" for n in range(SENDS))
    assert inbox["total"] == SENDS
    for process in (*schedulers, api_only):
        assert process.stop() == 0


async def _all_sent(client: httpx.AsyncClient) -> bool:
    rows = (await client.get("/scheduled")).json()["scheduled"]
    assert {row["status"] for row in rows} <= {"pending", "sending", "sent"}, rows
    return all(row["status"] == "sent" for row in rows)
