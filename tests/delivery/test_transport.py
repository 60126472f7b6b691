"""The SMTP transport against real loopback peers: one transaction per message with a RCPT per
recipient, connections reused, failures reported per recipient, TLS verified by default."""

from __future__ import annotations

import asyncio
import base64
import socket
from pathlib import Path

import pytest

from agentpost.config import Settings
from agentpost.delivery.transport import Envelope, SmtpTransport
from agentpost.domain.transport import Security
from agentpost.smtp.tls import load_tls_context
from agentpost.testing.fake_smtp import DROP, STALL, FakeRelay, Script, SmtpSink

from .support import endpoint

pytestmark = pytest.mark.anyio

MESSAGE = b"From: a@localhost\r\nTo: b@example.com\r\nSubject: hi\r\n\r\nhello\r\n.leading dot\r\n"


def envelope(*recipients: str) -> Envelope:
    return Envelope("a@localhost", list(recipients), MESSAGE)


async def test_one_connection_carries_many_messages(sink: SmtpSink) -> None:
    """Three messages in a row go over one connection, each as one transaction."""
    transport = SmtpTransport(connections_per_endpoint=1)
    try:
        for n in range(3):
            results = await transport.send(endpoint(sink.port), envelope(f"r{n}@example.com"))
            assert [(r.ok, r.code) for r in results] == [(True, 250)]
    finally:
        await transport.close()
    got = await sink.wait_for(3)
    assert sink.connections == 1
    assert [m.recipients for m in got] == [[f"r{n}@example.com"] for n in range(3)]
    assert got[0].data.endswith(b"hello\r\n.leading dot\r\n")  # dot-stuffing undone by the peer


async def test_concurrency_is_bounded_per_endpoint(sink: SmtpSink) -> None:
    transport = SmtpTransport(connections_per_endpoint=2)
    try:
        await asyncio.gather(
            *(transport.send(endpoint(sink.port), envelope(f"r{n}@x.org")) for n in range(10))
        )
    finally:
        await transport.close()
    assert len(await sink.wait_for(10)) == 10
    assert sink.connections <= 2


async def test_refused_recipient_fails_alone(relay: FakeRelay) -> None:
    """RCPT refusals are per recipient: the others still get the message (RFC 5321 §3.3)."""
    relay.script.rcpt["nobody@example.com"] = "550 5.1.1 <nobody@example.com>: no such user"
    transport = SmtpTransport()
    try:
        results = await transport.send(
            endpoint(relay.port), envelope("ok@example.com", "nobody@example.com")
        )
    finally:
        await transport.close()
    assert [(r.recipient, r.ok, r.code) for r in results] == [
        ("ok@example.com", True, 250),
        ("nobody@example.com", False, 550),
    ]
    assert "no such user" in results[1].reply
    assert [m.recipients for m in relay.messages] == [["ok@example.com"]]


@pytest.mark.parametrize(
    ("verb", "reply", "code"),
    [
        ("connect", "421 4.3.2 service shutting down", 421),
        ("MAIL", "451 4.3.0 try again later", 451),
        ("DOT", "554 5.7.1 message rejected as spam", 554),
        ("DOT", DROP, None),
        ("RCPT", DROP, None),
    ],
)
async def test_failures_reach_every_recipient(
    relay: FakeRelay, verb: str, reply: str, code: int | None
) -> None:
    relay.script.add(verb, reply)
    transport = SmtpTransport()
    try:
        results = await transport.send(endpoint(relay.port), envelope("a@x.org", "b@x.org"))
    finally:
        await transport.close()
    assert [(r.ok, r.code) for r in results] == [(False, code)] * 2
    assert all(r.reply for r in results)
    assert relay.messages == []


async def test_connection_survives_a_refused_transaction(relay: FakeRelay) -> None:
    """After a 5xx at end of data the connection is reset and carries the next message."""
    relay.script.add("DOT", "550 5.7.1 no")
    transport = SmtpTransport(connections_per_endpoint=1)
    try:
        first = await transport.send(endpoint(relay.port), envelope("a@x.org"))
        second = await transport.send(endpoint(relay.port), envelope("b@x.org"))
    finally:
        await transport.close()
    assert (first[0].code, second[0].code) == (550, 250)
    assert relay.connections == 1
    assert "RSET" in relay.commands


async def test_silent_server_times_out(relay: FakeRelay) -> None:
    relay.script.add("MAIL", STALL)
    transport = SmtpTransport()
    try:
        results = await transport.send(endpoint(relay.port, timeout=0.3), envelope("a@x.org"))
    finally:
        await transport.close()
    assert relay.stalled.is_set()
    assert (results[0].ok, results[0].code) == (False, None)
    assert "Timeout" in results[0].reply or "timed out" in results[0].reply.lower()


async def test_idle_connection_closed_by_server_is_replaced(relay: FakeRelay) -> None:
    """A kept connection the server dropped meanwhile costs a reconnect, not a deferral."""
    transport = SmtpTransport(connections_per_endpoint=1)
    try:
        await transport.send(endpoint(relay.port), envelope("a@x.org"))
        relay.script.add("MAIL", DROP)  # the next MAIL on the old connection finds it gone
        results = await transport.send(endpoint(relay.port), envelope("b@x.org"))
    finally:
        await transport.close()
    assert (results[0].ok, results[0].code) == (True, 250)
    assert relay.connections == 2
    assert [m.recipients for m in relay.messages] == [["a@x.org"], ["b@x.org"]]


