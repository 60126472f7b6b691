"""The connection test against real SMTP peers on 127.0.0.1 port 0: AUTH over plain loopback,
STARTTLS with a self-signed certificate, and scripted provider answers. Never a MAIL command."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import pytest

from agentpost.delivery.probe import probe_endpoint
from agentpost.domain.provider_hints import Failure, ProbeStage
from agentpost.domain.transport import Security, SmtpEndpoint
from agentpost.testing.smtp_auth import (
    auth_peer,
    scripted_auth_peer,
    self_signed_pair,
    server_context,
)

pytestmark = pytest.mark.anyio
PASSWORD = "pr0be-Secret-xyz"


def endpoint(port: int, **kw: object) -> SmtpEndpoint:
    values: dict[str, object] = {
        "host": "127.0.0.1",
        "port": port,
        "security": Security.NONE,
        "username": "owner@example.com",
        "password": PASSWORD,
        "timeout": 5.0,
    }
    values.update(kw)
    return SmtpEndpoint(**values)  # type: ignore[arg-type]


async def test_auth_success_sends_no_mail() -> None:
    async with auth_peer("owner@example.com", PASSWORD) as peer:
        result = await probe_endpoint(endpoint(peer.port))
    assert result.ok, result.verdict
    assert result.authenticated and result.stage is ProbeStage.QUIT
    assert peer.logins == ["owner@example.com"]
    assert peer.received == []
    assert "works" in result.verdict and "no mail was sent" in result.verdict


async def test_bad_password_gives_535_with_hint() -> None:
    async with auth_peer("owner@example.com", "the-right-one") as peer:
        result = await probe_endpoint(endpoint(peer.port))
    assert not result.ok
    assert result.stage is ProbeStage.AUTH and result.failure is Failure.REPLY
    assert result.code == 535
    assert result.hint is not None and "username or password" in result.hint
    assert PASSWORD not in result.verdict + result.reply + (result.hint or "")


async def test_starttls_self_signed_fails_verification_by_default(tmp_path: Path) -> None:
    cert, key = self_signed_pair(tmp_path)
    async with auth_peer("owner@example.com", PASSWORD, tls=server_context(cert, key)) as peer:
        refused = await probe_endpoint(endpoint(peer.port, security=Security.STARTTLS))
        trusted = await probe_endpoint(
            endpoint(peer.port, security=Security.STARTTLS), ca_file=str(cert)
        )
        unverified = await probe_endpoint(
            endpoint(peer.port, security=Security.STARTTLS, verify_tls=False)
        )
    assert not refused.ok
    assert refused.stage is ProbeStage.TLS and refused.failure is Failure.CERTIFICATE
    assert "certificate" in refused.verdict.lower() or "certificate" in refused.reply.lower()
    assert refused.hint is not None and "verifyTls" in refused.hint
    assert trusted.ok, trusted.verdict
    assert trusted.tls_version is not None and trusted.tls_version.startswith("TLS")
    assert unverified.ok, unverified.verdict
    assert peer.logins == ["owner@example.com", "owner@example.com"]


async def test_starttls_required_but_not_offered() -> None:
    async with auth_peer("owner@example.com", PASSWORD) as peer:
        result = await probe_endpoint(endpoint(peer.port, security=Security.STARTTLS))
    assert not result.ok and result.failure is Failure.NO_STARTTLS
    assert peer.logins == []  # credentials never went out in clear


async def test_gmail_534_app_password() -> None:
    reply = (
        "534-5.7.9 Application-specific password required. Learn more at\r\n"
        "534 5.7.9  https://support.google.com/mail/?p=InvalidSecondFactor x1-20020 - gsmtp"
    )
    async with scripted_auth_peer(reply) as peer:
        result = await probe_endpoint(endpoint(peer.port))
    assert not result.ok and result.code == 534
    assert "5.7.9" in result.reply
    assert result.hint is not None and "app password" in result.hint
    assert not any(line.upper().startswith(("MAIL", "RCPT", "DATA")) for line in peer.lines)


async def test_gmail_535_bad_credentials() -> None:
    reply = (
        "535-5.7.8 Username and Password not accepted. For more information, go to\r\n"
        "535 5.7.8  https://support.google.com/mail/?p=BadCredentials x1 - gsmtp"
    )
    async with scripted_auth_peer(reply) as peer:
        result = await probe_endpoint(endpoint(peer.port))
    assert result.code == 535
    assert result.hint is not None and "Gmail" in result.hint and "app password" in result.hint


async def test_microsoft_basic_auth_disabled() -> None:
    reply = (
        "535 5.7.139 Authentication unsuccessful, basic authentication is disabled. "
        "[AM0PR02CA0011.eurprd02.prod.outlook.com]"
    )
    async with scripted_auth_peer(reply) as peer:
        result = await probe_endpoint(endpoint(peer.port))
    assert not result.ok and result.code == 535
    assert result.hint is not None
    assert "Authenticated SMTP" in result.hint and "SmtpClientAuthenticationDisabled" in result.hint


async def test_microsoft_tenant_disabled() -> None:
    reply = (
        "535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for "
        "the Tenant. Visit https://aka.ms/smtp_auth_disabled for more information."
    )
    async with scripted_auth_peer(reply) as peer:
        result = await probe_endpoint(endpoint(peer.port))
    assert result.hint is not None and "Set-TransportConfig" in result.hint


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_connection_refused() -> None:
    result = await probe_endpoint(endpoint(_closed_port()))
    assert not result.ok and result.failure is Failure.REFUSED
    assert result.stage is ProbeStage.CONNECT
    assert result.hint is not None and "Nothing accepts connections" in result.hint


async def test_silent_server_times_out() -> None:
    accepted = asyncio.Event()
    writers: list[asyncio.StreamWriter] = []

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.append(writer)
        accepted.set()  # and never greet

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        result = await probe_endpoint(endpoint(port, timeout=0.5))
    finally:
        for writer in writers:
            writer.close()
            await writer.wait_closed()
        server.close()
        await server.wait_closed()
    assert accepted.is_set()
    assert not result.ok and result.failure is Failure.TIMEOUT
    assert result.hint is not None and "firewall" in result.hint


async def test_tls_on_a_plain_port_is_a_tls_failure() -> None:
    async with auth_peer("owner@example.com", PASSWORD) as peer:
        result = await probe_endpoint(endpoint(peer.port, security=Security.TLS))
    assert not result.ok
    assert result.failure in (Failure.TLS, Failure.TIMEOUT, Failure.DISCONNECTED)
    assert result.hint is not None
