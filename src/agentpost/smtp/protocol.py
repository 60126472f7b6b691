"""Our aiosmtpd protocol: its session and envelope, how DATA is read, and enhanced replies.

aiosmtpd's documented extension points are used: ``_create_session``/``_create_envelope`` give
every connection a session that knows its authenticated agent and every transaction an envelope
that knows its mode (inbound or submission) and its resolved mailboxes.

DATA is read in blocks rather than aiosmtpd's one await per line: a 20 MB message is 400,000
lines, and ten of them at once kept the event loop busy for seconds (aiosmtpd issue #293).
Finding the end and undoing dot-stuffing are then a few C-speed passes over the bytes.
"""

from __future__ import annotations

import asyncio
import logging
import re
from typing import Any, AnyStr

from aiosmtpd.smtp import MISSING, SMTP, Envelope, Session, syntax

from agentpost.smtp import replies
from agentpost.storage.records import AgentRecord

# The StreamReader limit: the most a command line may be before aiosmtpd answers 500, and the
# block size DATA is read in. Message lines have no limit of their own (RFC 5321 §4.5.3.1 asks
# servers to avoid such limits; refusing long lines loses real mail); max_message_bytes bounds
# the whole message.
LINE_LIMIT = 2**16
_END = b".\r\n"  # RFC 5321 §4.1.1.4: the message ends with a line holding a single "."

# aiosmtpd's fixed replies carry no RFC 3463 enhanced code; these are sent in their place.
_REWRITES: dict[str, str] = {
    "552 Error: message size exceeds fixed maximum message size": replies.SIZE_EXCEEDED,
    "500 Command line too long": replies.COMMAND_TOO_LONG,
}


# <dot-atom@dot-atom-domain> and what follows it (RFC 5321 §4.1.2 Path, the common form).
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_PLAIN_PATH = re.compile(
    rf"\s*<(({_ATOM}(?:\.{_ATOM})*)@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
    rf"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*)>(.*)\Z",
    re.DOTALL,
)


_DISPATCH: dict[type, list[str]] = {}


def dispatch_names(cls: type) -> list[str]:
    """The members aiosmtpd looks for by name on a protocol or handler class: its commands
    (``smtp_*``), AUTH mechanisms (``auth_*``) and hooks (``handle_*``)."""
    names = _DISPATCH.get(cls)
    if names is None:
        prefixes = ("smtp_", "auth_", "handle_")
        names = _DISPATCH[cls] = [name for name in dir(cls) if name.startswith(prefixes)]
    return names


