"""SMTP AUTH (RFC 4954) with an agent's API key as the password: PLAIN and LOGIN.

aiosmtpd's ``authenticator`` callback is synchronous and cannot await the key lookup, so the
listener implements the documented ``handle_AUTH`` hook with these helpers instead. The
credentials never reach a log line or an error message.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

from aiosmtpd.smtp import MISSING, SMTP

from agentpost.domain.addresses import normalize
from agentpost.errors import Unauthenticated
from agentpost.services import accounts
from agentpost.services.context import AppContext
from agentpost.smtp import replies
from agentpost.storage.records import AgentRecord

MECHANISMS = ("PLAIN", "LOGIN")


@dataclass(frozen=True, slots=True)
class Credentials:
    username: str
    password: str

    def __repr__(self) -> str:
        return "Credentials(...)"


class AuthRefused(Exception):
    """AUTH fails with ``reply``; None when aiosmtpd has already answered the client."""

    def __init__(self, reply: str | None) -> None:
        super().__init__("authentication refused")
        self.reply = reply


async def read_credentials(server: SMTP, args: list[str]) -> Credentials:
    """Run the exchange of the mechanism in ``args[0]``; ``args[1]`` is an initial response."""
    mechanism = args[0].upper()
    initial = args[1] if len(args) > 1 else None
    if mechanism == "PLAIN":
        return await _plain(server, initial)
    if mechanism == "LOGIN":
        return await _login(server, initial)
    raise AuthRefused("504 5.5.4 Unrecognized authentication type")


async def verify(ctx: AppContext, creds: Credentials) -> AgentRecord:
    """The agent whose API key is the password and whose address or name is the username."""
    try:
        principal = await accounts.authenticate(ctx, creds.password)
    except Unauthenticated:
        raise AuthRefused(replies.AUTH_INVALID) from None
    agent = principal.agent
    if agent is None or normalize(creds.username) not in (agent.address, agent.name.lower()):
        raise AuthRefused(replies.AUTH_INVALID)
    return agent


async def _plain(server: SMTP, initial: str | None) -> Credentials:
    # RFC 4616 §2: message = [authzid] NUL authcid NUL passwd
    blob = _decode(initial) if initial is not None else await _challenge(server, "")
    parts = blob.split(b"\x00")
    if len(parts) != 3:
        raise AuthRefused(replies.AUTH_BAD_PLAIN)
    authzid, authcid, passwd = parts
    if authzid and authzid != authcid:  # acting for another identity is not supported
        raise AuthRefused(replies.AUTH_INVALID)
    return Credentials(_text(authcid), _text(passwd))


async def _login(server: SMTP, initial: str | None) -> Credentials:
    user = _decode(initial) if initial is not None else await _challenge(server, "Username:")
    passwd = await _challenge(server, "Password:")
    return Credentials(_text(user), _text(passwd))


async def _challenge(server: SMTP, prompt: str) -> bytes:
    # challenge_auth answers '*' (RFC 4954 §4: cancel) and bad base64 itself, returning MISSING.
    answer = await server.challenge_auth(prompt)
    if answer is MISSING or not isinstance(answer, bytes):
        raise AuthRefused(None)
    return answer


def _decode(initial: str) -> bytes:
    if initial == "=":  # RFC 4954 §4: a zero-length initial response
        return b""
    try:
        return base64.b64decode(initial.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        raise AuthRefused(replies.AUTH_BAD_BASE64) from None


def _text(value: bytes) -> str:
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        raise AuthRefused(replies.AUTH_INVALID) from None
