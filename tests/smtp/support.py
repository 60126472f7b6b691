"""Helpers for the SMTP tests: a stdlib smtplib client run in a thread, messages, mailboxes."""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from anyio import to_thread
from sqlalchemy import func, select

from agentpost.services import mailbox
from agentpost.services.context import AppContext
from agentpost.smtp.tls import CERT_FILE
from agentpost.storage.records import AgentRecord, MessageRecord
from agentpost.storage.tables import message_blobs, messages

T = TypeVar("T")
Reply = tuple[int, bytes]


@dataclass(frozen=True)
class Agent:
    record: AgentRecord
    key: str

    @property
    def address(self) -> str:
        return self.record.address


def message(
    *,
    sender: str = "carol@example.com",
    to: str = "alice@localhost",
    subject: str = "Hello",
    body: bytes = b"Hi there.\r\n",
    headers: Sequence[str] = (),
) -> bytes:
    lines = [f"From: {sender}", f"To: {to}", f"Subject: {subject}", *headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def session(port: int, steps: Callable[[smtplib.SMTP], T]) -> T:
    """Run ``steps`` against a fresh connection, in a thread (smtplib blocks)."""

    def run() -> T:
        with smtplib.SMTP("127.0.0.1", port, timeout=60) as client:
            return steps(client)

    return await to_thread.run_sync(run)


def transaction(
    client: smtplib.SMTP,
    sender: str,
    recipients: Sequence[str],
    raw: bytes,
    mail_options: Sequence[str] = (),
) -> list[Reply]:
    """MAIL, each RCPT and (if any recipient was taken) DATA; every reply, in order."""
    client.ehlo_or_helo_if_needed()
    replies = [client.mail(sender, list(mail_options))]
    replies += [client.rcpt(r) for r in recipients]
    if replies[0][0] == 250 and any(code == 250 for code, _ in replies[1:]):
        replies.append(client.data(raw))
    else:
        client.rset()
    return replies


async def send(port: int, sender: str, recipients: Sequence[str], raw: bytes) -> list[Reply]:
    return await session(port, lambda c: transaction(c, sender, recipients, raw))


def client_tls(ctx: AppContext) -> ssl.SSLContext:
    """A client context that trusts the listener's self-signed certificate."""
    return ssl.create_default_context(cafile=str(ctx.settings.data_dir / CERT_FILE))


async def folder(ctx: AppContext, agent: Agent, name: str = "INBOX") -> list[MessageRecord]:
    page = await mailbox.list_folder(ctx, agent.record, name, limit=1000, offset=0)
    return page.messages


async def raw_message(ctx: AppContext, agent: Agent, uid: int, name: str = "INBOX") -> bytes:
    return await mailbox.read_raw(ctx, agent.record, uid, name)


async def stored_counts(ctx: AppContext) -> tuple[int, int]:
    """(messages, blobs) in the whole database: what a refused message must not add to."""
    async with ctx.db.read() as conn:
        rows = await conn.execute(select(func.count()).select_from(messages))
        blobs = await conn.execute(select(func.count()).select_from(message_blobs))
        return int(rows.scalar_one()), int(blobs.scalar_one())


def code_and_text(reply: Reply) -> str:
    return f"{reply[0]} {reply[1].decode(errors='replace')}"
