"""An agent's own mailbox: folders, listing, reading, flags, moving, deleting, searching.

Every call takes the calling agent and looks messages up only inside that agent's folders, so
one agent can never name, read or change another's mail: a foreign UID is simply not found.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import ColumnElement
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from agentpost.domain.folders import TRASH, FolderNameError, canonical_folder, check_folder_name
from agentpost.domain.mime import AttachmentInfo, ParsedMessage, attachment_bytes, parse_message
from agentpost.errors import (
    DeliveryPending,
    FolderExists,
    FolderNotFound,
    InvalidInput,
    MessageNotFound,
)
from agentpost.services.accounts import now_utc
from agentpost.services.context import AppContext
from agentpost.storage import search as fts
from agentpost.storage.records import AgentRecord, DeliveryRecord, FolderRecord, MessageRecord
from agentpost.storage.repositories import accounts as account_repo
from agentpost.storage.repositories import delivery as delivery_repo
from agentpost.storage.repositories import folders as folder_repo
from agentpost.storage.repositories import messages as repo
from agentpost.storage.repositories import scanning as scan_repo
from agentpost.storage.tables import messages

if TYPE_CHECKING:
    from agentpost.services.trust import TrustEnvelope

MAX_BATCH = 1000


@dataclass(frozen=True, slots=True)
class Page:
    folder: str
    messages: list[MessageRecord]
    total: int
    # Row id → (spam score, verdict) from the delivery-time scan, for the listed copies.
    scores: dict[int, tuple[int, str]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class FolderInfo:
    name: str
    special_use: str | None
    total: int
    unseen: int


@dataclass(frozen=True, slots=True)
class MessageView:
    """A message as read: its index record, parsed body and (for sent mail) deliveries."""

    record: MessageRecord
    parsed: ParsedMessage
    deliveries: list[DeliveryRecord]
    # The trust envelope (services/trust.py) when the view is handed to an agent to read.
    trust: TrustEnvelope | None = None


@dataclass(frozen=True, slots=True)
class SearchCriteria:
    text: fts.TextCriteria
    folder: str | None = None
    since: datetime | None = None
    before: datetime | None = None
    seen: bool | None = None


async def _folder(conn: AsyncConnection, agent: AgentRecord, name: str) -> FolderRecord:
    folder = await folder_repo.folder_by_name(conn, agent.id, canonical_folder(name))
    if folder is None:
        raise FolderNotFound(f'folder "{name}" does not exist; list_folders shows yours')
    return folder


def check_uids(uids: Sequence[object]) -> list[int]:
    """Batch UIDs: a non-empty list of positive integers, at most MAX_BATCH."""
    if not isinstance(uids, list | tuple) or not uids:
        raise InvalidInput("uids must be a non-empty list of positive integers", field="uids")
    if len(uids) > MAX_BATCH:
        raise InvalidInput(f"at most {MAX_BATCH} uids per call", field="uids")
    clean = []
    for uid in uids:
        if isinstance(uid, bool) or not isinstance(uid, int) or uid < 1:
            raise InvalidInput(f"uids must be positive integers; got {uid!r}", field="uids")
        clean.append(uid)
    return list(dict.fromkeys(clean))


async def list_folder(
    ctx: AppContext, agent: AgentRecord, folder: str, *, limit: int, offset: int
) -> Page:
    async with ctx.db.read() as conn:
        target = await _folder(conn, agent, folder)
        rows = await repo.page(conn, target.id, limit=limit, offset=offset)
        scores = await scan_repo.scores_of(conn, [r.id for r in rows])
    return Page(folder=target.name, messages=rows, total=target.message_count, scores=scores)


async def list_folders(ctx: AppContext, agent: AgentRecord) -> list[FolderInfo]:
    async with ctx.db.read() as conn:
        found = await folder_repo.list_folders(conn, agent.id)
    return [FolderInfo(f.name, f.special_use, f.message_count, f.unseen_count) for f in found]


async def create_folder(ctx: AppContext, agent: AgentRecord, name: str) -> FolderInfo:
    try:
        clean = check_folder_name(name)
    except FolderNameError as exc:
        raise InvalidInput(str(exc), field="name") from exc
    clean = canonical_folder(clean)
    try:
        async with ctx.db.write() as conn:
            if await folder_repo.folder_by_name_ci(conn, agent.id, clean) is not None:
                raise FolderExists(f'folder "{clean}" already exists')
            created = await folder_repo.insert_folder(
                conn,
                agent_id=agent.id,
                name=clean,
                special_use=None,
                uid_validity=int(now_utc().timestamp()),
                now=now_utc(),
            )
    except IntegrityError as exc:
        raise FolderExists(f'folder "{clean}" already exists') from exc
    return FolderInfo(created.name, None, 0, 0)


async def _load(conn: AsyncConnection, agent: AgentRecord, uid: int, folder: str) -> MessageRecord:
    target = await _folder(conn, agent, folder)
    record = await repo.get_by_uid(conn, target.id, uid)
    if record is None:
        raise MessageNotFound(f"no message with UID {uid} in {target.name}")
    return record


async def read_message(
    ctx: AppContext, agent: AgentRecord, uid: int, folder: str = "INBOX"
) -> MessageView:
    """Parse and return one message. Reading does not mark it seen (like IMAP BODY.PEEK)."""
    async with ctx.db.read() as conn:
        record = await _load(conn, agent, uid, folder)
        raw = await repo.read_blob(conn, record.blob_id)
        deliveries = await delivery_repo.deliveries_for(conn, record.id)
    parsed = await asyncio.to_thread(parse_message, raw, fallback_date=record.date)
    return MessageView(record=record, parsed=parsed, deliveries=deliveries)


async def read_raw(ctx: AppContext, agent: AgentRecord, uid: int, folder: str = "INBOX") -> bytes:
    async with ctx.db.read() as conn:
        record = await _load(conn, agent, uid, folder)
        return await repo.read_blob(conn, record.blob_id)


async def read_many(
    ctx: AppContext, agent: AgentRecord, uids: list[int], folder: str = "INBOX"
) -> list[MessageView]:
    """Several messages at once; UIDs that do not exist are left out. Unsanitised: what an
    agent reads goes through ``trust.read_many``, as a single read goes through
    ``trust.read_message``."""
    uids = check_uids(uids)
    async with ctx.db.read() as conn:
        target = await _folder(conn, agent, folder)
        records = await repo.get_by_uids(conn, target.id, uids)
        raws = [await repo.read_blob(conn, r.blob_id) for r in records]
    views = []
    for record, raw in zip(records, raws, strict=True):
        parsed = await asyncio.to_thread(parse_message, raw, fallback_date=record.date)
        views.append(MessageView(record=record, parsed=parsed, deliveries=[]))
    return views


async def get_attachment(
    ctx: AppContext, agent: AgentRecord, uid: int, index: int, folder: str = "INBOX"
) -> tuple[AttachmentInfo, bytes]:
    raw = await read_raw(ctx, agent, uid, folder)
    found = await asyncio.to_thread(attachment_bytes, raw, index)
    if found is None:
        raise MessageNotFound(f"message UID {uid} has no attachment number {index}")
    return found


async def set_seen(
    ctx: AppContext, agent: AgentRecord, uids: list[int], *, seen: bool, folder: str = "INBOX"
) -> list[int]:
    """Mark messages read or unread; returns the UIDs that existed."""
    uids = check_uids(uids)
    async with ctx.db.write() as conn:
        target = await _folder(conn, agent, folder)
        # The unseen counter's trigger writes the folder row: lock it before the messages.
        await folder_repo.lock_folders(conn, [target.id])
        records = await repo.get_by_uids(conn, target.id, uids)
        await repo.set_seen(conn, [r.id for r in records], seen)
    return [r.uid for r in records]


async def require_uid(
    ctx: AppContext, agent: AgentRecord, uid: int, folder: str = "INBOX"
) -> MessageRecord:
    async with ctx.db.read() as conn:
        return await _load(conn, agent, uid, folder)


async def move_messages(
    ctx: AppContext, agent: AgentRecord, uids: list[int], *, source: str, target: str
) -> dict[int, int]:
    """Move messages; returns old UID → new UID in the target folder (RFC 4315 COPYUID)."""
    uids = check_uids(uids)
    moved: dict[int, int] = {}
    async with ctx.db.write() as conn:
        src = await _folder(conn, agent, source)
        dst = await _folder(conn, agent, target)
        if src.id == dst.id:
            raise InvalidInput("source and target folder are the same", field="to")
        # Locked before the messages are read: none can leave the source meanwhile.
        await folder_repo.lock_folders(conn, [src.id, dst.id])
        for record in await repo.get_by_uids(conn, src.id, uids):
            new_uid = await folder_repo.allocate_uid(conn, dst.id)
            await repo.move(conn, record.id, dst.id, new_uid)
            moved[record.uid] = new_uid
    return moved


async def delete_messages(
    ctx: AppContext, agent: AgentRecord, uids: list[int], *, folder: str = "INBOX"
) -> list[int]:
    """Move to Trash; messages already in Trash are removed for good. Returns the UIDs hit."""
    uids = check_uids(uids)
    async with ctx.db.write() as conn:
        src = await _folder(conn, agent, folder)
        trash = src if src.name == TRASH else await _folder(conn, agent, TRASH)
        # Locked before the messages are read: none can leave the source meanwhile.
        await folder_repo.lock_folders(conn, [src.id, trash.id])
        records = await repo.get_by_uids(conn, src.id, uids)
        if src.id == trash.id:
            await expunge(conn, ctx.db.dialect, records)
        else:
            for record in records:
                await repo.move(
                    conn, record.id, trash.id, await folder_repo.allocate_uid(conn, trash.id)
                )
    return [r.uid for r in records]


async def expunge(conn: AsyncConnection, dialect: str, records: list[MessageRecord]) -> None:
    """Remove messages for good. Refuses (nothing removed) while any still has a delivery in
    flight: see ``check_no_live_deliveries``. The caller locked their folders' rows
    (``folder_repo.lock_folders``) before reading ``records``: the counters' trigger writes
    those rows once the message rows are locked."""
    await check_no_live_deliveries(conn, records)
    ids = [r.id for r in records]
    await fts.unindex_messages(conn, dialect, ids)
    await repo.delete_rows(conn, ids)
    await repo.delete_orphan_blobs(conn, [r.blob_id for r in records])
    by_agent: dict[str, int] = {}
    for record in records:
        by_agent[record.agent_id] = by_agent.get(record.agent_id, 0) + record.size
    for agent_id, size in by_agent.items():
        await account_repo.add_used_bytes(conn, agent_id, -size)


async def check_no_live_deliveries(conn: AsyncConnection, records: list[MessageRecord]) -> None:
    """Refuse to remove a Sent copy whose deliveries are still queued, sending or retrying.

    Delivery rows hang off the message row (ON DELETE CASCADE) and the worker reads the
    message through it, so removing the row would silently cancel mail the agent believes
    is on its way. Keeping the delivery alive without its row would need a second home for
    its blob, subject and Message-ID; refusing is simpler and tells the caller the truth:
    the delete can succeed as soon as delivery ends (delivered or failed), and an owner who
    wants the mail stopped cancels it explicitly with ``agentpost queue cancel``.
    """
    live = await delivery_repo.live_message_rows(conn, [r.id for r in records])
    if not live:
        return
    uids = sorted(r.uid for r in records if r.id in live)
    shown = ", ".join(str(u) for u in uids[:20]) + (" …" if len(uids) > 20 else "")
    raise DeliveryPending(
        f"UID {shown}: still being delivered (queued, sending or retrying); removing it now "
        "would cancel that delivery. Nothing was deleted. Try again once delivery has finished "
        "(get the message's delivery status to follow it), or ask the owner to cancel the "
        "delivery explicitly (agentpost queue cancel)"
    )


async def search_messages(
    ctx: AppContext, agent: AgentRecord, criteria: SearchCriteria, *, limit: int, offset: int
) -> tuple[list[MessageRecord], int]:
    """Full-text and field search, newest first. No criteria lists everything."""
    conditions: list[ColumnElement[bool]] = []
    async with ctx.db.read() as conn:
        if criteria.folder:
            target = await _folder(conn, agent, criteria.folder)
            conditions.append(messages.c.folder_id == target.id)
        match = fts.match_clause(ctx.db.dialect, criteria.text)
        if match is not None:
            conditions.append(match)
        if criteria.since is not None:
            conditions.append(messages.c.date >= criteria.since)
        if criteria.before is not None:
            conditions.append(messages.c.date < criteria.before)
        if criteria.seen is not None:
            conditions.append(messages.c.seen.is_(criteria.seen))
        return await repo.search(conn, agent.id, conditions, limit=limit, offset=offset)
