"""Searching the relay account's mailbox and importing one message from it by UID.

search_emails with ``searchRelay`` and import_relay_email reach mail the poller has not
imported (mail older than the connection, or skipped). An agent sees only the relay messages
that would be routed to it (its sub-address, a thread it started, or everything unroutable if
it is the default agent), so connecting an owner's account never lets one agent read another's
mail; an owner or the master key sees every hit. Headers are read with ``BODY.PEEK`` and
nothing on the relay account is changed.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from agentpost.domain import relay as rules
from agentpost.domain.addresses import Address
from agentpost.domain.mime import parse_message
from agentpost.errors import InvalidInput, RelayMessageNotFound
from agentpost.relay.imap import HeaderHit, ImapFailure, ImapSession, open_session
from agentpost.services import placement, relay, relay_sync
from agentpost.services.accounts import Principal
from agentpost.services.context import AppContext
from agentpost.storage.records import AgentRecord
from agentpost.storage.repositories import accounts as account_repo
from agentpost.storage.repositories import relay as repo
from agentpost.storage.repositories.relay import RelayAccountRecord

MAX_HITS = 50


@dataclass(frozen=True, slots=True)
class RelayQuery:
    from_: str | None = None
    to: str | None = None
    subject: str | None = None
    text: str | None = None
    since: str | None = None
    before: str | None = None
    seen: bool | None = None
    limit: int = 20


@dataclass(frozen=True, slots=True)
class RelayHit:
    uid: int
    account: str
    message_id: str
    subject: str
    from_: list[Address]
    to: list[Address]
    date: datetime
    flags: list[str]
    size: int
    agent: str | None  # the agent it routes to (name), None when nobody
    imported: bool


@dataclass(frozen=True, slots=True)
class RelayImport:
    uid: int  # the local UID in the agent's INBOX (or folder placement chose)
    folder: str
    relay_uid: int
    already: bool


def _day(value: str | None, name: str) -> date | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value.strip().replace("Z", "+00:00")).date()
    except ValueError:
        raise InvalidInput(
            f"{name} must be an ISO 8601 date such as 2026-11-01", field=name
        ) from None


def criteria_of(query: RelayQuery) -> list[Any]:
    """IMAP SEARCH keys (RFC 3501 §6.4.4); several keys all have to match."""
    keys: list[Any] = []
    for key, value in (
        ("FROM", query.from_),
        ("TO", query.to),
        ("SUBJECT", query.subject),
        ("TEXT", query.text),
    ):
        if value:
            keys += [key, value]
    since, before = _day(query.since, "since"), _day(query.before, "before")
    if since:
        keys += ["SINCE", since]
    if before:
        keys += ["BEFORE", before]
    if query.seen is not None:
        keys.append("SEEN" if query.seen else "UNSEEN")
    return keys or ["ALL"]


async def _open(ctx: AppContext, account: RelayAccountRecord) -> tuple[ImapSession, int]:
    try:
        session = await asyncio.to_thread(open_session, relay.imap_endpoint(ctx, account))
    except ImapFailure as exc:
        raise relay.check_failed("IMAP", exc.kind, exc.message, account.provider) from None
    try:
        state = await asyncio.to_thread(session.select, account.mailbox)
    except ImapFailure as exc:
        await asyncio.to_thread(session.close)
        raise relay.check_failed("IMAP", exc.kind, exc.message, account.provider) from None
    return session, state.uid_validity


def _prepared(uid: int, raw: bytes) -> relay_sync.Prepared:
    parsed = parse_message(raw)
    return relay_sync.Prepared(uid, raw, parsed, placement.Inspection(), rules.header_fields(raw))


async def search_relay(ctx: AppContext, principal: Principal, query: RelayQuery) -> list[RelayHit]:
    """The newest matches in the relay account's mailbox that the caller may see."""
    account = await relay.get_account(ctx, principal.owner_id)
    keys = criteria_of(query)
    session, validity = await _open(ctx, account)
    try:
        found = await asyncio.to_thread(session.search, keys, MAX_HITS * 4)
    except ImapFailure as exc:
        raise relay.check_failed("IMAP", exc.kind, exc.message, account.provider) from None
    finally:
        await asyncio.to_thread(session.close)
    hits: list[RelayHit] = []
    async with ctx.db.read() as conn:
        for item in found:
            hit = await _hit(ctx, conn, account, validity, item, principal.agent)
            if hit is not None:
                hits.append(hit)
            if len(hits) >= min(query.limit, MAX_HITS):
                break
    return hits


async def _hit(
    ctx: AppContext,
    conn: Any,
    account: RelayAccountRecord,
    validity: int,
    item: HeaderHit,
    caller: AgentRecord | None,
) -> RelayHit | None:
    prepared = await asyncio.to_thread(_prepared, item.uid, item.header)
    _route, agent_id = await relay_sync.choose_agent(conn, account, prepared)
    if caller is not None and agent_id != caller.id:
        return None
    imported = await repo.was_imported(conn, account.id, validity, item.uid)
    if not imported and agent_id and prepared.parsed.message_id:
        imported = await repo.has_inbound(conn, agent_id, prepared.parsed.message_id)
    parsed = prepared.parsed
    name = None
    if agent_id is not None:
        agent = await account_repo.agent_by_id(conn, agent_id)
        name = agent.name if agent else None
    return RelayHit(
        uid=item.uid,
        account=account.email,
        message_id=parsed.message_id,
        subject=parsed.subject,
        from_=[parsed.from_addr] if parsed.from_addr.address else [],
        to=parsed.to,
        date=parsed.date,
        flags=item.flags,
        size=item.size,
        agent=name,
        imported=imported,
    )


async def import_relay(ctx: AppContext, agent: AgentRecord, relay_uid: int) -> RelayImport:
    """Import relay message ``relay_uid`` into ``agent``'s mailbox (once)."""
    if relay_uid < 1:
        raise InvalidInput("uid must be a positive relay UID from search_emails", field="uid")
    account = await relay.get_account(ctx, agent.owner_id)
    session, validity = await _open(ctx, account)
    try:
        raw = await asyncio.to_thread(session.fetch_raw, relay_uid)
    except ImapFailure as exc:
        raise relay.check_failed("IMAP", exc.kind, exc.message, account.provider) from None
    finally:
        await asyncio.to_thread(session.close)
    missing = RelayMessageNotFound(
        f"no relay message with UID {relay_uid} for you; search_emails with searchRelay "
        "lists the ones you can import"
    )
    if raw is None:
        raise missing
    item = await relay_sync.prepare(relay_uid, raw)
    async with ctx.db.read() as conn:
        _route, agent_id = await relay_sync.choose_agent(conn, account, item)
    if agent_id != agent.id:
        raise missing
    copy = await relay_sync.import_manual(ctx, account, validity, agent.id, item)
    if copy is None:
        return await _existing(ctx, agent, item, relay_uid)
    return RelayImport(uid=copy.uid, folder=copy.folder, relay_uid=relay_uid, already=False)


async def _existing(
    ctx: AppContext, agent: AgentRecord, item: relay_sync.Prepared, relay_uid: int
) -> RelayImport:
    async with ctx.db.read() as conn:
        found = await repo.inbound_copy(conn, agent.id, item.parsed.message_id)
    if found is None:  # deleted in between: a new import will store it again
        raise RelayMessageNotFound("the imported copy is gone; try the import again")
    uid, folder = found
    return RelayImport(uid=uid, folder=folder, relay_uid=relay_uid, already=True)
