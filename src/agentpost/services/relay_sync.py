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
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncConnection

from agentpost.domain import relay as rules
from agentpost.domain.mime import ParsedMessage
from agentpost.domain.relay import Route
from agentpost.services import placement
from agentpost.services.accounts import now_utc
from agentpost.services.context import AppContext
from agentpost.services.events import Event
from agentpost.services.inbox import new_mail_event, parse_for_index
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


@dataclass(frozen=True, slots=True)
class ImportOutcome:
    uid: int
    route: Route
    agent_id: str | None
    copy: StoredCopy | None  # None: skipped (own send, duplicate, no agent) or already done


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
    """Store ``item`` for ``agent_id`` through placement, unless the agent already has it."""
    message_id = item.parsed.message_id
    if message_id and await repo.has_inbound(conn, agent_id, message_id):
        return None
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
        route, agent_id = Route.SKIP, None
        if not await repo.was_imported(conn, account_id, uid_validity, item.uid):
            route, agent_id = await choose_agent(conn, account, item)
            if agent_id is not None:
                copy = await store_for_agent(ctx, conn, agent_id, item)
            await repo.record_import(
                conn,
                ImportRow(
                    account_id,
                    uid_validity,
                    item.uid,
                    agent_id,
                    item.parsed.message_id,
                    route.value if copy is not None or agent_id is None else Route.SKIP.value,
                    now,
                ),
            )
        await repo.update_account(
            conn,
            account_id,
            last_seen_uid=item.uid,
            imported_count=account.imported_count + (1 if copy else 0),
        )
    announce(ctx, item, copy)
    return ImportOutcome(item.uid, route, agent_id, copy)


async def skip_missing(ctx: AppContext, account_id: str, uid_validity: int, uid: int) -> None:
    """A UID that vanished between SEARCH and FETCH (expunged): move past it."""
    async with ctx.db.write() as conn:
        account = await repo.account_by_id(conn, account_id, for_update=True)
        if account and account.uid_validity == uid_validity and uid > account.last_seen_uid:
            await repo.update_account(conn, account_id, last_seen_uid=uid)


async def import_manual(
    ctx: AppContext, account: RelayAccountRecord, uid_validity: int, agent_id: str, item: Prepared
) -> StoredCopy | None:
    """import_relay_email: ``item`` into ``agent_id``'s mailbox; None if it already has it.
    The poller's high-water mark is left alone; ``relay_imports`` stops it importing the
    same UID again."""
    async with ctx.db.write() as conn:
        copy = await store_for_agent(ctx, conn, agent_id, item)
        if not await repo.was_imported(conn, account.id, uid_validity, item.uid):
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
