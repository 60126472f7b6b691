"""Submission by agents: STARTTLS, AUTH with the agent's key, and sending as itself only."""

from __future__ import annotations

import base64
import smtplib

import pytest
from anyio import to_thread

from agentpost.services import accounts, lifecycle, mailbox
from agentpost.services.context import AppContext
from agentpost.smtp import SmtpServer
from agentpost.testing.factories import admin_principal

from .conftest import Listen
from .support import (
    Agent,
    client_tls,
    code_and_text,
    folder,
    message,
    raw_message,
    session,
    stored_counts,
    transaction,
)

pytestmark = pytest.mark.anyio


def _login(ctx: AppContext, client: smtplib.SMTP, user: str, key: str) -> None:
    """STARTTLS, then AUTH PLAIN with the initial response (RFC 4616)."""
    client.starttls(context=client_tls(ctx))
    client.ehlo()
    client.user, client.password = user, key
    code, _ = client.auth("PLAIN", client.auth_plain)
    assert code == 235


async def test_starttls_auth_plain_sends_like_the_api(
    ctx: AppContext, server: SmtpServer, alice: Agent, bob: Agent
) -> None:
    """Sent copy for the sender, INBOX copies for local recipients (Bcc too), external queued."""
    dave = Agent(*await accounts.create_agent(ctx, await admin_principal(ctx), name="dave"))
    raw = message(
        sender=f"Alice <{alice.address}>",
        to=f"{bob.address}, erin@example.org",
        subject="Plan",
        headers=[f"Bcc: {dave.address}"],
    )
    recipients = [bob.address, "erin@example.org", dave.address]

    def submit(client: smtplib.SMTP) -> list[tuple[int, bytes]]:
        _login(ctx, client, alice.address, alice.key)
        return transaction(client, alice.address, recipients, raw)

    replies = await session(server.port, submit)
    assert [code for code, _ in replies] == [250, 250, 250, 250, 250]

    [sent] = await folder(ctx, alice, "Sent")
    assert sent.subject == "Plan" and sent.from_addr == alice.address
    view = await mailbox.read_message(ctx, alice.record, sent.uid, "Sent")
    statuses = {d.recipient: (d.kind, d.status) for d in view.deliveries}
    assert statuses == {
        bob.address: ("local", "delivered"),
        "erin@example.org": ("external", "queued"),
        dave.address: ("local", "delivered"),
    }
    for agent in (bob, dave):
        [got] = await folder(ctx, agent)
        assert got.subject == "Plan"
        stored = await raw_message(ctx, agent, got.uid)
        assert b"\r\nBcc:" not in stored  # blind recipients stay blind (RFC 5322 §3.6.3)
        trace = stored.split(b"\r\n\t;")[0].split(b"\r\nFrom:")[0]
        assert b"with ESMTPSA" in trace and b"([127.0.0.1])" not in trace


async def test_auth_login_with_the_agent_name(
    ctx: AppContext, server: SmtpServer, alice: Agent, bob: Agent
) -> None:
    """AUTH LOGIN without an initial response; the username may be the agent's name."""

    def submit(client: smtplib.SMTP) -> list[tuple[int, bytes]]:
        client.starttls(context=client_tls(ctx))
        client.ehlo()
        client.user, client.password = "Alice", alice.key
        code, _ = client.auth("LOGIN", client.auth_login, initial_response_ok=False)
        assert code == 235
        return transaction(client, alice.address, [bob.address], message(sender=alice.address))

    replies = await session(server.port, submit)
    assert replies[-1][0] == 250
    assert len(await folder(ctx, alice, "Sent")) == 1
    assert len(await folder(ctx, bob)) == 1


@pytest.mark.parametrize("case", ["wrong key", "other agent's name", "owner key", "empty"])
async def test_bad_credentials_get_535(
    ctx: AppContext, server: SmtpServer, alice: Agent, bob: Agent, case: str
) -> None:
    """The key must be an agent key and the username that agent's address or name."""
    _owner, owner_key = await accounts.create_owner(ctx, await admin_principal(ctx), name="o")
    user, key = {
        "wrong key": (alice.address, "ak_" + "0" * 48),
        "other agent's name": (bob.address, alice.key),
        "owner key": (alice.address, owner_key),
        "empty": (alice.address, ""),
    }[case]

    def attempt(client: smtplib.SMTP) -> tuple[int, list[tuple[int, bytes]]]:
        client.starttls(context=client_tls(ctx))
        try:
            client.login(user, key)
        except smtplib.SMTPAuthenticationError as exc:
            code = exc.smtp_code
        else:
            code = 235
        # Still unauthenticated: relaying out is refused like any inbound session.
        return code, transaction(client, alice.address, ["erin@example.org"], message())

    code, replies = await session(server.port, attempt)
    assert code == 535
    assert code_and_text(replies[1]).startswith("550 5.7.1")
    assert await stored_counts(ctx) == (0, 0)


