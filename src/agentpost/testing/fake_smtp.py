"""SMTP peers for outbound tests, both on 127.0.0.1 port 0.

``SmtpSink`` is a real SMTP server (aiosmtpd) that accepts everything and keeps what it got:
the success paths, connection reuse, STARTTLS. ``FakeRelay`` is a small hand-written server
whose replies are scripted command by command, for what a real server does only on a bad day:
421/451/550 replies, refusing some recipients, dropping the connection, or going silent.

Script tokens: an SMTP reply line such as ``"451 4.3.0 try later"``, ``DROP`` (close the
connection without answering) or ``STALL`` (never answer; ``stalled`` is set so a test can act
while the client waits).

``FakeRelay(pipelining=True)`` offers PIPELINING (RFC 2920) and holds its replies to MAIL and
RCPT until the client sends DATA (or any other command): a client that waited for each reply
before its next command would wait forever, so a test passing against it proves the client
pipelined. Like a real server, it answers RCPT after a refused MAIL with 503, and DATA with
554 when no recipient was taken.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections import defaultdict, deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from aiosmtpd import smtp as aiosmtpd_smtp

DROP = "DROP"
STALL = "STALL"
WAIT_SECONDS = 15.0


@dataclass(frozen=True, slots=True)
class Received:
    sender: str
    recipients: list[str]
    data: bytes


class _Collector:
    """Waitable list of received messages."""

    def __init__(self) -> None:
        self.messages: list[Received] = []
        self._changed = asyncio.Condition()

    async def add(self, item: Received) -> None:
        async with self._changed:
            self.messages.append(item)
            self._changed.notify_all()

    async def wait_for(self, count: int, timeout: float = WAIT_SECONDS) -> list[Received]:
        """Wait until at least ``count`` messages arrived; returns them all."""
        async with asyncio.timeout(timeout), self._changed:
            await self._changed.wait_for(lambda: len(self.messages) >= count)
        return list(self.messages)


class SmtpSink(_Collector):
    """aiosmtpd accepting every message; counts connections. Optional STARTTLS."""

    def __init__(self, tls_context: ssl.SSLContext | None = None) -> None:
        super().__init__()
        self.connections = 0
        self._tls = tls_context
        self._server: asyncio.Server | None = None
        self.port = 0

    async def handle_DATA(  # noqa: N802 (aiosmtpd's hook name)
        self, server: Any, session: aiosmtpd_smtp.Session, envelope: aiosmtpd_smtp.Envelope
    ) -> str:
        data = envelope.original_content or b""
        await self.add(Received(str(envelope.mail_from), list(envelope.rcpt_tos), data))
        return "250 2.0.0 OK queued"

    def _protocol(self) -> aiosmtpd_smtp.SMTP:
        self.connections += 1
        return aiosmtpd_smtp.SMTP(
            self,
            hostname="sink.test",
            tls_context=self._tls,
            require_starttls=self._tls is not None,
            decode_data=False,
        )

    async def start(self) -> SmtpSink:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(self._protocol, host="127.0.0.1", port=0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 5)


@dataclass
class Script:
    """Replies per verb (``connect``, ``EHLO``, ``MAIL``, ``RCPT``, ``DATA`` for the command,
    ``DOT`` for the end of the message), used in order; when a verb's list runs out, the
    usual success reply. ``rcpt`` answers by recipient address, ahead of ``RCPT``."""

    replies: dict[str, deque[str]] = field(default_factory=lambda: defaultdict(deque))
    rcpt: dict[str, str] = field(default_factory=dict)

    def add(self, verb: str, *lines: str) -> Script:
        self.replies[verb].extend(lines)
        return self

    def next(self, verb: str, default: str) -> str:
        queue = self.replies.get(verb)
        return queue.popleft() if queue else default


DEFAULTS = {
    "connect": "220 fake.relay ESMTP",
    "EHLO": "250-fake.relay\r\n250-8BITMIME\r\n250 SIZE 52428800",
    "HELO": "250 fake.relay",
    "MAIL": "250 2.1.0 OK",
    "RCPT": "250 2.1.5 OK",
    "DATA": "354 End data with <CR><LF>.<CR><LF>",
    "DOT": "250 2.0.0 OK queued",
    "RSET": "250 2.0.0 OK",
    "NOOP": "250 2.0.0 OK",
    "QUIT": "221 2.0.0 Bye",
}


class _Hangup(Exception):
    pass


class FakeRelay(_Collector):
    """A scripted SMTP server. ``script`` can be changed between sends."""

    def __init__(self, script: Script | None = None, *, pipelining: bool = False) -> None:
        super().__init__()
        self.script = script or Script()
        self.pipelining = pipelining
        self.connections = 0
        self.commands: list[str] = []
        self.stalled = asyncio.Event()
        self._server: asyncio.Server | None = None
        self._sessions: set[asyncio.Task[Any]] = set()
        self.port = 0

    async def start(self) -> FakeRelay:
        self._server = await asyncio.start_server(self._session, host="127.0.0.1", port=0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def close(self) -> None:
        for task in list(self._sessions):
            task.cancel()
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 5)

    async def _say(self, writer: asyncio.StreamWriter, reply: str, held: list[str]) -> None:
        """Send the replies held back so far, then ``reply`` (or act on DROP and STALL)."""
        for line in held:
            writer.write(line.encode() + b"\r\n")
        held.clear()
        await writer.drain()
        if reply == DROP:
            raise _Hangup
        if reply == STALL:
            self.stalled.set()
            await asyncio.Event().wait()  # until the connection or the server is closed
        writer.write(reply.encode() + b"\r\n")
        await writer.drain()

    async def _answer_envelope(
        self, writer: asyncio.StreamWriter, reply: str, held: list[str]
    ) -> None:
        """A reply to MAIL or RCPT: held back until the group's end when pipelining."""
        if self.pipelining and reply not in (DROP, STALL):
            held.append(reply)
        else:
            await self._say(writer, reply, held)

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        task = asyncio.current_task()
        if task is not None:
            self._sessions.add(task)
        try:
            await self._say(writer, self.script.next("connect", DEFAULTS["connect"]), [])
            await self._commands(reader, writer)
        except (_Hangup, ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            if task is not None:
                self._sessions.discard(task)
            writer.close()

    async def _commands(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        sender, recipients, mail_taken = "", list[str](), False
        held: list[str] = []
        while line := (await reader.readline()).decode("utf-8", "replace").strip():
            self.commands.append(line)
            verb = line.split(" ", 1)[0].split(":", 1)[0].upper()
            if verb == "MAIL":
                sender, recipients = _address(line), []
                reply = self.script.next("MAIL", DEFAULTS["MAIL"])
                mail_taken = reply.startswith("2")
                await self._answer_envelope(writer, reply, held)
            elif verb == "RCPT":
                address = _address(line)
                reply = self.script.rcpt.get(address) or self.script.next("RCPT", DEFAULTS["RCPT"])
                if not mail_taken:
                    reply = "503 5.5.1 Error: need MAIL command"
                if reply.startswith("2"):
                    recipients.append(address)
                await self._answer_envelope(writer, reply, held)
            elif verb == "DATA":
                reply = self.script.next("DATA", DEFAULTS["DATA"])
                if reply.startswith("354") and not recipients:
                    reply = "554 5.5.1 Error: no valid recipients"
                await self._say(writer, reply, held)
                if not reply.startswith("354"):
                    continue
                data = await reader.readuntil(b"\r\n.\r\n")
                reply = self.script.next("DOT", DEFAULTS["DOT"])
                if reply.startswith("2"):
                    await self.add(Received(sender, recipients, data[:-5] + b"\r\n"))
                await self._say(writer, reply, held)
            else:
                if verb in ("RSET", "EHLO", "HELO"):
                    recipients, mail_taken = [], False
                default = DEFAULTS.get(verb, "502 5.5.2 ?")
                if verb == "EHLO" and self.pipelining:
                    default = default.replace("250-8BITMIME", "250-PIPELINING\r\n250-8BITMIME")
                await self._say(writer, self.script.next(verb, default), held)
                if verb == "QUIT":
                    return


def _address(line: str) -> str:
    start, end = line.find("<"), line.rfind(">")
    return line[start + 1 : end] if 0 <= start < end else ""


def recipients_of(messages: Iterable[Received]) -> list[str]:
    return sorted(r for m in messages for r in m.recipients)