class AgentSession(Session):
    """A connection; ``agent`` is set once AUTH succeeded (an agent submitting mail)."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(loop)
        self.agent: AgentRecord | None = None
        self.auth_failures = 0  # refused AUTH attempts on this connection


class AgentEnvelope(Envelope):
    """One transaction. ``submitter`` is fixed at MAIL: None means inbound mail for agents."""

    def __init__(self) -> None:
        super().__init__()
        self.submitter: AgentRecord | None = None
        self.mailboxes: list[AgentRecord] = []


class AgentSMTP(SMTP):
    """aiosmtpd's protocol with our session, envelope, line limit, DATA reader and replies.

    ``smtp_DATA`` follows aiosmtpd 1.4's own (preconditions, 354, the DATA hook, a fresh
    envelope) and uses its ``_reader``, ``_reset_timeout`` and ``_call_handler_hook``; the
    tests in tests/smtp pin that behaviour if aiosmtpd changes.
    """

    line_length_limit = LINE_LIMIT

    def __dir__(self) -> list[str]:
        # aiosmtpd's __init__ finds its smtp_* and auth_* methods by listing the instance's
        # members (dir, then getattr on each, properties included) on every connection: a
        # third of the cost of setting one up. These names give it the same tables.
        return dispatch_names(type(self))

    def _getaddr(self, arg: str) -> tuple[str | None, str | None]:
        # The address of MAIL and RCPT. Nearly every client sends a plain <local@domain>;
        # aiosmtpd runs every argument through the email package's RFC 5322 parser, the
        # costliest step of the command. Anything else (quoted local parts, address literals,
        # the null sender, a bare address) still goes to that parser.
        found = _PLAIN_PATH.match(arg)
        if found is None or "(" in found.group(3):  # a comment after it: the parser's job
            return super()._getaddr(arg)
        address, local, rest = found.group(1), found.group(2), found.group(3)
        if self.local_part_limit and len(local) > self.local_part_limit:
            return None, None
        return address, rest.lstrip()  # as the parser does: the whitespace after > is skipped

    def _create_session(self) -> Session:
        return AgentSession(self.loop)

    def _create_envelope(self) -> Envelope:
        return AgentEnvelope()

    async def push(self, status: AnyStr) -> None:
        if isinstance(status, str):
            await super().push(_REWRITES.get(status, status))
        else:
            await super().push(status)

    @syntax("DATA")
    async def smtp_DATA(self, arg: str) -> None:  # noqa: N802 (aiosmtpd's command naming)
        if await self.check_helo_needed() or await self.check_auth_needed("DATA"):
            return
        envelope = envelope_of(self.envelope)
        if not envelope.rcpt_tos:
            await self.push("503 5.5.1 Error: need RCPT command")
            return
        if arg:
            await self.push("501 5.5.4 Syntax: DATA")
            return
        await self.push("354 End data with <CR><LF>.<CR><LF>")
        content = await self._receive_content()
        if content is None:
            # RFC 5321 §4.2.5: the refusal comes after the whole message was read.
            self.envelope = self._create_envelope()  # a new transaction begins
            await self.push(replies.SIZE_EXCEEDED)
            return
        envelope.content = envelope.original_content = content
        status = await self._call_handler_hook("DATA")
        self.envelope = self._create_envelope()  # a new transaction begins
        await self.push("250 OK" if status is MISSING else status)

    async def _receive_content(self) -> bytes | None:
        """The message up to the lone-dot line, dot-stuffing undone; None when it was too big."""
        limit = self.data_size_limit or 0
        blocks: list[bytes] = []  # joined once at the end: no re-copying while growing
        size = 0
        # The last five bytes seen, to tell a lone-dot line from a line that ends in a dot;
        # the content starts at the beginning of a line, as if after a CRLF.
        recent = b"\r\n"
        while True:
            try:
                block = await self._reader.readuntil(_END)
                recent = (recent + block[-5:])[-5:]
                ended = recent[:2] == b"\r\n"
            except asyncio.LimitOverrunError as exc:  # no end within one block: take the block
                block = await self._reader.read(exc.consumed)
                recent = (recent + block[-5:])[-5:]
                ended = False
            self._reset_timeout()  # RFC 5321 §4.5.3.2.5: the timeout applies per block
            size += len(block)
            if limit and size > limit + len(_END):
                blocks.clear()  # read on to the end without keeping it (RFC 5321 §4.2.5)
            else:
                blocks.append(block)
            if ended:
                break
        if limit and size > limit + len(_END):
            return None
        blocks[-1] = blocks[-1][: -len(_END)]
        return _unstuff(b"".join(blocks))


def _unstuff(content: bytes) -> bytes:
    """RFC 5321 §4.5.2: a line that starts with a period loses that first period."""
    if content.startswith(b"."):
        content = content[1:]
    return content.replace(b"\r\n.", b"\r\n")


def quiet_library_log() -> None:
    """aiosmtpd logs every command at INFO on "mail.log": keep it at WARNING unless the
    operator configured it. It masks AUTH arguments itself, and message content never reaches
    it because DATA is read by ``AgentSMTP.smtp_DATA`` above."""
    log = logging.getLogger("mail.log")
    if log.level == logging.NOTSET:
        log.setLevel(logging.WARNING)


def session_of(session: Session) -> AgentSession:
    if not isinstance(session, AgentSession):
        raise TypeError("the SMTP session was not made by AgentSMTP")
    return session


def envelope_of(envelope: Envelope | None) -> AgentEnvelope:
    if not isinstance(envelope, AgentEnvelope):
        raise TypeError("the SMTP envelope was not made by AgentSMTP")
    return envelope


def describe_peer(session: Session) -> Any:
    """The peer address for logs: the IP alone, never anything the client typed."""
    peer = session.peer
    return peer[0] if isinstance(peer, tuple) and peer else "unknown"
