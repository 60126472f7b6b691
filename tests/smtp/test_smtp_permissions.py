"""SMTP submission goes through the same permissions and limits as the API: over a limit is a
temporary 451 4.7.1 naming the rule, a refused recipient a permanent 550 5.7.1."""

from __future__ import annotations

import smtplib
from collections.abc import Callable

import pytest

from agentpost.services.context import AppContext
from agentpost.smtp import SmtpServer
from agentpost.testing.factories import admin_principal
from agentpost.testing.permissions import grant, make_config

from .support import Agent, client_tls, message, session, stored_counts, transaction

pytestmark = pytest.mark.anyio


def _submit(
    ctx: AppContext, agent: Agent, to: str
) -> Callable[[smtplib.SMTP], list[tuple[int, bytes]]]:
    def steps(client: smtplib.SMTP) -> list[tuple[int, bytes]]:
        client.starttls(context=client_tls(ctx))
        client.ehlo()
        client.user, client.password = agent.address, agent.key
        client.auth("PLAIN", client.auth_plain)
        raw = message(sender=agent.address, to=to, subject="Limits")
        return transaction(client, agent.address, [to], raw)

    return steps


async def test_submission_is_held_to_the_agents_limits(
    ctx: AppContext, server: SmtpServer, alice: Agent
) -> None:
    owner = await admin_principal(ctx)
    config = await make_config(ctx, owner.owner_id)
    await grant(ctx, owner, "alice", config, hourly_limit=1, allowed_recipients=["*@example.com"])
    first = await session(server.port, _submit(ctx, alice, "one@example.com"))
    assert [code for code, _ in first] == [250, 250, 250]
    before = await stored_counts(ctx)
    over = await session(server.port, _submit(ctx, alice, "two@example.com"))
    code, text = over[-1]
    assert code == 451 and text.startswith(b"4.7.1 rate limit reached: the hourly limit of 1")
    elsewhere = await session(server.port, _submit(ctx, alice, "x@other.org"))
    code, text = elsewhere[-1]
    assert code == 550 and text.startswith(b"5.7.1 x@other.org is not among the recipients")
    assert await stored_counts(ctx) == before  # nothing half-written
