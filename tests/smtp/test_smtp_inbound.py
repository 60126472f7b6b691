"""Inbound mail over a real socket: delivery, trace header, and every RCPT/DATA refusal."""

from __future__ import annotations

import asyncio
import re
import smtplib
from typing import Any

import pytest

from agentpost.services import inbox, store
from agentpost.services.context import AppContext
from agentpost.smtp import SmtpServer

from .conftest import Listen
from .support import (
    Agent,
    code_and_text,
    folder,
    message,
    raw_message,
    send,
    session,
    stored_counts,
    transaction,
)

pytestmark = pytest.mark.anyio


async def test_delivers_to_one_agent_with_a_received_header(
    ctx: AppContext, server: SmtpServer, alice: Agent
) -> None:
    """The message lands in the INBOX as sent, below a Received line naming the peer and us."""
    raw = message(subject="Quarterly report", to=alice.address)
    replies = await send(server.port, "carol@example.com", [alice.address], raw)
    assert [code for code, _ in replies] == [250, 250, 250]
    accepted = code_and_text(replies[-1])
    assert accepted.startswith("250 2.0.0")

    [stored] = await folder(ctx, alice)
    assert stored.subject == "Quarterly report"
    assert stored.from_addr == "carol@example.com"
    assert stored.seen is False
    body = await raw_message(ctx, alice, stored.uid)
    *trace_lines, original = body.split(b"\r\n", 5)
    assert original == raw  # byte for byte, below the trace
    first = "\r\n".join(line.decode() for line in trace_lines)
    assert first.startswith("Received: from ")
    assert "([127.0.0.1])" in first
    assert "by localhost (AgentPost) with ESMTP" in first
    assert f"for <{alice.address}>" in first
    queue_id = re.search(r"\bid ([0-9A-F]{16})\b", first)
    assert queue_id is not None and accepted.endswith(queue_id.group(1))


async def test_delivers_to_several_agents_and_sub_addresses(
    ctx: AppContext, server: SmtpServer, alice: Agent, bob: Agent
) -> None:
    """One transaction reaches each agent once; name+tag@ reaches name@; no 'for' clause."""
    raw = message(subject="To you both", to="alice@localhost, bob+news@localhost")
    recipients = [alice.address, "bob+news@localhost", "Alice@LOCALHOST"]
    replies = await send(server.port, "carol@example.com", recipients, raw)
    assert [code for code, _ in replies] == [250, 250, 250, 250, 250]
    for agent in (alice, bob):
        [stored] = await folder(ctx, agent)
        assert stored.subject == "To you both"
        received = (await raw_message(ctx, agent, stored.uid)).split(b"\r\nFrom:")[0]
        assert b"Received: from" in received
        assert b" for <" not in received  # RFC 5321 §7.6: other recipients stay private


@pytest.mark.parametrize(
    ("recipient", "expected"),
    [
        ("nobody@localhost", "550 5.1.1"),
        ("alice@example.org", "550 5.7.1"),
        ("a..b@localhost", "501 5.1.3"),
    ],
)
async def test_refused_recipients(
    ctx: AppContext, server: SmtpServer, alice: Agent, recipient: str, expected: str
) -> None:
    """Unknown mailbox, a foreign domain (no open relay) and bad syntax are refused at RCPT."""
    replies = await send(server.port, "carol@example.com", [recipient], message())
    assert code_and_text(replies[1]).startswith(expected)
    assert len(replies) == 2  # no DATA without a recipient
    assert await stored_counts(ctx) == (0, 0)


async def test_refused_recipient_does_not_stop_the_others(
    ctx: AppContext, server: SmtpServer, alice: Agent
) -> None:
    replies = await send(
        server.port, "carol@example.com", ["ghost@localhost", alice.address], message()
    )
    assert [code for code, _ in replies] == [250, 550, 250, 250]
    assert len(await folder(ctx, alice)) == 1


async def test_too_many_recipients_is_temporary(
    ctx: AppContext, listen: Listen, alice: Agent, bob: Agent
) -> None:
    """Past smtp_max_recipients the client hears 452 4.5.3 and sends the rest later."""
    server = await listen(smtp_max_recipients=2)
    recipients = [alice.address, bob.address, "alice+x@localhost"]
    replies = await send(server.port, "carol@example.com", recipients, message())
    assert code_and_text(replies[3]).startswith("452 4.5.3")
    assert [code for code, _ in replies] == [250, 250, 250, 452, 250]
    assert len(await folder(ctx, alice)) == 1 and len(await folder(ctx, bob)) == 1


async def test_oversize_message_is_refused_with_552(
    ctx: AppContext, listen: Listen, alice: Agent
) -> None:
    """Beyond max_message_bytes: 552 5.3.4 at MAIL (declared SIZE) or at the end of DATA."""
    server = await listen(max_message_bytes=4096)
    big = message(body=(b"z" * 76 + b"\r\n") * 100)  # about 7.8 KB

    def declared(client: smtplib.SMTP) -> list[tuple[int, bytes]]:
        return transaction(client, "carol@example.com", [alice.address], big, ["SIZE=999999"])

    refused_at_mail = await session(server.port, declared)
    assert code_and_text(refused_at_mail[0]).startswith("552 5.3.4")

    replies = await send(server.port, "carol@example.com", [alice.address], big)
    assert code_and_text(replies[-1]).startswith("552 5.3.4")
    assert await stored_counts(ctx) == (0, 0)


