"""Importing relay mail: route each message to an agent and store it exactly once.

A message fetched from the relay account goes to, first hit wins:
1. the agent named by a sub-address (``user+agent@``) in To, Cc, Delivered-To, X-Original-To;
2. the agent that sent the message it answers (In-Reply-To, then References, newest first);
3. the account's default agent.
Copies of our own sends (From ``user+agent@``) are skipped. The raw bytes are stored exactly as
fetched, through the same placement path as SMTP inbound (spam, rules, tags).

Exactly once: the import, its ``relay_imports`` row and the account's ``last_seen_uid`` commit
in one transaction, after re-checking the high-water mark under the account's row lock, so two
pollers or a crash can neither lose nor double a message. A message whose Message-ID the agent
already holds is not stored again either.

Quota: the same rule as SMTP inbound (``inbox.check_quota``). A message for a full mailbox is
not stored; its ``relay_imports`` row says ``held`` (with an audit row ``relay.held``), the
high-water mark moves on so other agents' mail is not blocked behind it, and every later sync
tries the held messages again (``retry_held``) once the agent has room. The message itself
stays on the owner's account (the relay never changes it), so it is never lost.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncConnection

from agentpost.domain import relay as rules
from agentpost.domain.mime import ParsedMessage
from agentpost.domain.relay import Route
from agentpost.errors import MailboxFull
from agentpost.services import audit, placement
from agentpost.services.accounts import now_utc
from agentpost.services.audit import AuditEntry
from agentpost.services.context import AppContext
from agentpost.services.events import Event
from agentpost.services.inbox import check_quota, new_mail_event, parse_for_index
from agentpost.services.store import CopySpec, StoredCopy, store_copies
from agentpost.storage.repositories import accounts as account_repo
from agentpost.storage.repositories import messages as message_repo
from agentpost.storage.repositories import relay as repo
from agentpost.storage.repositories.relay import ImportRow, RelayAccountRecord


@dataclass(frozen=True, slots=True)
class Prepared:
    """A fetched message, parsed and inspected off the event loop."""

    uid: int
    raw: bytes
    parsed: ParsedMessage
    inspection: placement.Inspection
    headers: dict[str, list[str]]


HELD = "held"  # relay_imports.route of a message waiting for room in its agent's mailbox
Fetch = Callable[[int], Awaitable[bytes | None]]  # relay UID → its raw bytes, None if gone


@dataclass(frozen=True, slots=True)
class ImportOutcome:
    uid: int
    route: Route
    agent_id: str | None
    copy: StoredCopy | None  # None: skipped (own send, duplicate, no agent), held or done
    held: bool = False  # the agent's mailbox is full: kept on the account, retried later


def _prepare_sync(uid: int, raw: bytes) -> Prepared:
    parsed = parse_for_index(raw, received=now_utc())
    return Prepared(uid, raw, parsed, placement.inspect(raw, parsed), rules.header_fields(raw))


async def prepare(uid: int, raw: bytes) -> Prepared:
    # Untrusted input, CPU-bound parsing: keep it off the event loop.
    return await asyncio.to_thread(_prepare_sync, uid, raw)


async def choose_agent(
    conn: AsyncConnection, account: RelayAccountRecord, item: Prepared
) -> tuple[Route, str | None]:
    """Which of the owner's agents gets ``item``, and why."""
    if rules.is_own_send(account.email, item.headers.get("from", [])):
        return Route.SKIP, None
    tag = rules.subaddress_tag(account.email, item.headers)
    if tag:
        agent = await account_repo.agent_by_name(conn, tag)
        if agent is not None and agent.owner_id == account.owner_id:
            return Route.SUBADDRESS, agent.id
    parents = rules.thread_parents(item.parsed.in_reply_to, item.parsed.references)
    sender = await repo.sender_of(conn, account.owner_id, parents)
    if sender is not None:
        return Route.THREAD, sender
    if account.default_agent_id is not None:
        return Route.DEFAULT, account.default_agent_id
    return Route.SKIP, None


