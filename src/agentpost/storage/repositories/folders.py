"""Folders, their UID counters, and the one order their rows are locked in (``lock_folders``)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from agentpost.storage.records import FolderRecord
from agentpost.storage.tables import folders


def _folder(row: RowMapping) -> FolderRecord:
    return FolderRecord(
        id=int(row["id"]),
        agent_id=row["agent_id"],
        name=row["name"],
        special_use=row["special_use"],
        uid_next=int(row["uid_next"]),
        uid_validity=int(row["uid_validity"]),
        message_count=int(row["message_count"]),
        unseen_count=int(row["unseen_count"]),
    )


async def insert_folder(
    conn: AsyncConnection,
    *,
    agent_id: str,
    name: str,
    special_use: str | None,
    uid_validity: int,
    now: datetime,
) -> FolderRecord:
    result = await conn.execute(
        insert(folders)
        .values(
            agent_id=agent_id,
            name=name,
            special_use=special_use,
            uid_next=1,
            uid_validity=uid_validity,
            created_at=now,
        )
        .returning(*folders.c)
    )
    return _folder(result.mappings().one())


async def folder_by_name(conn: AsyncConnection, agent_id: str, name: str) -> FolderRecord | None:
    result = await conn.execute(
        select(folders).where(folders.c.agent_id == agent_id, folders.c.name == name)
    )
    row = result.mappings().first()
    return _folder(row) if row else None


async def folder_by_name_ci(conn: AsyncConnection, agent_id: str, name: str) -> FolderRecord | None:
    """Case-insensitive lookup, used only to refuse names that differ just by case."""
    result = await conn.execute(
        select(folders).where(
            folders.c.agent_id == agent_id, func.lower(folders.c.name) == name.lower()
        )
    )
    row = result.mappings().first()
    return _folder(row) if row else None


async def list_folders(conn: AsyncConnection, agent_id: str) -> list[FolderRecord]:
    result = await conn.execute(
        select(folders).where(folders.c.agent_id == agent_id).order_by(folders.c.id)
    )
    return [_folder(r) for r in result.mappings()]


async def lock_folders(conn: AsyncConnection, folder_ids: list[int]) -> None:
    """Lock the rows of the folders a write will touch, before it touches them or their
    messages.

    Writing a message writes its folder's row too: the next UID, and the counters, from the
    triggers on ``messages`` (migration 0002) once the message row is locked. So on
    PostgreSQL every writer takes folder rows first and in one order, (agent id, name), the
    order services/store.py reserves UIDs in (it learns folder ids only from that), or it
    could deadlock with a writer going the other way (services/send_locks.py). ``COLLATE
    "C"`` sorts by code point, as Python sorts str, whatever the database's collation.
    SQLite's single writer has no order to keep."""
    if conn.dialect.name == "sqlite" or not folder_ids:
        return
    query = (
        select(folders.c.id)
        .where(folders.c.id.in_(sorted(set(folder_ids))))
        .order_by(folders.c.agent_id.collate("C"), folders.c.name.collate("C"))
        .with_for_update()
    )
    await conn.execute(query)


async def allocate_uid(conn: AsyncConnection, folder_id: int) -> int:
    """Take the folder's next UID; the UPDATE's row lock makes it safe across processes."""
    return await allocate_uids(conn, folder_id, 1)


async def allocate_uids(conn: AsyncConnection, folder_id: int, count: int) -> int:
    """Take ``count`` consecutive UIDs in one statement; returns the first."""
    result = await conn.execute(
        update(folders)
        .where(folders.c.id == folder_id)
        .values(uid_next=folders.c.uid_next + count)
        .returning(folders.c.uid_next)
    )
    return int(result.scalar_one()) - count


# Every stored message runs it: built once (building costs more than running it).
_RESERVE = (
    update(folders)
    .where(folders.c.agent_id == bindparam("p_agent"), folders.c.name == bindparam("p_name"))
    .values(uid_next=folders.c.uid_next + bindparam("p_count"))
    .returning(folders.c.id, folders.c.uid_next)
)


async def reserve_uids(
    conn: AsyncConnection, agent_id: str, name: str, count: int
) -> tuple[int, int] | None:
    """Take ``count`` UIDs in the agent's folder ``name`` with one statement; returns
    (folder id, first UID), or None when there is no such folder. Locks the folder's row:
    a writer reserving in several folders calls it sorted by (agent id, name), the order
    of ``lock_folders``."""
    result = await conn.execute(_RESERVE, {"p_agent": agent_id, "p_name": name, "p_count": count})
    row = result.first()
    return (int(row[0]), int(row[1]) - count) if row else None
