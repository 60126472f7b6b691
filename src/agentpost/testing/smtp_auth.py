"""SMTP peers for connection tests, on 127.0.0.1 port 0.

``auth_peer`` is a real aiosmtpd server that accepts AUTH for one user and password, with
optional STARTTLS under a self-signed certificate (``self_signed_pair``). ``scripted_auth_peer``
is a minimal hand-written server for provider answers aiosmtpd cannot be made to give: it
greets, offers AUTH PLAIN LOGIN, answers every AUTH with a scripted reply, and records every
line it received so a test can check that no MAIL command was sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def self_signed_pair(directory: Path) -> tuple[Path, Path]:
    """A throwaway EC certificate for ``localhost`` and 127.0.0.1; returns (cert, key)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.now(UTC)
    san = x509.SubjectAlternativeName(
        [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(san, critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "peer.crt", directory / "peer.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def server_context(cert: Path, key: Path) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return context


@dataclass
class AuthPeer:
    """Accepts AUTH for one user and password; counts logins and keeps received mail."""

    username: str
    password: str
    port: int = 0
    logins: list[str] = field(default_factory=list)
    received: list[Envelope] = field(default_factory=list)

    async def handle_DATA(  # noqa: N802 (aiosmtpd's hook name)
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        self.received.append(envelope)
        return "250 OK"

    def authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: object
    ) -> AuthResult:
        ok = (
            isinstance(data, LoginPassword)
            and data.login.decode() == self.username
            and data.password.decode() == self.password
        )
        if ok:
            self.logins.append(self.username)
        # handled=False: let aiosmtpd answer 535 itself (True means "already answered").
        return AuthResult(success=ok, handled=ok)


@asynccontextmanager
async def auth_peer(
    username: str, password: str, *, tls: ssl.SSLContext | None = None
) -> AsyncIterator[AuthPeer]:
    """An aiosmtpd peer; with ``tls`` it requires STARTTLS before AUTH."""
    peer = AuthPeer(username, password)

    def protocol() -> SMTP:
        return SMTP(
            peer,
            hostname="peer.test",
            authenticator=peer.authenticate,
            auth_require_tls=tls is not None,
            tls_context=tls,
            require_starttls=tls is not None,
        )

    server = await asyncio.get_running_loop().create_server(protocol, "127.0.0.1", 0)
    peer.port = server.sockets[0].getsockname()[1]
    try:
        yield peer
    finally:
        server.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(server.wait_closed(), 5)


@dataclass
class ScriptedPeer:
    auth_reply: str
    greeting: str = "220 scripted.test ESMTP"
    port: int = 0
    lines: list[str] = field(default_factory=list)


async def _serve_scripted(
    peer: ScriptedPeer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    writer.write(f"{peer.greeting}\r\n".encode())
    while not reader.at_eof():
        raw = await reader.readline()
        if not raw:
            break
        line = raw.decode("utf-8", "replace").rstrip("\r\n")
        peer.lines.append(line)
        verb = line.split(" ", 1)[0].upper()
        if verb == "EHLO":
            writer.write(b"250-scripted.test\r\n250 AUTH PLAIN LOGIN\r\n")
        elif verb == "AUTH":
            writer.write(f"{peer.auth_reply}\r\n".encode())
        elif verb == "QUIT":
            writer.write(b"221 2.0.0 bye\r\n")
            break
        else:
            writer.write(b"502 5.5.1 not scripted\r\n")
        await writer.drain()
    writer.close()


@asynccontextmanager
async def scripted_auth_peer(auth_reply: str, **kw: Any) -> AsyncIterator[ScriptedPeer]:
    """A peer that answers AUTH with ``auth_reply`` (possibly multi-line, CRLF-joined)."""
    peer = ScriptedPeer(auth_reply, **kw)
    server = await asyncio.start_server(lambda r, w: _serve_scripted(peer, r, w), "127.0.0.1", 0)
    peer.port = server.sockets[0].getsockname()[1]
    try:
        yield peer
    finally:
        server.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(server.wait_closed(), 5)
