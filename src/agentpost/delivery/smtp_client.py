"""The delivery worker's SMTP client: one connection, one transaction after another, with the
envelope pipelined when the server offers it (RFC 2920).

aiosmtplib, used for the connection test and the relay check, reads exactly one reply per
command it writes and drops replies that arrive early, so it cannot pipeline: a message costs
it four round trips (MAIL, RCPT, DATA, the final dot), each a write, a read and a wake-up of
the event loop. Here MAIL FROM, every RCPT TO and DATA go out in one write and their replies
are read back in order, so a message costs two round trips (as Postfix's smtp client sends
it), which on a busy worker is most of what talking SMTP costs.

What is here: the greeting, EHLO (HELO when EHLO is refused), STARTTLS (RFC 3207) or TLS from
the first byte (RFC 8314), AUTH PLAIN or LOGIN (RFC 4954), transactions, RSET and QUIT. Every
reply is awaited under the endpoint's timeout. Failures are ``ReplyError`` (the server said
no: its code and text), ``Disconnected``, ``TimeoutError``, ``ssl.SSLError`` or ``OSError``;
transport.py turns them into outcomes per recipient.
"""

from __future__ import annotations

import asyncio
import base64
import re
import ssl
from dataclasses import dataclass

# A reply line is at most 512 octets (RFC 5321 §4.5.3.1.5); allow for servers that exceed it.
_LINE_LIMIT = 64 * 1024
_LONE_LINE_END = re.compile(rb"\r(?!\n)|(?<!\r)\n")
_LEADING_DOT = re.compile(rb"(?m)^\.")


@dataclass(frozen=True, slots=True)
class Reply:
    code: int
    text: str  # the reply's lines without their codes, joined by newlines

    def __str__(self) -> str:
        return f"{self.code} {self.text}".strip()

    @property
    def took_recipient(self) -> bool:
        """As a reply to RCPT: the recipient was taken (250, or 251 "will forward")."""
        return self.code in (250, 251)


class ReplyError(Exception):
    """The server answered with a code the step does not accept."""

    def __init__(self, reply: Reply) -> None:
        super().__init__(str(reply))
        self.reply = reply


class AuthRefused(ReplyError):
    """The server refused the credentials (or offers no mechanism we speak)."""


class Disconnected(ConnectionError):
    """The server closed the connection."""


class NotStarted(ConnectionError):
    """Nothing of the transaction was taken, so it can be tried again on another connection:
    the connection failed before the server answered MAIL FROM, or the server answered it
    with 421, closing the connection (``reply``; Postfix says so to a connection idle too
    long, and unasked before it hangs up)."""

    def __init__(self, reason: str, reply: Reply | None = None) -> None:
        super().__init__(reason)
        self.reply = reply


@dataclass(frozen=True, slots=True)
class Outcome:
    """A transaction's replies: MAIL's, one per RCPT in order, and the message's (the reply to
    DATA when it was not 354, else the reply to the final dot); None where none was asked."""

    mail: Reply
    rcpts: list[Reply]
    data: Reply | None


