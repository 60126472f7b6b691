"""SMTP submission goes through the outbound guard like the API: a message leaking a secret to
an outsider is accepted (250, we keep it) but held for the owner, and the reply says so."""

from __future__ import annotations

import smtplib

import pytest

from agentpost.services import pending
from agentpost.services.context import AppContext
from agentpost.smtp import SmtpServer
from agentpost.testing.factories import admin_principal

from .support import Agent, client_tls, message, session, transaction

pytestmark = pytest.mark.anyio


async def test_a_submitted_secret_is_held_not_sent(
    ctx: AppContext, server: SmtpServer, alice: Agent
) -> None:
    body = b"here you go: AKIAIOSFODNN7EXAMPLE\r\n"

    def steps(client: smtplib.SMTP) -> list[tuple[int, bytes]]:
        client.starttls(context=client_tls(ctx))
        client.ehlo()
        client.user, client.password = alice.address, alice.key
        client.auth("PLAIN", client.auth_plain)
        raw = message(sender=alice.address, to="alice@localhost", subject="k", body=body)
        # The outsider is only in the envelope (a Bcc): it still counts.
        return transaction(client, alice.address, ["alice@localhost", "ext@example.com"], raw)

    replies = await session(server.port, steps)
    code, text = replies[-1]
    assert code == 250 and text.endswith(b"held for the owner's approval")
    views = await pending.list_pending(ctx, await admin_principal(ctx))
    assert [v.record.envelope for v in views] == [["alice@localhost", "ext@example.com"]]
    assert [f.rule_id for f in views[0].findings] == ["ob_aws_key"]
