"""Outbound SMTP: send one message to several recipients through one configured endpoint.

Each endpoint (an SMTP configuration with its decrypted password) gets a small pool of
connections that stay open between messages (RFC 5321 §3.3 lets a client run one transaction
after another on a connection), capped so one configuration never opens more than
``size`` connections at once. A message goes out as a single transaction with one RCPT TO per
recipient, so a refusal of one recipient (RFC 5321 §3.3: 550 to that RCPT) fails only that one.

TLS modes come from ``Security``: implicit TLS (RFC 8314), STARTTLS (RFC 3207; required, never
skipped), or plain text. Certificates are verified against the system trust store unless the
endpoint explicitly says ``verify_tls=False``. The SMTP conversation itself is
smtp_client.py's, which pipelines the envelope where the server allows it.

Nothing here raises for a delivery problem: every outcome, network failures included, comes
back as one ``RecipientResult`` per recipient, for the retry policy to judge.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import socket
import ssl
from dataclasses import dataclass

from agentpost.delivery.smtp_client import (
    AuthRefused,
    Disconnected,
    NotStarted,
    Outcome,
    ReplyError,
    SmtpClient,
)
from agentpost.domain.transport import Security, SmtpEndpoint

logger = logging.getLogger(__name__)

# Closing politely must not hold up a shutdown for a whole command timeout.
QUIT_TIMEOUT = 2.0
NETWORK_ERRORS = (Disconnected, TimeoutError, OSError)  # ssl.SSLError is an OSError


@dataclass(frozen=True, slots=True)
class Envelope:
    sender: str
    recipients: list[str]
    raw: bytes


@dataclass(frozen=True, slots=True)
class RecipientResult:
    recipient: str
    ok: bool
    code: int | None  # the SMTP reply code; None when no reply came (network, TLS)
    reply: str
    # A 5yz that is still worth retrying: the owner's credentials were refused, which the
    # owner can fix (Postfix treats SASL failures the same way: smtp_sasl_auth_soft_bounce).
    soft: bool = False


def tls_context(endpoint: SmtpEndpoint) -> ssl.SSLContext:
    context = ssl.create_default_context()
    if not endpoint.verify_tls:  # only ever set explicitly, for a known self-signed peer
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def _all(
    recipients: list[str], code: int | None, reply: str, *, soft: bool = False
) -> list[RecipientResult]:
    return [RecipientResult(r, False, code, reply, soft) for r in recipients]


class _Failed(Exception):
    """A connection-level failure: every recipient of the transaction gets this outcome."""

    def __init__(self, code: int | None, reply: str, *, soft: bool = False) -> None:
        super().__init__(reply)
        self.code, self.reply, self.soft = code, reply, soft


class EndpointPool:
    """Up to ``size`` open connections to one endpoint, reused message after message."""

    def __init__(self, endpoint: SmtpEndpoint, size: int, local_hostname: str | None) -> None:
        self.endpoint = endpoint
        self._slots = asyncio.Semaphore(size)
        self._idle: list[SmtpClient] = []
        self._local_hostname = local_hostname
        self.connections_opened = 0
        # Set when the configuration changed (SmtpTransport.pool): connections still in use
        # are closed when their send ends instead of being kept for the next one.
        self.retired = False

    async def send(self, envelope: Envelope) -> list[RecipientResult]:
        async with self._slots:
            client = self._idle.pop() if self._idle else None
            try:
                if client is not None and client.is_connected:
                    try:
                        return await self._run(client, envelope, reused=True)
                    except _Stale:  # the server closed the idle connection: open a new one
                        await _quietly_close(client)
                client = await self._connect()
                return await self._run(client, envelope, reused=False)
            except _Failed as exc:
                if client is not None:
                    await _quietly_close(client)
                client = None
                return _all(envelope.recipients, exc.code, exc.reply, soft=exc.soft)
            finally:
                if client is not None and client.is_connected:
                    if self.retired:
                        await _quietly_close(client, polite=True)
                    else:
                        self._idle.append(client)

    async def _connect(self) -> SmtpClient:
        ep = self.endpoint
        context = tls_context(ep) if ep.security is not Security.NONE else None
        try:
            client = await SmtpClient.connect(
                ep.host,
                ep.port,
                timeout=ep.timeout,
                local_hostname=self._local_hostname or _fqdn(),
                tls=context if ep.security is Security.TLS else None,
                starttls=context if ep.security is Security.STARTTLS else None,
            )
        except ReplyError as exc:
            if exc.reply.code:
                raise _Failed(exc.reply.code, str(exc.reply)) from exc
            raise _Failed(None, f"cannot connect to {ep.host}:{ep.port}: {exc.reply}") from exc
        except NETWORK_ERRORS as exc:
            raise _Failed(None, f"cannot connect to {ep.host}:{ep.port}: {_describe(exc)}") from exc
        self.connections_opened += 1
        if ep.username:
            try:
                await client.login(ep.username, ep.password or "")
            except AuthRefused as exc:
                client.close()
                code = exc.reply.code or None
                raise _Failed(code, f"authentication failed: {exc.reply}", soft=True) from exc
            except (ReplyError, *NETWORK_ERRORS) as exc:
                client.close()
                reason = f"cannot connect to {ep.host}:{ep.port}: {_describe(exc)}"
                raise _Failed(None, reason) from exc
        return client

    async def _run(
        self, client: SmtpClient, envelope: Envelope, *, reused: bool
    ) -> list[RecipientResult]:
        try:
            return await _transaction(client, envelope)
        except NotStarted as exc:
            if reused:  # nothing was taken yet: safe to try once more on a new connection
                raise _Stale from exc
            if exc.reply is not None:  # a new connection refused with 421: that is the answer
                raise _Failed(exc.reply.code, str(exc.reply)) from exc
            raise _Failed(None, f"connection lost: {_describe(exc.__cause__ or exc)}") from exc
        except NETWORK_ERRORS as exc:
            raise _Failed(None, f"connection lost: {_describe(exc)}") from exc
        except ReplyError as exc:
            raise _Failed(None, _describe(exc)) from exc

    async def close(self) -> None:
        idle, self._idle = self._idle, []
        for client in idle:
            await _quietly_close(client, polite=True)


class _Stale(Exception):
    """A kept-open connection turned out to be closed before the transaction began."""


def _mail_options(client: SmtpClient, envelope: Envelope) -> list[str]:
    options = []
    if not envelope.raw.isascii() and client.supports("8bitmime"):
        options.append("BODY=8BITMIME")  # RFC 6152
    addresses = [envelope.sender, *envelope.recipients]
    if not all(a.isascii() for a in addresses) and client.supports("smtputf8"):
        options.append("SMTPUTF8")  # RFC 6531
    return options


async def _transaction(client: SmtpClient, envelope: Envelope) -> list[RecipientResult]:
    options = _mail_options(client, envelope)
    encoding = "utf-8" if "SMTPUTF8" in options else "ascii"
    outcome = await client.transaction(
        envelope.sender.encode(encoding),
        [r.encode(encoding) for r in envelope.recipients],
        envelope.raw,
        " ".join(options).encode("ascii"),
    )
    return await _judged(client, envelope.recipients, outcome)


async def _judged(
    client: SmtpClient, recipients: list[str], outcome: Outcome
) -> list[RecipientResult]:
    """One result per recipient: its RCPT's refusal, else the message's reply."""
    if outcome.mail.code != 250:
        await _reset(client)
        return _all(recipients, outcome.mail.code, str(outcome.mail))
    results: dict[str, RecipientResult] = {}
    accepted: list[str] = []
    for rcpt, reply in zip(recipients, outcome.rcpts, strict=True):
        if reply.took_recipient:
            accepted.append(rcpt)
        else:
            results[rcpt] = RecipientResult(rcpt, False, reply.code, str(reply))
    data = outcome.data
    if not accepted or data is None:
        await _reset(client)
        return [results.get(r) or RecipientResult(r, False, None, "not sent") for r in recipients]
    ok = data.code == 250
    if not ok:
        await _reset(client)
    for rcpt in accepted:
        results[rcpt] = RecipientResult(rcpt, ok, data.code, str(data))
    return [results[r] for r in recipients]


async def _reset(client: SmtpClient) -> None:
    """RSET after a refused transaction so the connection can carry the next one."""
    try:
        await client.reset()
    except (ReplyError, *NETWORK_ERRORS):
        client.close()


async def _quietly_close(client: SmtpClient, *, polite: bool = False) -> None:
    if polite and client.is_connected:
        try:
            async with asyncio.timeout(QUIT_TIMEOUT):
                await client.quit()
            return
        except (ReplyError, *NETWORK_ERRORS):
            pass
    client.close()


@functools.cache
def _fqdn() -> str:
    """Our name in EHLO when the settings give none (looked up once: it may ask DNS)."""
    return socket.getfqdn()


def _describe(exc: BaseException) -> str:
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"TLS certificate not trusted: {exc.verify_message}"
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class SmtpTransport:
    """The pools of every endpoint this worker has sent through."""

    def __init__(self, *, connections_per_endpoint: int = 4, local_hostname: str | None = None):
        self._size = connections_per_endpoint
        self._local_hostname = local_hostname
        self._pools: dict[SmtpEndpoint, EndpointPool] = {}
        self._closing: set[asyncio.Task[None]] = set()

    def pool(self, endpoint: SmtpEndpoint) -> EndpointPool:
        # Keyed by the whole endpoint: a changed password or port gets fresh connections, and
        # the connections made with the configuration's old settings are closed.
        found = self._pools.get(endpoint)
        if found is None:
            if endpoint.config_id is not None:
                for old in [e for e in self._pools if e.config_id == endpoint.config_id]:
                    self._retire(self._pools.pop(old))
            found = self._pools[endpoint] = EndpointPool(endpoint, self._size, self._local_hostname)
        return found

    def _retire(self, pool: EndpointPool) -> None:
        pool.retired = True
        task = asyncio.get_running_loop().create_task(pool.close())  # the idle ones, now
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    async def send(self, endpoint: SmtpEndpoint, envelope: Envelope) -> list[RecipientResult]:
        return await self.pool(endpoint).send(envelope)

    async def close(self) -> None:
        pools, self._pools = list(self._pools.values()), {}
        for pool in pools:
            await pool.close()
        if self._closing:
            await asyncio.gather(*self._closing, return_exceptions=True)
