"""Pipelining (RFC 2920): where the server offers it, MAIL FROM, every RCPT TO and DATA go out
together and their replies are read back in order (delivery/smtp_client.py).

The scripted relay here holds its replies to MAIL and RCPT until DATA arrives, so a client
that waited for each reply would time out: every success below proves the envelope went out
in one piece. Refusals must come out exactly as they do without pipelining: per recipient,
the connection reset and kept. Postfix's smtp-sink is the real pipelining peer."""

from __future__ import annotations

import random
import re
from collections.abc import AsyncIterator

import pytest

from agentpost.delivery.smtp_client import _data_block
from agentpost.delivery.transport import Envelope, RecipientResult, SmtpTransport
from agentpost.testing.fake_smtp import DROP, FakeRelay
from agentpost.testing.postfix_sink import PostfixSink, postfix_sink_available

from .support import endpoint

pytestmark = pytest.mark.anyio

MESSAGE = b"From: a@localhost\r\nSubject: hi\r\n\r\nhello\r\n.leading dot\r\n..two\r\n"


@pytest.fixture
async def piped() -> AsyncIterator[FakeRelay]:
    peer = await FakeRelay(pipelining=True).start()
    yield peer
    await peer.close()


async def _send(
    relay: FakeRelay, *recipients: str, transport: SmtpTransport | None = None
) -> list[RecipientResult]:
    own = transport or SmtpTransport(connections_per_endpoint=1)
    try:
        target = endpoint(relay.port, timeout=2.0)
        return await own.send(target, Envelope("a@localhost", list(recipients), MESSAGE))
    finally:
        if transport is None:
            await own.close()


async def _refused_then_next(
    relay: FakeRelay, *recipients: str
) -> tuple[list[RecipientResult], list[RecipientResult]]:
    """A send the script refuses, then one more to c@x.org over the same connection."""
    transport = SmtpTransport(connections_per_endpoint=1)
    try:
        refused = await _send(relay, *recipients, transport=transport)
        return refused, await _send(relay, "c@x.org", transport=transport)
    finally:
        await transport.close()


def _envelope_commands(relay: FakeRelay) -> list[str]:
    return [
        c.split(":")[0].split(" ")[0] for c in relay.commands if c[:4] in ("MAIL", "RCPT", "DATA")
    ]


async def test_the_envelope_goes_out_in_one_piece(piped: FakeRelay) -> None:
    results = await _send(piped, "a@x.org", "b@x.org", "c@x.org")
    assert [(r.ok, r.code) for r in results] == [(True, 250)] * 3
    assert _envelope_commands(piped) == ["MAIL", "RCPT", "RCPT", "RCPT", "DATA"]
    [message] = piped.messages
    assert message.recipients == ["a@x.org", "b@x.org", "c@x.org"]
    assert message.data.endswith(b"hello\r\n..leading dot\r\n...two\r\n")  # stuffed on the wire


async def test_a_refused_recipient_fails_alone(piped: FakeRelay) -> None:
    piped.script.rcpt["nobody@x.org"] = "550 5.1.1 no such user"
    results = await _send(piped, "a@x.org", "nobody@x.org", "c@x.org")
    assert [(r.recipient, r.ok, r.code) for r in results] == [
        ("a@x.org", True, 250),
        ("nobody@x.org", False, 550),
        ("c@x.org", True, 250),
    ]
    assert "no such user" in results[1].reply
    assert [m.recipients for m in piped.messages] == [["a@x.org", "c@x.org"]]


async def test_every_recipient_refused_sends_nothing_and_resets(piped: FakeRelay) -> None:
    piped.script.add("RCPT", "550 5.1.1 unknown", "452 4.2.2 mailbox full")
    refused, after = await _refused_then_next(piped, "a@x.org", "b@x.org")
    assert [(r.ok, r.code) for r in refused] == [(False, 550), (False, 452)]
    assert "unknown" in refused[0].reply and "full" in refused[1].reply
    assert [(r.ok, r.code) for r in after] == [(True, 250)]
    assert [m.recipients for m in piped.messages] == [["c@x.org"]]
    assert "RSET" in piped.commands and piped.connections == 1


@pytest.mark.parametrize(
    ("verb", "reply", "code"),
    [
        ("MAIL", "451 4.3.0 try again later", 451),
        ("MAIL", "550 5.7.1 sender refused", 550),
        ("DATA", "451 4.3.0 queue full", 451),
        ("DOT", "554 5.7.1 rejected as spam", 554),
    ],
)
async def test_a_refusal_reaches_every_recipient_and_the_connection_is_kept(
    piped: FakeRelay, verb: str, reply: str, code: int
) -> None:
    piped.script.add(verb, reply)
    refused, after = await _refused_then_next(piped, "a@x.org", "b@x.org")
    assert [(r.ok, r.code) for r in refused] == [(False, code)] * 2
    assert all(reply.split(" ", 2)[2] in r.reply for r in refused)
    assert [(r.ok, r.code) for r in after] == [(True, 250)]
    assert [m.recipients for m in piped.messages] == [["c@x.org"]]
    assert piped.connections == 1


