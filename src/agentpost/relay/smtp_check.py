"""Check that a relay account's SMTP side accepts its credentials: connect, TLS, EHLO, AUTH,
QUIT. No mail is sent. Failures become ``ImapFailure``-like ``SmtpCheckFailure`` with a kind
(``auth``, ``connect``, ``tls``, ``protocol``) and the server's reply, never the password."""

from __future__ import annotations

import contextlib
import ssl

import aiosmtplib

from agentpost.domain.provider_hints import Failure, ProbeStage, hint_for
from agentpost.domain.transport import Security, SmtpEndpoint


class SmtpCheckFailure(Exception):
    """``hint``: what to do about it, when the provider's answer is a known one."""

    def __init__(self, kind: str, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.hint = hint


def _context(endpoint: SmtpEndpoint) -> ssl.SSLContext:
    context = ssl.create_default_context()
    if not endpoint.verify_tls:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


async def check_login(endpoint: SmtpEndpoint) -> None:
    """Raise ``SmtpCheckFailure`` unless the server lets ``endpoint`` log in."""
    where = f"{endpoint.host}:{endpoint.port}"
    client = aiosmtplib.SMTP(
        hostname=endpoint.host,
        port=endpoint.port,
        timeout=endpoint.timeout,
        use_tls=endpoint.security is Security.TLS,
        # STARTTLS is required when asked for, never skipped (RFC 3207 §4).
        start_tls=endpoint.security is Security.STARTTLS,
        tls_context=_context(endpoint),
    )
    try:
        await client.connect()
        if endpoint.username and endpoint.password is not None:
            await client.login(endpoint.username, endpoint.password)
    except aiosmtplib.SMTPAuthenticationError as exc:
        # Gmail's 534 5.7.9 (app password required), Microsoft's "basic authentication is
        # disabled" and the like have a known fix (domain/provider_hints.py).
        hint = hint_for(
            Failure.REPLY,
            ProbeStage.AUTH,
            code=exc.code,
            reply=exc.message,
            host=endpoint.host,
            port=endpoint.port,
            security=endpoint.security.value,
        )
        raise SmtpCheckFailure(
            "auth", f"the SMTP server {where} refused the login: {exc.code} {exc.message}", hint
        ) from None
    except ssl.SSLError as exc:
        raise SmtpCheckFailure("tls", f"TLS with the SMTP server {where} failed: {exc}") from None
    except aiosmtplib.SMTPConnectError as exc:
        raise SmtpCheckFailure(
            "connect", f"cannot connect to the SMTP server {where}: {exc}"
        ) from None
    except (aiosmtplib.SMTPException, OSError) as exc:
        kind = "tls" if isinstance(exc.__cause__, ssl.SSLError) else "connect"
        raise SmtpCheckFailure(kind, f"the SMTP server {where} failed: {exc}") from None
    finally:
        with contextlib.suppress(Exception):
            if client.is_connected:
                await client.quit()
