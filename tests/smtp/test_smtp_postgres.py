"""The listener on both databases: delivery, group commit and submission on PostgreSQL too."""

from __future__ import annotations

import asyncio
import smtplib
from collections.abc import AsyncIterator

import pytest

from agentpost.services.context import AppContext
from agentpost.smtp import SmtpServer, start_smtp
from agentpost.testing.factories import make_agent

from .support import Agent, client_tls, folder, message, send, session, transaction

pytestmark = pytest.mark.anyio


@pytest.fixture
async def any_server(any_ctx: AppContext) -> AsyncIterator[SmtpServer]:
    server = await start_smtp(any_ctx, host="127.0.0.1", port=0)
    yield server
    await server.close()


async def test_concurrent_inbound_and_a_submission(
    any_ctx: AppContext, any_server: SmtpServer
) -> None:
    alice = Agent(*await make_agent(any_ctx, "alice"))
    bob = Agent(*await make_agent(any_ctx, "bob"))
    subjects = [f"m{i}" for i in range(10)]
    results = await asyncio.gather(
        *(
            send(any_server.port, "x@example.com", [alice.address, bob.address], message(subject=s))
            for s in subjects
        )
    )
    assert [r[-1][0] for r in results] == [250] * len(subjects)
    for agent in (alice, bob):
        stored = await folder(any_ctx, agent)
        assert sorted(m.subject for m in stored) == sorted(subjects)
        assert len({m.uid for m in stored}) == len(subjects)

    def submit(client: smtplib.SMTP) -> list[tuple[int, bytes]]:
        client.starttls(context=client_tls(any_ctx))
        client.login(bob.address, bob.key)
        raw = message(sender=bob.address, to=alice.address, subject="reply")
        return transaction(client, bob.address, [alice.address], raw)

    assert (await session(any_server.port, submit))[-1][0] == 250
    assert [m.subject for m in await folder(any_ctx, bob, "Sent")] == ["reply"]
    assert "reply" in {m.subject for m in await folder(any_ctx, alice)}
