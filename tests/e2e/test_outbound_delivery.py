"""Outbound mail end to end: ``agentpost serve`` (all roles) with an SMTP configuration made
over the API, a send over REST, and the worker delivering to a real SMTP peer on loopback."""

from __future__ import annotations

import json
import time
from email import message_from_bytes
from pathlib import Path

import anyio
import httpx
import pytest

from agentpost.testing.fake_smtp import SmtpSink

from .support import HTTP_LINE, READY_LINE, StartServer, agentpost_env, run_cli

pytestmark = [pytest.mark.e2e, pytest.mark.anyio]

MASTER_KEY = "mk_" + "7d" * 24


async def test_send_over_rest_is_delivered_by_the_worker(
    start_server: StartServer, tmp_path: Path
) -> None:
    sink = await SmtpSink().start()
    data_dir = tmp_path / "data"
    env = agentpost_env(
        AGENTPOST_MASTER_KEY=MASTER_KEY,
        AGENTPOST_DOMAIN="example.com",
        AGENTPOST_DELIVERY_POLL_SECONDS="600",  # only the send's wake-up can be in time
    )
    server = start_server(
        "--http-port", "0", "--smtp-port", "0", "--data-dir", str(data_dir), env=env
    )
    try:
        base_url = server.wait_for(HTTP_LINE).group(1) + "/api/v1"
        server.wait_for(READY_LINE)
        made = run_cli("agent", "create", "alice", "--json", env=env, data_dir=data_dir)
        key = json.loads(made.stdout)["apiKey"]
        async with httpx.AsyncClient(base_url=base_url, timeout=30) as http:
            config = await http.post(
                "/smtp-configs",
                headers={"Authorization": f"Bearer {MASTER_KEY}"},
                json={
                    "connectionName": "loopback peer",
                    "host": "127.0.0.1",
                    "port": sink.port,
                    "security": "none",
                    "fromEmail": "alice@example.com",
                    "isDefault": True,
                },
            )
            assert config.status_code == 201, config.text
            as_alice = {"Authorization": f"Bearer {key}"}
            sent = await http.post(
                "/mail/send",
                headers=as_alice,
                json={
                    "to": "carol@example.org",
                    "bcc": "audit@example.net",
                    "subject": "Proposal",
                    "text": "Attached are the figures.",
                },
            )
            assert sent.status_code == 200, sent.text
            assert sent.json()["status"] == "queued"
            (got,) = await sink.wait_for(1, timeout=30)
            report = await _delivered(
                http, f"/mail/messages/{sent.json()['uid']}/delivery", as_alice
            )
        # Stop while the peer still answers: the worker closes its kept connection with QUIT.
        assert await anyio.to_thread.run_sync(server.stop) == 0
    finally:
        await sink.close()
    assert sorted(got.recipients) == ["audit@example.net", "carol@example.org"]
    assert message_from_bytes(got.data)["Bcc"] is None
    assert b"audit@example.net" not in got.data
    assert {r["status"] for r in report["recipients"]} == {"delivered"}


async def _delivered(http: httpx.AsyncClient, path: str, headers: dict[str, str]) -> dict:
    """The delivery report once it says delivered (the 250 is recorded right after it)."""
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        report = (await http.get(path, headers=headers)).json()
        if report["status"] == "delivered":
            return report  # type: ignore[no-any-return]
        await anyio.sleep(0.05)
    raise AssertionError(f"not delivered in time: {report}")