async def test_unreachable_server_is_a_network_failure() -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    transport = SmtpTransport()
    results = await transport.send(endpoint(port), envelope("a@x.org"))
    assert (results[0].ok, results[0].code) == (False, None)
    assert f"127.0.0.1:{port}" in results[0].reply


async def test_self_signed_starttls_peer_is_refused_unless_verification_is_off(
    tmp_path: Path,
) -> None:
    tls = load_tls_context(Settings(data_dir=tmp_path, domain="localhost"))
    sink = await SmtpSink(tls_context=tls).start()
    transport = SmtpTransport()
    try:
        verified = endpoint(sink.port, security=Security.STARTTLS)
        refused = await transport.send(verified, envelope("a@x.org"))
        trusted = endpoint(sink.port, security=Security.STARTTLS, verify_tls=False)
        accepted = await transport.send(trusted, envelope("b@x.org"))
    finally:
        await transport.close()
        await sink.close()
    assert (refused[0].ok, refused[0].code) == (False, None)
    assert "certificate" in refused[0].reply.lower()
    assert (accepted[0].ok, accepted[0].code) == (True, 250)
    assert [m.recipients for m in sink.messages] == [["b@x.org"]]


async def test_starttls_required_when_configured(relay: FakeRelay) -> None:
    """A starttls endpoint never falls back to plain text when the server lacks STARTTLS."""
    transport = SmtpTransport()
    results = await transport.send(
        endpoint(relay.port, security=Security.STARTTLS), envelope("a@x.org")
    )
    await transport.close()
    assert (results[0].ok, results[0].code) == (False, None)
    assert relay.messages == []


def test_script_is_consumed_in_order() -> None:
    script = Script().add("MAIL", "451 a", "452 b")
    assert [script.next("MAIL", "250") for _ in range(3)] == ["451 a", "452 b", "250"]


async def test_a_changed_configuration_closes_the_old_connections(sink: SmtpSink) -> None:
    """New settings for a configuration (here its From address; in practice a new password or
    host) get a fresh pool, and the connection kept open with the old ones is closed."""
    transport = SmtpTransport(connections_per_endpoint=1)
    try:
        before = endpoint(sink.port, from_email="old@example.com")
        await transport.send(before, envelope("r1@example.com"))
        old_pool = transport.pool(before)
        [kept] = old_pool._idle
        after = endpoint(sink.port, from_email="new@example.com")
        results = await transport.send(after, envelope("r2@example.com"))
        assert [r.ok for r in results] == [True]
        assert old_pool.retired and transport.pool(after) is not old_pool
        async with asyncio.timeout(5):
            while kept.is_connected:
                await asyncio.sleep(0.01)
        assert old_pool._idle == []
    finally:
        await transport.close()
    assert sink.connections == 2


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


async def test_auth_login_when_it_is_all_the_server_offers(relay: FakeRelay) -> None:
    """AUTH LOGIN (RFC 4954 style): username and password each answer a 334 challenge."""
    relay.script.add("EHLO", "250-fake.relay\r\n250 AUTH LOGIN")
    relay.script.add("AUTH", "334 VXNlcm5hbWU6")
    relay.script.add(_b64("agent-user").upper(), "334 UGFzc3dvcmQ6")
    relay.script.add(_b64("s3cret pass").upper(), "235 2.7.0 Authentication successful")
    transport = SmtpTransport()
    try:
        target = endpoint(relay.port, username="agent-user", password="s3cret pass")
        results = await transport.send(target, envelope("a@x.org"))
    finally:
        await transport.close()
    assert [(r.ok, r.code) for r in results] == [(True, 250)]
    assert relay.commands[1:4] == ["AUTH LOGIN", _b64("agent-user"), _b64("s3cret pass")]


async def test_refused_credentials_are_a_soft_failure_without_the_password(
    relay: FakeRelay,
) -> None:
    """535 to AUTH: the owner can fix it, so it is retried (soft), and the reply never
    carries what was sent."""
    relay.script.add("EHLO", "250-fake.relay\r\n250 AUTH PLAIN LOGIN")
    relay.script.add("AUTH", "535 5.7.8 Username and Password not accepted")
    transport = SmtpTransport()
    try:
        target = endpoint(relay.port, username="agent-user", password="s3cret pass")
        results = await transport.send(target, envelope("a@x.org", "b@x.org"))
    finally:
        await transport.close()
    assert [(r.ok, r.code, r.soft) for r in results] == [(False, 535, True)] * 2
    assert results[0].reply.startswith("authentication failed: 535 5.7.8")
    assert "s3cret" not in results[0].reply and _b64("\0agent-user\0s3cret pass") not in str(
        results
    )
    assert relay.commands[1] == "AUTH PLAIN " + _b64("\0agent-user\0s3cret pass")
    assert relay.messages == []
