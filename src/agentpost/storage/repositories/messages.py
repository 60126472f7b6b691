"""Messages, their raw blobs and their delivery rows."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Insert, Select, delete, func, insert, select, update
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from agentpost.storage import direct
from agentpost.storage import search as fts
from agentpost.storage.records import DeliveryRecord, MessageRecord, utc
from agentpost.storage.tables import (
    SEARCH_COLUMNS,
    deliveries,
    folders,
    message_blobs,
    messages,
)

_COLUMNS = [
    *(column for column in messages.c if column.name not in SEARCH_COLUMNS),
    folders.c.name.label("folder"),
]


def _message(row: RowMapping) -> MessageRecord:
    refs = row["references"]
    return MessageRecord(
        id=int(row["id"]),
        agent_id=row["agent_id"],
        folder_id=int(row["folder_id"]),
        folder=row["folder"],
        uid=int(row["uid"]),
        blob_id=int(row["blob_id"]),
        message_id=row["message_id"],
        in_reply_to=row["in_reply_to"],
        references=refs.split() if refs else [],
        thread_id=row["thread_id"],
        subject=row["subject"],
        from_addr=row["from_addr"],
        from_name=row["from_name"],
        to_addrs=list(row["to_addrs"] or []),
        cc_addrs=list(row["cc_addrs"] or []),
        reply_to=list(row["reply_to"] or []),
        date=utc(row["date"]),
        received_at=utc(row["received_at"]),
        size=int(row["size"]),
        flags=list(row["flags"] or []),
        seen=bool(row["seen"]),
        attachments=list(row["attachments"] or []),
        preview=row["preview"],
        direction=row["direction"],
    )


def _select() -> Select[Any]:
    return select(*_COLUMNS).join(folders, folders.c.id == messages.c.folder_id)


@dataclass(frozen=True, slots=True)
class NewMessage:
    """The indexed fields of one stored copy (see tables.messages)."""

    agent_id: str
    folder_id: int
    uid: int
    blob_id: int
    message_id: str
    in_reply_to: str | None
    references: list[str]
    thread_id: str
    subject: str
    from_addr: str
    from_name: str
    to_addrs: list[dict[str, str]]
    cc_addrs: list[dict[str, str]]
    reply_to: list[dict[str, str]]
    date: datetime
    received_at: datetime
    size: int
    seen: bool
    attachments: list[dict[str, Any]]
    preview: str
    direction: str


_INSERT_BLOBS = insert(message_blobs).returning(message_blobs.c.id, sort_by_parameter_order=True)


async def insert_blob(conn: AsyncConnection, raw: bytes) -> int:
    return (await insert_blobs(conn, [raw]))[0]


async def insert_blobs(conn: AsyncConnection, raws: Sequence[bytes]) -> list[int]:
    """Several blobs in one round trip; ids come back in input order."""
    rows = [{"raw": raw} for raw in raws]
    return await direct.insert_ids(conn, message_blobs, rows, statement=_INSERT_BLOBS)


async def read_blob(conn: AsyncConnection, blob_id: int) -> bytes:
    result = await conn.execute(select(message_blobs.c.raw).where(message_blobs.c.id == blob_id))
    return bytes(result.scalar_one())


async def delete_orphan_blobs(conn: AsyncConnection, blob_ids: Sequence[int]) -> None:
    for blob_id in set(blob_ids):
        still_used = select(messages.c.id).where(messages.c.blob_id == blob_id).exists()
        await conn.execute(delete(message_blobs).where(message_blobs.c.id == blob_id, ~still_used))


def _row(new: NewMessage) -> dict[str, Any]:
    return {
        "agent_id": new.agent_id,
        "folder_id": new.folder_id,
        "uid": new.uid,
        "blob_id": new.blob_id,
        "message_id": new.message_id,
        "in_reply_to": new.in_reply_to,
        "references": " ".join(new.references) or None,
        "thread_id": new.thread_id,
        "subject": new.subject,
        "from_addr": new.from_addr,
        "from_name": new.from_name,
        "to_addrs": new.to_addrs,
        "cc_addrs": new.cc_addrs,
        "reply_to": new.reply_to,
        "date": new.date,
        "received_at": new.received_at,
        "size": new.size,
        "flags": [],
        "seen": new.seen,
        "attachments": new.attachments,
        "preview": new.preview,
        "direction": new.direction,
    }


async def insert_message(
    conn: AsyncConnection, dialect: str, new: NewMessage, doc: fts.SearchDocument
) -> int:
    """Insert one stored copy with its full-text entry; returns the row id."""
    return (await insert_messages(conn, dialect, [(new, doc)]))[0]


@functools.cache
def _insert_statement(dialect: str) -> Insert:
    """The message INSERT (ids in input order), built once per dialect: every stored copy
    runs one, and building it costs more than running it."""
    statement = insert(messages).values(fts.row_binds(dialect))
    return statement.returning(messages.c.id, sort_by_parameter_order=True)


async def insert_messages(
    conn: AsyncConnection, dialect: str, items: Sequence[tuple[NewMessage, fts.SearchDocument]]
) -> list[int]:
    """Insert stored copies with their full-text entries in one round trip each; returns the
    row ids in input order. Batching matters: a busy listener stores groups of messages."""
    rows = [{**_row(new), **fts.row_params(dialect, doc)} for new, doc in items]
    row_ids = await direct.insert_ids(conn, messages, rows, statement=_insert_statement(dialect))
    await fts.index_rows(
        conn, dialect, [(i, doc) for i, (_, doc) in zip(row_ids, items, strict=True)]
    )
    return row_ids


async def thread_of(conn: AsyncConnection, agent_id: str, message_ids: list[str]) -> str | None:
    """The thread of the newest known message among ``message_ids`` (parents first)."""
    if not message_ids:
        return None
    result = await conn.execute(
        select(messages.c.thread_id)
        .where(messages.c.agent_id == agent_id, messages.c.message_id.in_(message_ids))
        .order_by(messages.c.id.desc())
        .limit(1)
    )
    return result.scalar_one_or_none()


async def get_by_uid(conn: AsyncConnection, folder_id: int, uid: int) -> MessageRecord | None:
    result = await conn.execute(
        _select().where(messages.c.folder_id == folder_id, messages.c.uid == uid)
    )
    row = result.mappings().first()
    return _message(row) if row else None


async def get_by_uids(
    conn: AsyncConnection, folder_id: int, uids: Sequence[int]
) -> list[MessageRecord]:
    if not uids:
        return []
    result = await conn.execute(
        _select()
        .where(messages.c.folder_id == folder_id, messages.c.uid.in_(sorted(set(uids))))
        .order_by(messages.c.uid)
    )
    return [_message(r) for r in result.mappings()]


async def page(
    conn: AsyncConnection, folder_id: int, *, limit: int, offset: int
) -> list[MessageRecord]:
    """Newest first by UID (arrival order), like an IMAP client shows a folder."""
    result = await conn.execute(
        _select()
        .where(messages.c.folder_id == folder_id)
        .order_by(messages.c.uid.desc())
        .limit(limit)
        .offset(offset)
    )
    return [_message(r) for r in result.mappings()]


async def search(
    conn: AsyncConnection,
    agent_id: str,
    conditions: list[ColumnElement[bool]],
    *,
    limit: int,
    offset: int,
) -> tuple[list[MessageRecord], int]:
    where = [messages.c.agent_id == agent_id, *conditions]
    newest_first = (messages.c.date.desc(), messages.c.id.desc())
    # One pass over the matches gives the page's ids and the total (a window count); only then
    # are the page's wide rows read. Sorting thousands of full rows, or matching twice, would
    # cost more than the search itself.
    page = await conn.execute(
        select(messages.c.id, func.count().over())
        .where(*where)
        .order_by(*newest_first)
        .limit(limit)
        .offset(offset)
    )
    hits = page.all()
    if not hits:
        if offset == 0:
            return [], 0
        total = await conn.execute(select(func.count()).select_from(messages).where(*where))
        return [], int(total.scalar_one())
    rows = await conn.execute(
        _select().where(messages.c.id.in_([int(h[0]) for h in hits])).order_by(*newest_first)
    )
    return [_message(r) for r in rows.mappings()], int(hits[0][1])


async def set_seen(conn: AsyncConnection, row_ids: Sequence[int], seen: bool) -> None:
    if row_ids:
        await conn.execute(update(messages).where(messages.c.id.in_(row_ids)).values(seen=seen))


async def set_flags(conn: AsyncConnection, row_id: int, flags: list[str]) -> None:
    await conn.execute(update(messages).where(messages.c.id == row_id).values(flags=flags))


async def move(conn: AsyncConnection, row_id: int, folder_id: int, uid: int) -> None:
    """Re-home a message; it takes a new UID in the target folder (RFC 6851 MOVE)."""
    await conn.execute(
        update(messages).where(messages.c.id == row_id).values(folder_id=folder_id, uid=uid)
    )


async def delete_rows(conn: AsyncConnection, row_ids: Sequence[int]) -> None:
    ids = list(row_ids)
    for start in range(0, len(ids), 500):  # SQLite caps bound parameters per statement
        await conn.execute(delete(messages).where(messages.c.id.in_(ids[start : start + 500])))


@dataclass(frozen=True, slots=True)
class NewDeliveries:
    """The delivery rows of one stored message: (recipient, kind local|external, status) per
    recipient; external rows go out through ``config_id`` (None: the owner's default, chosen
    at delivery)."""

    message_row_id: int
    agent_id: str
    items: list[tuple[str, str, str]]
    at: datetime
    config_id: str | None = None


async def insert_deliveries(conn: AsyncConnection, messages_: Sequence[NewDeliveries]) -> None:
    """The delivery rows of several messages, in one statement."""
    rows = [
        {
            "message_row_id": new.message_row_id,
            "agent_id": new.agent_id,
            "recipient": recipient,
            "kind": kind,
            "status": status,
            "config_id": new.config_id if kind == "external" else None,
            "attempts": 0,
            "last_error": None,
            "created_at": new.at,
            "updated_at": new.at,
            "next_attempt_at": new.at,  # the column's default, set here so the row is plain
        }
        for new in messages_
        for recipient, kind, status in new.items
    ]
    await direct.insert(conn, deliveries, rows)


async def deliveries_for(conn: AsyncConnection, message_row_id: int) -> list[DeliveryRecord]:
    result = await conn.execute(
        select(deliveries)
        .where(deliveries.c.message_row_id == message_row_id)
        .order_by(deliveries.c.id)
    )
    return [
        DeliveryRecord(
            id=int(r["id"]),
            message_row_id=int(r["message_row_id"]),
            recipient=r["recipient"],
            kind=r["kind"],
            status=r["status"],
            attempts=int(r["attempts"]),
            last_error=r["last_error"],
            created_at=utc(r["created_at"]),
            updated_at=utc(r["updated_at"]),
        )
        for r in result.mappings()
    ]


async def purge_agent(conn: AsyncConnection, dialect: str, agent_id: str) -> None:
    """Remove every message, search entry and unshared blob of an agent."""
    result = await conn.execute(
        select(messages.c.id, messages.c.blob_id).where(messages.c.agent_id == agent_id)
    )
    rows = result.all()
    row_ids = [int(r[0]) for r in rows]
    await fts.unindex_messages(conn, dialect, row_ids)
    await conn.execute(delete(deliveries).where(deliveries.c.agent_id == agent_id))
    await delete_rows(conn, row_ids)
    await delete_orphan_blobs(conn, [int(r[1]) for r in rows])