class SmtpClient:
    """One connection to an SMTP server, opened by ``connect``."""

    def __init__(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, timeout: float
    ) -> None:
        self._reader = reader
        self._writer = writer
        self._timeout = timeout
        self.extensions: dict[str, str] = {}

    @classmethod
    async def connect(
        cls,
        host: str,
        port: int,
        *,
        timeout: float,
        local_hostname: str,
        tls: ssl.SSLContext | None = None,
        starttls: ssl.SSLContext | None = None,
    ) -> SmtpClient:
        """Connect, read the greeting and introduce ourselves; ``tls`` for TLS from the first
        byte, ``starttls`` to upgrade before anything else is said (never skipped)."""
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_connection(
                host, port, ssl=tls, server_hostname=host if tls else None, limit=_LINE_LIMIT
            )
        client = cls(reader, writer, timeout)
        try:
            _expect(await client._reply(), 220)
            await client._hello(local_hostname)
            if starttls is not None:
                if "starttls" not in client.extensions:
                    raise ReplyError(Reply(0, "the server does not offer STARTTLS"))
                _expect(await client.command(b"STARTTLS"), 220)
                async with asyncio.timeout(timeout):
                    await writer.start_tls(starttls, server_hostname=host)
                await client._hello(local_hostname)
        except BaseException:
            client.close()
            raise
        return client

    @property
    def is_connected(self) -> bool:
        return not self._writer.is_closing() and not self._reader.at_eof()

    def supports(self, extension: str) -> bool:
        return extension.lower() in self.extensions

    async def login(self, username: str, password: str) -> None:
        """AUTH PLAIN, or LOGIN when that is all the server offers."""
        if "auth" not in self.extensions:
            raise AuthRefused(Reply(0, "the server does not offer AUTH on this connection"))
        offered = self.extensions["auth"].upper().split()
        if "PLAIN" in offered:
            token = _b64(f"\0{username}\0{password}")
            reply = await self.command(b"AUTH PLAIN " + token)
        elif "LOGIN" in offered:
            reply = await self.command(b"AUTH LOGIN")
            if reply.code == 334:
                reply = await self.command(_b64(username))
            if reply.code == 334:
                reply = await self.command(_b64(password))
        else:
            text = f"no AUTH mechanism in common (the server offers {' '.join(offered)})"
            raise AuthRefused(Reply(0, text))
        if reply.code != 235:
            raise AuthRefused(reply)

    async def transaction(
        self, sender: bytes, recipients: list[bytes], message: bytes, options: bytes = b""
    ) -> Outcome:
        """MAIL FROM, a RCPT TO per recipient, DATA and the message when any recipient was
        taken; pipelined when the server offers PIPELINING. The caller resets a refused one."""
        mail = b"MAIL FROM:<" + sender + b">" + (b" " + options if options else b"")
        rcpts = [b"RCPT TO:<" + r + b">" for r in recipients]
        for line in (mail, *rcpts):
            _check_line(line)
        pipelined = self.supports("pipelining")
        # RFC 2920 §3.1: DATA may end the group; the server refuses it (503/554) when no
        # recipient was taken, and its reply is then the message's.
        group = (mail, *rcpts, b"DATA") if pipelined else (mail,)
        self._writer.write(b"\r\n".join(group) + b"\r\n")
        try:
            first = await self._reply()
        except (Disconnected, OSError, TimeoutError) as exc:
            raise NotStarted(str(exc)) from exc
        if first.code == 421:
            self.close()
            raise NotStarted(str(first), reply=first)
        if pipelined:
            try:
                replies = [await self._reply() for _ in rcpts]
                data = await self._reply()
            except (Disconnected, OSError, TimeoutError):
                if first.code == 250:
                    raise
                self.close()  # refused at MAIL, then gone: the refusal is the answer
                return Outcome(first, [], None)
        else:
            if first.code != 250:
                return Outcome(first, [], None)
            replies = [await self.command(line) for line in rcpts]
            if not any(r.took_recipient for r in replies):
                return Outcome(first, replies, None)
            data = await self.command(b"DATA")
        if data.code != 354:
            return Outcome(first, replies, data)
        if first.code != 250 or not any(r.took_recipient for r in replies):
            # A server that should have refused DATA: end the empty message at once.
            self._writer.write(b".\r\n")
            await self._reply()
            return Outcome(first, replies, None)
        self._writer.write(_data_block(message))
        async with asyncio.timeout(self._timeout):
            await self._writer.drain()
        return Outcome(first, replies, await self._reply())

    async def reset(self) -> None:
        _expect(await self.command(b"RSET"), 250)

    async def quit(self) -> None:
        try:
            await self.command(b"QUIT")
        finally:
            self.close()

    def close(self) -> None:
        self._writer.close()

    async def command(self, line: bytes) -> Reply:
        _check_line(line)
        self._writer.write(line + b"\r\n")
        return await self._reply()

    async def _hello(self, local_hostname: str) -> None:
        name = local_hostname.encode("ascii", "replace")
        reply = await self.command(b"EHLO " + name)
        if reply.code == 250:
            self.extensions = _extensions(reply.text)
            return
        self.extensions = {}
        _expect(await self.command(b"HELO " + name), 250)

    async def _reply(self) -> Reply:
        """The next reply, its lines gathered (``250-…`` continues, ``250 …`` ends)."""
        lines: list[str] = []
        async with asyncio.timeout(self._timeout):
            while True:
                try:
                    line = await self._reader.readline()
                except ValueError as exc:  # a line past _LINE_LIMIT: no server sends one
                    raise ReplyError(Reply(0, "the server's reply is too long")) from exc
                if not line.endswith(b"\n"):
                    raise Disconnected("the server closed the connection")
                code, more, text = line[:3], line[3:4], line[4:].strip()
                if not code.isdigit() or more not in (b"-", b" ", b"\r", b"\n"):
                    raise ReplyError(Reply(0, f"malformed reply: {line[:200]!r}"))
                lines.append(text.decode("utf-8", "replace"))
                if more != b"-":
                    return Reply(int(code), "\n".join(lines))


def _expect(reply: Reply, code: int) -> None:
    if reply.code != code:
        raise ReplyError(reply)


def _extensions(text: str) -> dict[str, str]:
    """EHLO's keywords (lower-cased) and their parameters; the first line is a greeting."""
    found = {}
    for line in text.split("\n")[1:]:
        keyword, _, params = line.strip().partition(" ")
        if keyword:
            found[keyword.lower()] = params
    return found


def _data_block(message: bytes) -> bytes:
    """The message as DATA carries it: CRLF line ends, leading dots doubled, the final dot."""
    body = message
    # Stored messages already end their lines in CRLF, and few lines start with a dot: the
    # counts (C loops) rule the regex passes out for most messages at a fraction of their cost.
    crlf = body.count(b"\r\n")
    if body.count(b"\n") != crlf or body.count(b"\r") != crlf:
        body = _LONE_LINE_END.sub(b"\r\n", body)
    if body.startswith(b".") or b"\n." in body:
        body = _LEADING_DOT.sub(b"..", body)
    if not body.endswith(b"\r\n"):
        body += b"\r\n"
    return body + b".\r\n"


def _check_line(line: bytes) -> None:
    # Addresses are validated long before, but a CR or LF here would start a new command.
    if b"\r" in line or b"\n" in line:
        raise ValueError("an SMTP command must be a single line")


def _b64(text: str) -> bytes:
    return base64.b64encode(text.encode("utf-8"))