async def test_sending_as_someone_else_is_refused_with_553(
    ctx: AppContext, server: SmtpServer, alice: Agent, bob: Agent
) -> None:
    """MAIL FROM and the From/Sender header must be the agent's own address."""
    spoofed = message(sender=bob.address, to=bob.address)

    def attempt(client: smtplib.SMTP) -> list[list[tuple[int, bytes]]]:
        _login(ctx, client, alice.address, alice.key)
        return [
            transaction(client, bob.address, [bob.address], message()),
            transaction(client, alice.address, [bob.address], spoofed),
            transaction(
                client,
                alice.address,
                [bob.address],
                message(sender=alice.address, headers=[f"Sender: {bob.address}"]),
            ),
        ]

    mail_from, header_from, sender_header = await session(server.port, attempt)
    assert code_and_text(mail_from[0]).startswith("553 5.7.1")
    assert code_and_text(header_from[-1]).startswith("553 5.7.1")
    assert code_and_text(sender_header[-1]).startswith("553 5.7.1")
    assert await stored_counts(ctx) == (0, 0)


async def test_missing_from_date_and_message_id_are_added(
    ctx: AppContext, server: SmtpServer, alice: Agent, bob: Agent
) -> None:
    """RFC 6409 §8: the submission server completes a minimal message."""
    bare = b"Subject: bare\r\n\r\nJust text.\r\n"

    def submit(client: smtplib.SMTP) -> list[tuple[int, bytes]]:
        _login(ctx, client, alice.address, alice.key)
        return transaction(client, alice.address, [bob.address], bare)

    assert (await session(server.port, submit))[-1][0] == 250
    [got] = await folder(ctx, bob)
    assert got.from_addr == alice.address and got.message_id.endswith("@localhost>")
    stored = await raw_message(ctx, bob, got.uid)
    assert b"\r\nDate: " in stored and stored.endswith(b"\r\n\r\nJust text.\r\n")


async def test_auth_needs_tls_when_required(
    ctx: AppContext, listen: Listen, alice: Agent, bob: Agent
) -> None:
    """With smtp_require_tls_for_auth, AUTH is neither offered nor accepted before STARTTLS."""
    server = await listen(smtp_require_tls_for_auth=True)

    def attempt(client: smtplib.SMTP) -> tuple[bool, tuple[int, bytes], bool, int]:
        client.ehlo()
        offered_plain = client.has_extn("auth")
        refused = client.docmd("AUTH", "PLAIN")
        client.starttls(context=client_tls(ctx))
        client.ehlo()
        offered_tls = client.has_extn("auth")
        code, _ = client.login(alice.address, alice.key)
        return offered_plain, refused, offered_tls, code

    offered_plain, refused, offered_tls, code = await session(server.port, attempt)
    assert offered_plain is False
    assert code_and_text(refused).startswith("538 5.7.11")
    assert offered_tls is True and code == 235


async def test_unknown_local_recipient_never_half_sends(
    ctx: AppContext, server: SmtpServer, alice: Agent, bob: Agent
) -> None:
    """550 5.1.1 at RCPT; and an agent deleted after RCPT fails the whole DATA, storing nothing."""
    carol = Agent(*await accounts.create_agent(ctx, await admin_principal(ctx), name="carol"))

    def connect() -> smtplib.SMTP:
        client = smtplib.SMTP("127.0.0.1", server.port, timeout=60)
        _login(ctx, client, alice.address, alice.key)
        return client

    client = await to_thread.run_sync(connect)
    try:
        unknown = await to_thread.run_sync(client.mail, alice.address)
        assert unknown[0] == 250
        refused = await to_thread.run_sync(client.rcpt, "ghost@localhost")
        assert code_and_text(refused).startswith("550 5.1.1")
        assert (await to_thread.run_sync(client.rcpt, bob.address))[0] == 250
        assert (await to_thread.run_sync(client.rcpt, carol.address))[0] == 250
        await lifecycle.delete_agent(ctx, await admin_principal(ctx), "carol")
        reply = await to_thread.run_sync(client.data, message(sender=alice.address))
    finally:
        await to_thread.run_sync(client.quit)
    assert code_and_text(reply).startswith("550 5.1.1")
    assert await folder(ctx, alice, "Sent") == [] and await folder(ctx, bob) == []
    assert await stored_counts(ctx) == (0, 0)


async def test_auth_inside_a_transaction_is_refused(
    ctx: AppContext, server: SmtpServer, alice: Agent
) -> None:
    """RFC 4954 §4: no AUTH between MAIL and the end of the transaction."""

    def attempt(client: smtplib.SMTP) -> tuple[int, bytes]:
        client.starttls(context=client_tls(ctx))
        client.ehlo()
        client.mail("carol@example.com")
        return client.docmd("AUTH", "PLAIN")

    assert code_and_text(await session(server.port, attempt)).startswith("503 5.5.1")


async def test_repeated_failed_auth_closes_the_connection(
    ctx: AppContext, server: SmtpServer, alice: Agent
) -> None:
    """Two refusals answer 535; the third failure in one connection ends it with 421."""
    wrong = base64.b64encode(f"\0{alice.address}\0ak_{'0' * 48}".encode()).decode()

    def attempt(client: smtplib.SMTP) -> list[tuple[int, bytes]]:
        client.starttls(context=client_tls(ctx))
        client.ehlo()
        answers = [client.docmd("AUTH", f"PLAIN {wrong}") for _ in range(3)]
        try:
            client.noop()
        except smtplib.SMTPServerDisconnected:
            answers.append((0, b"disconnected"))
        return answers

    answers = await session(server.port, attempt)
    assert [code for code, _ in answers] == [535, 535, 421, 0]

    # A new connection may try again (and succeed with the right key).
    def again(client: smtplib.SMTP) -> int:
        _login(ctx, client, alice.address, alice.key)
        return 235

    assert await session(server.port, again) == 235
