"""Loop protection: a reply budget per thread and counterparty, and stamping agent mail.

Two agents, or an agent and an auto-responder, can answer each other forever. Every send is
logged per recipient (``reply_log``); a reply (a message with In-Reply-To) to a counterparty
that already got ``reply_loop_limit`` replies in the same thread within the window is refused
with 429 ``reply_loop``, inside the send's transaction, so nothing is stored or queued. The
owner is told once per thread and counterparty per window: an audit row ``loop.stopped``, an
event for the agent's streams, and a mail to the owner's address when one is set. Rows older
than the window are pruned now and then (each counterparty's newest row is kept: it tells
first contact, services/trust.py).

Mail submitted over SMTP arrives as the client built it; ``stamp`` adds the RFC 3834 headers
that ``domain.mime.build_message`` puts on API-built mail when the client did not set them.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncConnection

from agentpost.domain.addresses import Address, normalize
from agentpost.domain.mime import LOOP_HEADERS, ParsedMessage
from agentpost.domain.scanning.headers import header_fields
from agentpost.errors import AgentPostError, ReplyLoop
from agentpost.services import audit
from agentpost.services.accounts import now_utc
from agentpost.services.audit import AuditEntry
from agentpost.services.context import AppContext
from agentpost.services.events import Event
from agentpost.storage.records import AgentRecord
from agentpost.storage.repositories import scanning as scan_repo
from agentpost.storage.repositories.scanning import ReplyLogEntry

log = logging.getLogger(__name__)
NOTIFIED = "!notified:"  # reply_log thread-key prefix marking "owner told" for a thread
PRUNE_EVERY = 64  # sends per prune of the agent's reply_log, on average


def stamp(raw: bytes) -> bytes:
    """``raw`` with Auto-Submitted and X-Auto-Response-Suppress added where missing."""
    present = header_fields(raw)
    missing = [
        f"{name}: {value}\r\n".encode()
        for name, value in LOOP_HEADERS
        if name.lower() not in present
    ]
    return b"".join(missing) + raw if missing else raw


def thread_key(parsed: ParsedMessage) -> str:
    """The thread a message belongs to: its root (first References entry, RFC 5322 §3.6.4),
    else what it answers, else itself."""
    if parsed.references:
        return parsed.references[0]
    return parsed.in_reply_to or parsed.message_id or "(none)"


async def check(
    ctx: AppContext,
    conn: AsyncConnection,
    agent: AgentRecord,
    parsed: ParsedMessage,
    envelope: list[Address],
    earlier: Sequence[ReplyLogEntry] = (),
) -> None:
    """Refuse a reply over budget (``ReplyLoop``). Reads only: ``log_sends`` counts the
    send. ``earlier``: sends of the same transaction not logged yet (a group of sends)."""
    if not parsed.in_reply_to:
        return
    key = thread_key(parsed)
    since = now_utc() - timedelta(seconds=ctx.settings.reply_loop_window_seconds)
    limit = ctx.settings.reply_loop_limit
    for party in _parties(envelope):
        pending = sum(
            1
            for e in earlier
            if e.is_reply and (e.agent_id, e.thread_key) == (agent.id, key)
            and party in e.counterparties
        )  # fmt: skip
        if pending + await scan_repo.replies_since(conn, agent.id, party, key, since) >= limit:
            raise ReplyLoop(
                f"reply loop stopped: {limit} replies to {party} in this thread within "
                f"{ctx.settings.reply_loop_window_seconds // 60} minutes already; this looks "
                "like two mailers answering each other. Your owner has been told. Do not "
                "reply again automatically; wait, or ask your owner.",
                field="to",
                retry_after=ctx.settings.reply_loop_window_seconds,
                party=party,
                thread=key,
            )


def log_entry(agent: AgentRecord, parsed: ParsedMessage, envelope: list[Address]) -> ReplyLogEntry:
    """What ``log_sends`` records of a send that ``check`` let through."""
    return ReplyLogEntry(
        agent.id, _parties(envelope), thread_key(parsed), bool(parsed.in_reply_to), now_utc()
    )


async def log_sends(
    ctx: AppContext, conn: AsyncConnection, entries: Sequence[ReplyLogEntry]
) -> None:
    """Log sends per recipient, in one statement."""
    # Rows older than the window no longer count against any budget; they only cost space.
    # Prune each agent's own now and then (as services/permissions does with its send log),
    # not on every send.
    window = timedelta(seconds=ctx.settings.reply_loop_window_seconds)
    for agent_id in sorted({e.agent_id for e in entries}):
        if secrets.randbelow(PRUNE_EVERY) == 0:
            await scan_repo.prune_reply_log(conn, agent_id, now_utc() - window)
    await scan_repo.log_sends(conn, entries)


def _parties(envelope: list[Address]) -> list[str]:
    return sorted({normalize(a.address) for a in envelope})


async def tell_owner(ctx: AppContext, agent: AgentRecord, exc: ReplyLoop) -> None:
    """After a refused reply: audit row, event and owner mail, once per thread and party."""
    since = now_utc() - timedelta(seconds=ctx.settings.reply_loop_window_seconds)
    marker = NOTIFIED + exc.thread
    async with ctx.db.write() as conn:
        if await scan_repo.replies_since(conn, agent.id, exc.party, marker, since) > 0:
            return
        entry = ReplyLogEntry(agent.id, [exc.party], marker, True, now_utc())
        await scan_repo.log_sends(conn, [entry])
        await audit.record(
            ctx,
            conn,
            AuditEntry(
                "loop.stopped",
                status="refused",
                owner_id=agent.owner_id,
                agent_id=agent.id,
                recipients=1,
                error=exc.code,
                detail={"counterparty": exc.party, "thread": exc.thread},
            ),
        )
        owner_email = await scan_repo.owner_email(conn, agent.owner_id)
    ctx.events.publish(
        Event(agent.id, "loop.stopped", {"counterparty": exc.party, "thread": exc.thread})
    )
    if owner_email:
        await _mail_owner(ctx, agent, owner_email, exc, now_utc())


async def _mail_owner(
    ctx: AppContext, agent: AgentRecord, to: str, exc: ReplyLoop, at: datetime
) -> None:
    # Imported here: outbox calls this module inside every send.
    from agentpost.services import outbox

    text = (
        f"Your agent {agent.name} <{agent.address}> tried to send more than "
        f"{ctx.settings.reply_loop_limit} replies to {exc.party} in one thread within "
        f"{ctx.settings.reply_loop_window_seconds // 60} minutes. AgentPost refused the reply "
        f"at {at:%Y-%m-%d %H:%M} UTC to stop a possible mail loop (two agents, or an agent and "
        "an auto-responder, answering each other).\n\n"
        f"Thread: {exc.thread}\n\nCheck the conversation in the agent's Sent folder. Replies "
        "are allowed again once the window has passed."
    )
    request = outbox.SendRequest(
        to=to, subject=f"[AgentPost] Mail loop stopped: {agent.name}", text=text, signature=False
    )
    try:
        await outbox.submit_message(ctx, agent, request)
    except AgentPostError as error:  # the audit row and event already went out
        log.warning("could not mail the owner about a reply loop: %s", error.code)