async def store_for_agent(
    ctx: AppContext, conn: AsyncConnection, agent_id: str, item: Prepared
) -> StoredCopy | None:
    """Store ``item`` for ``agent_id`` through placement, unless the agent already has it.
    Raises ``MailboxFull`` (before writing anything) when it would not fit."""
    message_id = item.parsed.message_id
    if message_id and await repo.has_inbound(conn, agent_id, message_id):
        return None
    agent = await account_repo.agent_by_id(conn, agent_id)
    if agent is None:  # deleted since routing chose it
        return None
    check_quota(ctx, agent, len(item.raw))
    blob_id = await message_repo.insert_blob(conn, item.raw)
    place = await placement.place(ctx, conn, agent_id, item.parsed, item.inspection)
    spec = CopySpec(
        agent_id=agent_id,
        folder=place.folder,
        blob_id=blob_id,
        size=len(item.raw),
        parsed=item.parsed,
        received_at=now_utc(),
        seen=place.seen,
        direction="in",
    )
    [copy] = await store_copies(conn, ctx.db.dialect, [spec])
    await placement.after_store(ctx, conn, copy, place, item.inspection)
    return copy


def announce(ctx: AppContext, item: Prepared, copy: StoredCopy | None) -> None:
    if copy is None:
        return
    parsed = item.parsed
    event: Event = new_mail_event(copy, parsed.subject, parsed.from_addr.address, parsed.message_id)
    ctx.events.publish_all([event])


async def import_next(
    ctx: AppContext, account_id: str, uid_validity: int, item: Prepared
) -> ImportOutcome | None:
    """Import the next message of the poll; None when someone else already did (or the
    account changed meanwhile). Must be called in UID order."""
    now = now_utc()
    async with ctx.db.write() as conn:
        account = await repo.account_by_id(conn, account_id, for_update=True)
        if account is None or account.uid_validity != uid_validity:
            return None
        if item.uid <= account.last_seen_uid:
            return None
        copy = None
        held = False
        route, agent_id = Route.SKIP, None
        if not await repo.was_imported(conn, account_id, uid_validity, item.uid):
            route, agent_id = await choose_agent(conn, account, item)
            if agent_id is not None:
                try:
                    copy = await store_for_agent(ctx, conn, agent_id, item)
                except MailboxFull:
                    held = True
            stored_route = route if copy is not None or agent_id is None else Route.SKIP
            await repo.record_import(
                conn,
                ImportRow(
                    account_id,
                    uid_validity,
                    item.uid,
                    agent_id,
                    item.parsed.message_id,
                    HELD if held else stored_route.value,
                    now,
                ),
            )
            if held and agent_id is not None:
                await _audit_held(ctx, conn, account, agent_id, item)
        await repo.update_account(
            conn,
            account_id,
            last_seen_uid=item.uid,
            imported_count=account.imported_count + (1 if copy else 0),
        )
    announce(ctx, item, copy)
    return ImportOutcome(item.uid, route, agent_id, copy, held)


async def _audit_held(
    ctx: AppContext,
    conn: AsyncConnection,
    account: RelayAccountRecord,
    agent_id: str,
    item: Prepared,
) -> None:
    entry = AuditEntry(
        "relay.held",
        status="refused",
        owner_id=account.owner_id,
        agent_id=agent_id,
        error=MailboxFull.code,
        detail={"relayUid": item.uid, "messageId": item.parsed.message_id, "size": len(item.raw)},
    )
    await audit.record(ctx, conn, entry)


async def retry_held(ctx: AppContext, account_id: str, uid_validity: int, fetch: Fetch) -> int:
    """Import this epoch's held messages whose agent has room again; returns how many.

    A message is fetched again only when its agent is below quota, so a mailbox that stays
    full costs one small query per sync, not a download per held message.
    """
    async with ctx.db.read() as conn:
        held = await repo.held_imports(conn, account_id, uid_validity, HELD)
        full = {a for _uid, a in held if a is not None and not await _has_room(ctx, conn, a)}
    imported = 0
    for uid, agent_id in held:
        if agent_id in full:
            continue
        raw = await fetch(uid)
        if raw is None:  # removed from the owner's mailbox meanwhile: nothing left to import
            await _settle_gone(ctx, account_id, uid_validity, uid)
            continue
        copy = await _import_held(ctx, account_id, uid_validity, await prepare(uid, raw))
        imported += copy is not None
    return imported


