"""Split roles on SQLite: an API process and a worker process on one database file. Events cross
between them through the sockets next to the file (storage/local_channel.py): a send through
the API wakes the worker at once, and the bounce the worker files wakes the API's stream."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from aiosmtpd import smtp as aiosmtpd_smtp

from agentpost.testing.fake_smtp import SmtpSink

from .support import HTTP_LINE, READY_LINE, StartServer, agentpost_env, run_cli

pytestmark = [pytest.mark.e2e, pytest.mark.anyio]

MASTER_KEY = "mk_" + "5e" * 24
REFUSED = "nobody@example.org"
WAIT_SECONDS = 30.0  # far below the worker's poll: only a relayed wake-up is in time


class RefusingSink(SmtpSink):
    """Accepts every recipient but one, which it refuses for good (a bounce follows)."""

    async def handle_RCPT(  # noqa: N802 (aiosmtpd's hook name)
        self,
        server: Any,
        session: aiosmtpd_smtp.Session,
        envelope: aiosmtpd_smtp.Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        if address == REFUSED:
            return "550 5.1.1 no such user"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"


async def test_api_and_worker_processes_wake_each_other_on_one_sqlite_file(
    start_server: StartServer, tmp_path: Path
) -> None:
    sink = await RefusingSink().start()
    data_dir = tmp_path / "data"
    env = agentpost_env(
        AGENTPOST_MASTER_KEY=MASTER_KEY,
        AGENTPOST_DOMAIN="example.com",
        AGENTPOST_DELIVERY_POLL_SECONDS="600",
    )
    try:
        api = start_server(
            "--role", "api", "--http-port", "0", "--data-dir", str(data_dir), env=env
        )
        base_url = api.wait_for(HTTP_LINE).group(1) + "/api/v1"
        api.wait_for(READY_LINE)
        worker = start_server("--role", "worker", "--data-dir", str(data_dir), env=env)
        worker.wait_for(READY_LINE)
        made = run_cli("agent", "create", "alice", "--json", env=env, data_dir=data_dir)
        assert made.returncode == 0, made.stderr
        as_alice = {"Authorization": f"Bearer {json.loads(made.stdout)['apiKey']}"}
        async with httpx.AsyncClient(base_url=base_url, timeout=30) as http:
            await _loopback_config(http, sink.port)
            async with http.stream("GET", "/events", headers=as_alice) as stream:
                events = _sse_events(stream)
                assert (await anext(events))["type"] == "connected"
                sent = await http.post(
                    "/mail/send",
                    headers=as_alice,
                    json={
                        "to": f"carol@example.org, {REFUSED}",
                        "subject": "Figures",
                        "text": "Q3.",
                    },
                )
                assert sent.status_code == 200, sent.text
                (got,) = await sink.wait_for(1, timeout=WAIT_SECONDS)
                with anyio.fail_after(WAIT_SECONDS):
                    bounce = await _next_new_mail(events)
        assert await anyio.to_thread.run_sync(worker.stop) == 0
        assert await anyio.to_thread.run_sync(api.stop) == 0
    finally:
        await sink.close()
    assert got.recipients == ["carol@example.org"]
    assert bounce["folder"] == "INBOX"
    assert str(bounce["subject"]).startswith("Undelivered mail returned to sender")
    assert str(bounce["from"]).lower() == "mailer-daemon@example.com"
    assert not list((data_dir / "agentpost.db.events").iterdir())  # each process removed its own


async def _loopback_config(http: httpx.AsyncClient, port: int) -> None:
    made = await http.post(
        "/smtp-configs",
        headers={"Authorization": f"Bearer {MASTER_KEY}"},
        json={
            "connectionName": "loopback peer",
            "host": "127.0.0.1",
            "port": port,
            "security": "none",
            "fromEmail": "alice@example.com",
            "isDefault": True,
        },
    )
    assert made.status_code == 201, made.text


async def _next_new_mail(events: AsyncIterator[dict[str, object]]) -> dict[str, object]:
    async for event in events:
        if event["type"] == "new":
            return event
    raise AssertionError("the stream ended before any new mail")


async def _sse_events(stream: httpx.Response) -> AsyncIterator[dict[str, object]]:
    """The JSON payloads of an SSE stream's ``data:`` lines (comments are skipped)."""
    async for line in stream.aiter_lines():
        if line.startswith("data:"):
            yield json.loads(line[5:])