async def test_full_mailbox_is_refused_with_452(
    ctx: AppContext, listen: Listen, alice: Agent
) -> None:
    """Once the quota is used up, RCPT answers 452 4.2.2; a declared SIZE is counted too."""
    server = await listen(mailbox_quota_bytes=4096)
    too_big = message(body=(b"q" * 76 + b"\r\n") * 60)  # about 4.7 KB

    def with_size(client: smtplib.SMTP) -> list[tuple[int, bytes]]:
        size = f"SIZE={len(too_big)}"
        return transaction(client, "carol@example.com", [alice.address], too_big, [size])

    refused = await session(server.port, with_size)
    assert code_and_text(refused[1]).startswith("452 4.2.2")

    def without_size(client: smtplib.SMTP) -> list[tuple[int, bytes]]:
        return transaction(client, "carol@example.com", [alice.address], too_big)

    first = await session(server.port, without_size)  # nothing declared, quota not yet used
    assert first[-1][0] == 250
    second = await session(server.port, without_size)
    assert code_and_text(second[1]).startswith("452 4.2.2")
    assert len(await folder(ctx, alice)) == 1


async def test_storage_failure_gives_451_and_stores_nothing(
    ctx: AppContext, server: SmtpServer, alice: Agent, bob: Agent, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A failure after the copies are written rolls everything back; the client retries."""
    real_store_copies = store.store_copies
    calls = 0

    async def fail_after_writing(*args: Any, **kwargs: Any) -> list[store.StoredCopy]:
        nonlocal calls
        calls += 1
        await real_store_copies(*args, **kwargs)
        raise OSError("disk gone")

    monkeypatch.setattr(inbox, "store_copies", fail_after_writing)
    replies = await send(server.port, "carol@example.com", [alice.address, bob.address], message())
    assert code_and_text(replies[-1]).startswith("451 4.3.0")
    assert calls == 1
    assert await stored_counts(ctx) == (0, 0)
    assert await folder(ctx, alice) == [] and await folder(ctx, bob) == []

    monkeypatch.setattr(inbox, "store_copies", real_store_copies)
    retried = await send(server.port, "carol@example.com", [alice.address, bob.address], message())
    assert retried[-1][0] == 250
    assert len(await folder(ctx, alice)) == 1 and len(await folder(ctx, bob)) == 1


async def test_null_sender_is_accepted_for_bounces(
    ctx: AppContext, server: SmtpServer, alice: Agent
) -> None:
    """RFC 5321 §4.5.5: delivery status notifications come from the null reverse-path."""

    def bounce(client: smtplib.SMTP) -> list[tuple[int, bytes]]:
        return transaction(client, "<>", [alice.address], message(sender="MAILER-DAEMON@x.org"))

    replies = await session(server.port, bounce)
    assert [code for code, _ in replies] == [250, 250, 250]
    assert len(await folder(ctx, alice)) == 1


async def test_several_transactions_on_one_connection(
    ctx: AppContext, server: SmtpServer, alice: Agent
) -> None:
    """A refused transaction leaves the session usable (RSET), and the next one is delivered."""

    def three(client: smtplib.SMTP) -> list[list[tuple[int, bytes]]]:
        return [
            transaction(client, "a@example.com", ["nobody@localhost"], message()),
            transaction(client, "a@example.com", [alice.address], message(subject="one")),
            transaction(client, "a@example.com", [alice.address], message(subject="two")),
        ]

    results = await session(server.port, three)
    assert [r[-1][0] for r in results] == [550, 250, 250]
    assert sorted(m.subject for m in await folder(ctx, alice)) == ["one", "two"]


async def test_concurrent_deliveries_are_all_stored_and_a_bad_one_fails_alone(
    ctx: AppContext, server: SmtpServer, alice: Agent, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Concurrent DATA share commits (group commit); a message that cannot be stored gets 451
    on its own, and every other message of its group is still stored and acknowledged."""
    real_store_copies = store.store_copies

    async def refuse_poison(
        conn: Any, dialect: str, specs: list[store.CopySpec]
    ) -> list[store.StoredCopy]:
        if any(spec.parsed.subject == "poison" for spec in specs):
            raise OSError("cannot store this one")
        return await real_store_copies(conn, dialect, specs)

    monkeypatch.setattr(inbox, "store_copies", refuse_poison)
    subjects = [f"m{i}" for i in range(12)] + ["poison"]
    results = await asyncio.gather(
        *(send(server.port, "x@example.com", [alice.address], message(subject=s)) for s in subjects)
    )
    codes = {s: r[-1][0] for s, r in zip(subjects, results, strict=True)}
    assert codes.pop("poison") == 451
    assert set(codes.values()) == {250}
    stored = await folder(ctx, alice)
    assert sorted(m.subject for m in stored) == sorted(codes)
    assert len({m.uid for m in stored}) == len(stored)