async def _has_room(ctx: AppContext, conn: AsyncConnection, agent_id: str) -> bool:
    agent = await account_repo.agent_by_id(conn, agent_id)
    return agent is None or agent.used_bytes < ctx.settings.mailbox_quota_bytes


async def _import_held(
    ctx: AppContext, account_id: str, uid_validity: int, item: Prepared
) -> StoredCopy | None:
    """One held message, routed afresh (the agent may have been deleted or a thread started
    meanwhile); still held if it does not fit yet."""
    copy = None
    async with ctx.db.write() as conn:
        account = await repo.account_by_id(conn, account_id, for_update=True)
        if account is None or account.uid_validity != uid_validity:
            return None
        if await repo.import_route(conn, account_id, uid_validity, item.uid) != HELD:
            return None  # another poller or a manual import settled it first
        route, agent_id = await choose_agent(conn, account, item)
        if agent_id is not None:
            try:
                copy = await store_for_agent(ctx, conn, agent_id, item)
            except MailboxFull:
                return None
        settled = route.value if copy is not None or agent_id is None else Route.SKIP.value
        await repo.update_import(
            conn, account_id, uid_validity, item.uid, agent_id=agent_id, route=settled, at=now_utc()
        )
        if copy is not None:
            await repo.update_account(conn, account_id, imported_count=account.imported_count + 1)
    announce(ctx, item, copy)
    return copy


async def _settle_gone(ctx: AppContext, account_id: str, validity: int, uid: int) -> None:
    async with ctx.db.write() as conn:
        if await repo.import_route(conn, account_id, validity, uid) == HELD:
            await repo.update_import(
                conn, account_id, validity, uid, agent_id=None, route=Route.SKIP.value, at=now_utc()
            )


async def skip_missing(ctx: AppContext, account_id: str, uid_validity: int, uid: int) -> None:
    """A UID that vanished between SEARCH and FETCH (expunged): move past it."""
    async with ctx.db.write() as conn:
        account = await repo.account_by_id(conn, account_id, for_update=True)
        if account and account.uid_validity == uid_validity and uid > account.last_seen_uid:
            await repo.update_account(conn, account_id, last_seen_uid=uid)


async def import_manual(
    ctx: AppContext, account: RelayAccountRecord, uid_validity: int, agent_id: str, item: Prepared
) -> StoredCopy | None:
    """import_relay_email: ``item`` into ``agent_id``'s mailbox; None if it already has it,
    ``MailboxFull`` if it does not fit. The poller's high-water mark is left alone;
    ``relay_imports`` stops it importing the same UID again (a held UID is settled here)."""
    async with ctx.db.write() as conn:
        copy = await store_for_agent(ctx, conn, agent_id, item)  # MailboxFull: the caller's
        route = await repo.import_route(conn, account.id, uid_validity, item.uid)
        if route == HELD:  # the poller held it for a full mailbox: this import settles it
            await repo.update_import(
                conn,
                account.id,
                uid_validity,
                item.uid,
                agent_id=agent_id,
                route=Route.MANUAL.value,
                at=now_utc(),
            )
        elif route is None:
            await repo.record_import(
                conn,
                ImportRow(
                    account.id,
                    uid_validity,
                    item.uid,
                    agent_id,
                    item.parsed.message_id,
                    Route.MANUAL.value,
                    now_utc(),
                ),
            )
    announce(ctx, item, copy)
    return copy


async def restart_epoch(
    ctx: AppContext, account_id: str, uid_validity: int, first_uid: int
) -> None:
    """The mailbox's UIDVALIDITY changed (RFC 3501 §2.3.1.1: every old UID is void): continue
    in the new epoch from ``first_uid``; Message-ID deduplication keeps re-seen mail out."""
    async with ctx.db.write() as conn:
        await repo.update_account(
            conn, account_id, uid_validity=uid_validity, last_seen_uid=max(first_uid - 1, 0)
        )
