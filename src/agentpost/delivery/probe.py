"""The connection test: connect, TLS or STARTTLS, EHLO, AUTH, QUIT, and never a MAIL command.

Certificates are verified against the system trust store (or ``ca_file`` when given) unless
the endpoint says ``verify_tls=False``. STARTTLS is required for ``starttls`` endpoints: a
server that does not offer it fails the test rather than being spoken to in clear (RFC 3207
§4 lets a client refuse to continue). Every outcome is a ``ProbeResult``; nothing raises for
a problem on the far side. The password only ever travels inside AUTH and is never part of a
result: replies are the server's, and network errors are described by their type and reason.
"""

from __future__ import annotations

import socket
import ssl
import time
from collections.abc import Iterator

import aiosmtplib

from agentpost.domain.provider_hints import Failure, ProbeResult, ProbeStage, hint_for
from agentpost.domain.transport import Security, SmtpEndpoint

REPLY_LIMIT = 500


def probe_context(endpoint: SmtpEndpoint, ca_file: str | None = None) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=ca_file)
    if not endpoint.verify_tls:  # the owner's explicit choice for a private certificate
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


class _Stop(Exception):
    """A failed step: carries the classified outcome out of the step sequence."""

    def __init__(self, failure: Failure, code: int | None, reply: str) -> None:
        super().__init__(reply)
        self.failure, self.code, self.reply = failure, code, reply


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def classify(exc: BaseException) -> _Stop:
    """Map an aiosmtplib or network exception onto a failure with the server's words."""
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        return _Stop(Failure.REPLY, exc.code, exc.message)
    for link in _chain(exc):
        if isinstance(link, ssl.SSLCertVerificationError):
            return _Stop(Failure.CERTIFICATE, None, link.verify_message or str(link.reason))
        if isinstance(link, ssl.SSLError):
            return _Stop(Failure.TLS, None, link.reason or type(link).__name__)
        if isinstance(link, socket.gaierror):
            return _Stop(Failure.DNS, None, link.strerror or "host not found")
        if isinstance(link, ConnectionRefusedError):
            return _Stop(Failure.REFUSED, None, "connection refused")
        if isinstance(link, TimeoutError):
            return _Stop(Failure.TIMEOUT, None, "timed out")
    if isinstance(exc, aiosmtplib.SMTPServerDisconnected | ConnectionError):
        return _Stop(Failure.DISCONNECTED, None, "the server closed the connection")
    return _Stop(Failure.DISCONNECTED, None, str(exc) or type(exc).__name__)


async def _steps(
    client: aiosmtplib.SMTP, endpoint: SmtpEndpoint, context: ssl.SSLContext, trail: list[str]
) -> tuple[aiosmtplib.SMTPResponse, str | None]:
    """The test itself; returns the last meaningful reply and the TLS version in use."""
    trail.append(ProbeStage.CONNECT)
    reply = await client.connect()
    trail.append(ProbeStage.EHLO)
    reply = await client.ehlo()
    if endpoint.security is Security.STARTTLS:
        trail.append(ProbeStage.STARTTLS)
        if not client.supports_extension("starttls"):
            raise _Stop(Failure.NO_STARTTLS, None, "STARTTLS is not in the EHLO reply")
        await client.starttls(tls_context=context)
        trail.append(ProbeStage.EHLO)
        reply = await client.ehlo()  # RFC 3207 §4.2: forget what was learnt before TLS
    if endpoint.username:
        trail.append(ProbeStage.AUTH)
        if not client.supports_extension("auth"):
            raise _Stop(Failure.NO_AUTH, None, "AUTH is not in the EHLO reply")
        reply = await client.login(endpoint.username, endpoint.password or "")
    tls_version = _tls_version(client)
    trail.append(ProbeStage.QUIT)
    await client.quit()
    return reply, tls_version


async def probe_endpoint(endpoint: SmtpEndpoint, *, ca_file: str | None = None) -> ProbeResult:
    """Run the test against ``endpoint``; never sends mail and never raises for the server."""
    context = probe_context(endpoint, ca_file)
    client = aiosmtplib.SMTP(
        hostname=endpoint.host,
        port=endpoint.port,
        use_tls=endpoint.security is Security.TLS,
        start_tls=False,  # done by hand below, so a missing STARTTLS is an error, not a skip
        tls_context=context,
        timeout=endpoint.timeout,
    )
    trail: list[str] = []
    started = time.monotonic()
    try:
        reply, tls_version = await _steps(client, endpoint, context, trail)
    except Exception as exc:  # every failure becomes a verdict, none escapes
        client.close()
        return _failed(endpoint, exc, trail, _elapsed(started))
    return ProbeResult(
        ok=True,
        stage=ProbeStage.QUIT,
        host=endpoint.host,
        port=endpoint.port,
        security=endpoint.security.value,
        duration_ms=_elapsed(started),
        code=reply.code,
        reply=reply.message[:REPLY_LIMIT],
        tls_version=tls_version,
        authenticated=bool(endpoint.username),
    )


def _failed(
    endpoint: SmtpEndpoint, exc: Exception, trail: list[str], duration_ms: int
) -> ProbeResult:
    stop = exc if isinstance(exc, _Stop) else classify(exc)
    stage = _failed_stage(trail, stop.failure, endpoint)
    hint = hint_for(
        stop.failure,
        stage,
        code=stop.code,
        reply=stop.reply,
        host=endpoint.host,
        port=endpoint.port,
        security=endpoint.security.value,
    )
    return ProbeResult(
        ok=False,
        stage=stage,
        host=endpoint.host,
        port=endpoint.port,
        security=endpoint.security.value,
        duration_ms=duration_ms,
        code=stop.code,
        reply=stop.reply[:REPLY_LIMIT],
        failure=stop.failure,
        hint=hint,
    )


def _failed_stage(trail: list[str], failure: Failure, endpoint: SmtpEndpoint) -> ProbeStage:
    if failure in (Failure.CERTIFICATE, Failure.TLS):
        return ProbeStage.TLS
    return ProbeStage(trail[-1]) if trail else ProbeStage.CONNECT


def _elapsed(started: float) -> int:
    return int((time.monotonic() - started) * 1000)


def _tls_version(client: aiosmtplib.SMTP) -> str | None:
    ssl_object = client.get_transport_info("ssl_object")
    version = ssl_object.version() if isinstance(ssl_object, ssl.SSLObject) else None
    return version if isinstance(version, str) else None
