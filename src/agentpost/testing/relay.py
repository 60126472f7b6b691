"""Relay gateway test helpers: a loopback SMTP peer with AUTH, setups and sample messages."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import Future
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field

from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from agentpost.services.relay_plan import RelaySetup
from agentpost.testing.dovecot import Dovecot

RELAY_EMAIL = "owner@relay.test"
RELAY_PASSWORD = "app-pass-7f3Kq9"  # noqa: S105 (a test password)


@dataclass
class SmtpPeer:
    """Accepts AUTH for one user/password and keeps what it receives."""

    username: str
    password: str
    port: int = 0
    received: list[Envelope] = field(default_factory=list)
    # Set on every message received: tests wait on it instead of sleeping.
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    # The reply to a refused AUTH, e.g. Gmail's "534 5.7.9 Application-specific password…".
    refusal: str | None = None

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802
        self.received.append(envelope)
        self.arrived.set()
        return "250 OK"

    def authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: object
    ) -> AuthResult:
        ok = (
            isinstance(data, LoginPassword)
            and data.login.decode() == self.username
            and data.password.decode() == self.password
        )
        return AuthResult(success=ok, handled=False, message=None if ok else self.refusal)


@asynccontextmanager
async def smtp_peer(username: str, password: str) -> AsyncIterator[SmtpPeer]:
    peer = SmtpPeer(username, password)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SMTP(peer, authenticator=peer.authenticate, auth_require_tls=False),
        "127.0.0.1",
        0,
    )
    peer.port = server.sockets[0].getsockname()[1]
    try:
        yield peer
    finally:
        server.close()
        await server.wait_closed()


def relay_setup(
    dovecot: Dovecot, peer: SmtpPeer, *, password: str = RELAY_PASSWORD, **extra: object
) -> RelaySetup:
    values: dict[str, object] = {
        "provider": "custom",
        "email": RELAY_EMAIL,
        "password": password,
        "smtp_host": "127.0.0.1",
        "smtp_port": peer.port,
        "smtp_security": "none",
        "imap_host": "127.0.0.1",
        "imap_port": dovecot.port,
        "imap_security": "none",
    }
    return RelaySetup(**(values | extra))  # type: ignore[arg-type]


def message(
    to: str,
    subject: str,
    message_id: str,
    *,
    sender: str = "Carol <carol@example.org>",
    extra: str = "",
) -> bytes:
    return (
        f"From: {sender}\r\nTo: {to}\r\nSubject: {subject}\r\nMessage-ID: {message_id}\r\n"
        f"Date: Sun, 22 Nov 2026 05:00:00 +0000\r\nX-Custom-Trace: kept-as-is\r\n{extra}"
        "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
        f"Body of {subject}\r\n"
    ).encode()


@contextmanager
def threaded_smtp_peer(username: str, password: str) -> Iterator[SmtpPeer]:
    """``smtp_peer`` on a loop of its own thread, for synchronous tests (the CLI)."""
    loop = asyncio.new_event_loop()
    started: Future[SmtpPeer] = Future()
    stop = asyncio.Event()

    async def serve() -> None:
        async with smtp_peer(username, password) as peer:
            started.set_result(peer)
            await stop.wait()

    thread = threading.Thread(target=loop.run_until_complete, args=(serve(),), daemon=True)
    thread.start()
    try:
        yield started.result(timeout=10)
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(timeout=10)
        loop.close()
