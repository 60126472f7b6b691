"""Scale-out on PostgreSQL: an SMTP-only process and an API-only process share one database;
mail accepted by one is read through the other, and both stop cleanly."""

from __future__ import annotations

import json
import smtplib
from collections.abc import AsyncIterator
from email.message import EmailMessage
from pathlib import Path

import anyio
import httpx
import pytest

from agentpost.testing.postgres import create_database, drop_database
from agentpost.testing.postgres import database_url as postgres_url

from .support import (
    HTTP_LINE,
    READY_LINE,
    SMTP_LINE,
    StartServer,
    agentpost_env,
    run_cli,
)

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.anyio]

POLL_SECONDS = 15.0


@pytest.fixture
async def database_url() -> AsyncIterator[str]:
    """A fresh PostgreSQL database for this test, dropped afterwards."""
    name = await create_database()
    yield postgres_url(name)
    await drop_database(name)


async def test_smtp_and_api_processes_share_one_database(
    start_server: StartServer, tmp_path: Path, database_url: str
) -> None:
    env = agentpost_env(
        AGENTPOST_DATABASE_URL=database_url,
        AGENTPOST_SECRET_KEY="e2e-" + "0" * 60,  # shared, so every process hashes keys alike
        AGENTPOST_MASTER_KEY="mk_" + "77" * 24,
    )
    smtp_only = start_server(
        "--role", "smtp", "--smtp-port", "0", "--data-dir", str(tmp_path / "a"), env=env
    )
    smtp_port = int(smtp_only.wait_for(SMTP_LINE).group(2))
    smtp_only.wait_for(READY_LINE)
    # Started one after the other so the first start's master key line is predictable.
    api_only = start_server(
        "--role", "api", "--http-port", "0", "--data-dir", str(tmp_path / "b"), env=env
    )
    base_url = api_only.wait_for(HTTP_LINE).group(1)
    created = run_cli("agent", "create", "alice", "--json", env=env, data_dir=tmp_path / "c")
    assert created.returncode == 0, created.stderr
    key = json.loads(created.stdout)["apiKey"]

    message = EmailMessage()
    message["From"] = "carol@example.org"
    message["To"] = "alice@localhost"
    message["Subject"] = "Across processes"
    message.set_content("Accepted by one process, read through another.")
    async with httpx.AsyncClient(
        base_url=f"{base_url}/api/v1", headers={"Authorization": f"Bearer {key}"}, timeout=30
    ) as client:
        # The API process's event stream wakes for mail the SMTP process stored (LISTEN/NOTIFY).
        async with client.stream("GET", "/events") as stream:
            events = _sse_events(stream)
            assert (await anext(events))["type"] == "connected"  # subscribed from here on
            await anyio.to_thread.run_sync(_deliver, smtp_port, message)
            with anyio.fail_after(POLL_SECONDS):
                arrived = await anext(events)
        inbox = (await client.get("/mail/inbox")).json()

    assert arrived["type"] == "new" and arrived["subject"] == "Across processes"
    assert [m["subject"] for m in inbox["messages"]] == ["Across processes"]
    assert inbox["messages"][0]["uid"] == arrived["uid"]
    assert smtp_only.stop() == 0
    assert api_only.stop() == 0
    assert "HTTP listening" not in smtp_only.output
    assert "SMTP listening" not in api_only.output
    for output in (smtp_only.output, api_only.output):  # no SQL, so no message content, logged
        assert "INSERT INTO" not in output and "Across processes" not in output


def _deliver(port: int, message: EmailMessage) -> None:
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as smtp:
        assert smtp.send_message(message) == {}


async def _sse_events(stream: httpx.Response) -> AsyncIterator[dict[str, object]]:
    """The JSON payloads of an SSE stream's ``data:`` lines (comments are skipped)."""
    async for line in stream.aiter_lines():
        if line.startswith("data:"):
            yield json.loads(line[5:])
