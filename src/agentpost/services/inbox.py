"""Inbound mail: who may receive, and storing accepted messages durably.

The SMTP listener asks ``check_recipient`` at RCPT time (so unknown users are refused before
any data is sent, RFC 5321 §3.3) and hands the bytes to ``accept_message`` at DATA time. The
message is committed before the listener answers 250; events go out after the commit.

A busy listener uses the same two through ``RecipientCache`` (lookups remembered for a second)
and ``GroupCommitter`` (concurrent deliveries share one transaction). ``parse_for_index`` is
the bounded parse every stored message goes through, inbound or sent.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncConnection

from agentpost.domain.addresses import is_valid_address, normalize
from agentpost.domain.mime import ParsedMessage, parse_message
from agentpost.errors import AgentNotFound, Forbidden, InvalidInput, MailboxFull
from agentpost.services import offload, placement
from agentpost.services.accounts import now_utc
from agentpost.services.context import AppContext
from agentpost.services.events import Event
from agentpost.services.group_commit import GroupCommit, on_running_loop
from agentpost.services.store import CopySpec, StoredCopy, store_copies
from agentpost.storage.records import AgentRecord
from agentpost.storage.repositories import accounts as account_repo
from agentpost.storage.repositories import messages as message_repo
from agentpost.storage.search import MAX_INDEXED_BODY


class RelayDenied(Forbidden):
    """A recipient outside our domain: we are not an open relay (RFC 5321 §3.6.2)."""

    code = "relay_denied"


@dataclass(frozen=True, slots=True)
class Delivered:
    copies: list[StoredCopy]
    message_id: str


async def check_recipient(ctx: AppContext, address: str, *, size_hint: int = 0) -> AgentRecord:
    """The agent that receives mail for ``address``, or the reason it cannot."""
    agent = await find_recipient(ctx, address)
    check_quota(ctx, agent, size_hint)
    return agent


async def find_recipient(ctx: AppContext, address: str) -> AgentRecord:
    """The agent whose mailbox ``address`` reaches; the quota is not looked at."""
    address = normalize(address)
    if not is_valid_address(address):
        raise InvalidInput(f"invalid recipient address: {address!r}", field="recipient")
    domain = address.rpartition("@")[2]
    if domain != ctx.settings.domain:
        raise RelayDenied(f"relaying to {domain} is not allowed; this server only receives mail")
    async with ctx.db.read() as conn:
        agent = await account_repo.agent_by_address(conn, mailbox_address(address))
    if agent is None:
        raise AgentNotFound(f"no mailbox for {address}")
    return agent


def check_quota(ctx: AppContext, agent: AgentRecord, size_hint: int) -> None:
    if agent.used_bytes + size_hint > ctx.settings.mailbox_quota_bytes:
        raise MailboxFull(f"the mailbox of {agent.address} is full")


class RecipientCache:
    """``check_recipient`` for a busy listener: found agents are remembered for ``ttl`` seconds.

    A flood to one agent then costs one lookup a second, not one per message (a third of the
    CPU of a small delivery). Deliveries through this cache update its quota figures; changes
    made elsewhere (another process's deliveries, a deleted agent) are seen up to ``ttl`` late.
    Mail for an agent deleted in that window fails at DATA with a temporary error, and the
    client's retry is refused at RCPT. Refusals are never cached.
    """

    MAX_ENTRIES = 10_000

    def __init__(self, ctx: AppContext, *, ttl: float = 1.0) -> None:
        self._ctx = ctx
        self._ttl = ttl
        self._entries: dict[str, tuple[float, AgentRecord]] = {}

    async def check(self, address: str, *, size_hint: int = 0) -> AgentRecord:
        key = mailbox_address(address)  # one entry per mailbox: name+tag@ and NAME@ share it
        now = time.monotonic()
        entry = self._entries.get(key)
        if entry is None or entry[0] < now:
            if len(self._entries) >= self.MAX_ENTRIES:
                self._entries.clear()
            entry = (now + self._ttl, await find_recipient(self._ctx, address))
            self._entries[key] = entry
        check_quota(self._ctx, entry[1], size_hint)
        return entry[1]

    def delivered(self, agents: list[AgentRecord], size: int) -> None:
        """Count a stored message against the cached quota figures of its agents."""
        for agent in {a.id: a for a in agents}.values():
            entry = self._entries.get(agent.address)
            if entry is not None:
                grown = replace(entry[1], used_bytes=entry[1].used_bytes + size)
                self._entries[agent.address] = (entry[0], grown)


def mailbox_address(address: str) -> str:
    """The agent address that receives ``address``: ``name+tag@domain`` reaches ``name@domain``
    (sub-addressing, RFC 5233)."""
    local, _, domain = normalize(address).rpartition("@")
    return f"{local.split('+', 1)[0]}@{domain}"


# Parsing is pure Python under the GIL: more parsers at once add no throughput, but each one
# more is another thread the event loop must win the GIL from. Waiting threads hold no GIL.
PARSERS = 2
_PARSE_SLOTS = threading.BoundedSemaphore(PARSERS)


def parse_for_index(raw: bytes, *, received: datetime) -> ParsedMessage:
    """``parse_message`` for storing: at most PARSERS at once, bodies cut to what the search
    index keeps. CPU-bound: call it in a thread."""
    with _PARSE_SLOTS:
        return for_index(parse_message(raw, fallback_date=received))


def for_index(parsed: ParsedMessage) -> ParsedMessage:
    """``parsed`` with its bodies cut to what the search index keeps (changed in place)."""
    parsed.text = parsed.text[:MAX_INDEXED_BODY]
    parsed.html = parsed.html[:MAX_INDEXED_BODY]
    return parsed


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


@dataclass(slots=True)
class _Inbound:
    """One accepted message on its way to storage."""

    raw: bytes
    parsed: ParsedMessage
    inspection: placement.Inspection
    agents: list[AgentRecord]
    received: datetime


def _parse_and_inspect(
    raw: bytes, received: datetime
) -> tuple[ParsedMessage, placement.Inspection]:
    parsed = parse_for_index(raw, received=received)
    return parsed, placement.inspect(raw, parsed)


async def _prepare(raw: bytes, agents: list[AgentRecord]) -> _Inbound:
    received = now_utc()
    # Parsing and content checks are CPU work on untrusted input: a big (or pathological)
    # message goes off the event loop so it cannot stall the HTTP API sharing this loop.
    parsed, inspection = await offload.run_sized(len(raw), _parse_and_inspect, raw, received)
    return _Inbound(raw, parsed, inspection, agents, received)


async def _store(
    ctx: AppContext, conn: AsyncConnection, group: list[_Inbound]
) -> list[list[StoredCopy]]:
    """Write messages into the mailboxes of each of their agents, inside the caller's
    transaction: one blob per message, one copy per distinct agent (in the folder placement
    chooses, INBOX unless filtered), all in a few batched statements."""
    blob_ids = await message_repo.insert_blobs(conn, [item.raw for item in group])
    specs: list[CopySpec] = []
    places: list[placement.Placement] = []
    owners: list[int] = []  # which message each spec belongs to
    for position, (item, blob_id) in enumerate(zip(group, blob_ids, strict=True)):
        for agent in {a.id: a for a in item.agents}.values():
            place = await placement.place(ctx, conn, agent.id, item.parsed, item.inspection)
            specs.append(
                CopySpec(
                    agent_id=agent.id,
                    folder=place.folder,
                    blob_id=blob_id,
                    size=len(item.raw),
                    parsed=item.parsed,
                    received_at=item.received,
                    seen=place.seen,
                    direction="in",
                )
            )
            places.append(place)
            owners.append(position)
    stored = await store_copies(conn, ctx.db.dialect, specs)
    result: list[list[StoredCopy]] = [[] for _ in group]
    for position, copy in zip(owners, stored, strict=True):
        result[position].append(copy)
    inspections = [group[position].inspection for position in owners]
    await placement.after_store_many(ctx, conn, list(zip(stored, places, inspections, strict=True)))
    return result


def _announce(ctx: AppContext, item: _Inbound, copies: list[StoredCopy]) -> Delivered:
    parsed = item.parsed
    sender = parsed.from_addr.address
    ctx.events.publish_all(
        [new_mail_event(c, parsed.subject, sender, parsed.message_id) for c in copies]
    )
    return Delivered(copies=copies, message_id=parsed.message_id)


async def accept_message(ctx: AppContext, raw: bytes, agents: list[AgentRecord]) -> Delivered:
    """Store ``raw`` in the INBOX of each agent, in one transaction, then announce it."""
    item = await _prepare(raw, agents)
    async with ctx.db.write() as conn:
        [copies] = await _store(ctx, conn, [item])
    return _announce(ctx, item, copies)


class GroupCommitter:
    """``accept_message`` for a busy listener: group commit (services/group_commit.py).

    Deliveries that arrive while a transaction is being written go to disk together in the
    next one; every message is still acknowledged only after the commit that holds it, and a
    group that fails is retried message by message.
    """

    def __init__(self, ctx: AppContext, *, max_messages: int = 64, max_bytes: int = 32 << 20):
        self._ctx = ctx
        self._limits = {"max_items": max_messages, "max_bytes": max_bytes}
        self._groups: GroupCommit[_Inbound, list[StoredCopy]] | None = None

    async def accept(self, raw: bytes, agents: list[AgentRecord]) -> Delivered:
        item = await _prepare(raw, agents)
        self._groups = on_running_loop(self._groups, self._ctx.db, self._write, **self._limits)
        copies = await self._groups.submit(item, size=len(raw))
        return _announce(self._ctx, item, copies)

    async def _write(
        self, conn: AsyncConnection, group: Sequence[_Inbound]
    ) -> list[list[StoredCopy]]:
        return await _store(self._ctx, conn, list(group))