async def test_a_connection_lost_mid_group_fails_every_recipient(piped: FakeRelay) -> None:
    piped.script.add("RCPT", "250 2.1.5 OK", DROP)
    results = await _send(piped, "a@x.org", "b@x.org")
    assert [(r.ok, r.code) for r in results] == [(False, None)] * 2
    assert all("connection lost" in r.reply for r in results)
    assert piped.messages == []


async def test_a_kept_connection_found_closed_is_replaced(piped: FakeRelay) -> None:
    transport = SmtpTransport(connections_per_endpoint=1)
    try:
        await _send(piped, "a@x.org", transport=transport)
        piped.script.add("MAIL", DROP)  # the next group finds the old connection gone
        results = await _send(piped, "b@x.org", transport=transport)
    finally:
        await transport.close()
    assert [(r.ok, r.code) for r in results] == [(True, 250)]
    assert piped.connections == 2
    assert [m.recipients for m in piped.messages] == [["a@x.org"], ["b@x.org"]]


@pytest.mark.skipif(not postfix_sink_available(), reason="needs postfix (smtp-sink)")
async def test_postfix_smtp_sink_receives_pipelined_messages_intact() -> None:
    transport = SmtpTransport(connections_per_endpoint=1, local_hostname="agentpost.test")
    with PostfixSink() as sink:
        try:
            for n in range(3):
                envelope = Envelope(f"s{n}@localhost", [f"r{n}@x.org", "all@x.org"], MESSAGE)
                results = await transport.send(endpoint(sink.port), envelope)
                assert [(r.ok, r.code) for r in results] == [(True, 250)] * 2
            pool = transport.pool(endpoint(sink.port))
            assert pool.connections_opened == 1
            assert pool._idle[0].supports("pipelining")
        finally:
            await transport.close()
        received = sink.received()
    assert sorted((d.sender, d.recipients) for d in received) == [
        (f"s{n}@localhost", [f"r{n}@x.org", "all@x.org"]) for n in range(3)
    ]
    sent = MESSAGE.replace(b"\r\n", b"\n").rstrip(b"\n")  # smtp-sink writes \n line ends
    for dumped in received:  # dots unstuffed again by the server: the message as sent
        assert dumped.body.rstrip(b"\n") == sent


def test_the_data_block_is_the_message_with_crlf_and_dots_doubled() -> None:
    lone_ends = re.compile(rb"\r(?!\n)|(?<!\r)\n")
    rng = random.Random(20261208)
    pieces = [b"a", b"Subject: x", b".", b"..", b"\r\n", b"\n", b"\r", b" ", b"\r\n.", b"\n."]
    for _ in range(3000):
        message = b"".join(rng.choice(pieces) for _ in range(rng.randint(0, 12)))
        wire = re.sub(rb"(?m)^\.", b"..", lone_ends.sub(b"\r\n", message))
        wire += b"" if wire.endswith(b"\r\n") else b"\r\n"
        assert _data_block(message) == wire + b".\r\n", message


async def test_an_endless_reply_line_is_a_failure_not_a_crash(piped: FakeRelay) -> None:
    piped.script.add("MAIL", "250 " + "x" * 70_000)
    results = await _send(piped, "a@x.org")
    assert [(r.ok, r.code) for r in results] == [(False, None)]
    assert "too long" in results[0].reply
    assert piped.messages == []


@pytest.mark.parametrize("pipelining", [True, False])
async def test_a_kept_connection_the_server_is_closing_is_replaced(pipelining: bool) -> None:
    """421 to MAIL on a kept connection (Postfix's answer on a connection idle too long, and
    what it says unasked before it hangs up): nothing was taken, so a new connection carries
    the message at once instead of a deferral."""
    relay = await FakeRelay(pipelining=pipelining).start()
    transport = SmtpTransport(connections_per_endpoint=1)
    try:
        await _send(relay, "a@x.org", transport=transport)
        relay.script.add("MAIL", "421 4.4.2 fake.relay Error: timeout exceeded")
        results = await _send(relay, "b@x.org", transport=transport)
        relay.script.add("MAIL", "421 4.3.2 shutting down")
        fresh = await _send(relay, "c@x.org")  # on a new connection: the 421 is the answer
    finally:
        await transport.close()
        await relay.close()
    assert [(r.ok, r.code) for r in results] == [(True, 250)]
    assert [(r.ok, r.code) for r in fresh] == [(False, 421)]
    assert "shutting down" in fresh[0].reply
    assert relay.connections == 3
    assert [m.recipients for m in relay.messages] == [["a@x.org"], ["b@x.org"]]
