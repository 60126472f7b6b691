"""Inbound mail: who may receive, and storing accepted messages durably.

The SMTP listener asks ``check_recipient`` at RCPT time (so unknown users are refused before
any data is sent, RFC 5321 §3.3) and hands the bytes to ``accept_message`` at DATA time. The
message is committed before the listener answers 250; events go out after the commit.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from agentpost.domain.addresses import is_valid_address, normalize
from agentpost.domain.folders import INBOX
from agentpost.domain.mime import parse_message
from agentpost.errors import AgentNotFound, Forbidden, InvalidInput, MailboxFull
from agentpost.services.accounts import now_utc
from agentpost.services.context import AppContext
from agentpost.services.events import Event
from agentpost.services.store import StoredCopy, store_copy
from agentpost.storage.records import AgentRecord
from agentpost.storage.repositories import accounts as account_repo
from agentpost.storage.repositories import messages as message_repo


class RelayDenied(Forbidden):
    """A recipient outside our domain: we are not an open relay (RFC 5321 §3.6.2)."""

    code = "relay_denied"


@dataclass(frozen=True, slots=True)
class Delivered:
    copies: list[StoredCopy]
    message_id: str


async def check_recipient(ctx: AppContext, address: str, *, size_hint: int = 0) -> AgentRecord:
    """The agent that receives mail for ``address``, or the reason it cannot."""
    address = normalize(address)
    if not is_valid_address(address):
        raise InvalidInput(f"invalid recipient address: {address!r}", field="recipient")
    domain = address.rpartition("@")[2]
    if domain != ctx.settings.domain:
        raise RelayDenied(f"relaying to {domain} is not allowed; this server only receives mail")
    local = address.rpartition("@")[0].split("+", 1)[0]  # name+tag@domain reaches name
    async with ctx.db.read() as conn:
        agent = await account_repo.agent_by_address(conn, f"{local}@{domain}")
    if agent is None:
        raise AgentNotFound(f"no mailbox for {address}")
    if agent.used_bytes + size_hint > ctx.settings.mailbox_quota_bytes:
        raise MailboxFull(f"the mailbox of {agent.address} is full")
    return agent


def new_mail_event(copy: StoredCopy, subject: str, sender: str, message_id: str) -> Event:
    return Event(
        agent_id=copy.agent_id,
        type="new",
        data={
            "uid": copy.uid,
            "folder": copy.folder,
            "subject": subject,
            "from": sender,
            "messageId": message_id,
        },
    )


async def accept_message(ctx: AppContext, raw: bytes, agents: list[AgentRecord]) -> Delivered:
    """Store ``raw`` in the INBOX of each agent, in one transaction, then announce it."""
    received = now_utc()
    # Parsing is CPU work on untrusted input: keep it off the event loop so a pathological
    # message cannot stall the HTTP API sharing this loop.
    parsed = await asyncio.to_thread(parse_message, raw, fallback_date=received)
    unique = {a.id: a for a in agents}
    async with ctx.db.write() as conn:
        blob_id = await message_repo.insert_blob(conn, raw)
        copies = [
            await store_copy(
                conn,
                ctx.db.dialect,
                agent_id=agent.id,
                folder=INBOX,
                blob_id=blob_id,
                size=len(raw),
                parsed=parsed,
                received_at=received,
                seen=False,
                direction="in",
            )
            for agent in unique.values()
        ]
    ctx.events.publish_all(
        [
            new_mail_event(c, parsed.subject, parsed.from_addr.address, parsed.message_id)
            for c in copies
        ]
    )
    return Delivered(copies=copies, message_id=parsed.message_id)
