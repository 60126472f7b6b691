"""Relay accounts, their IMAP sync state and the log of imported relay messages."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, delete, insert, select, update
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from agentpost.storage.records import utc
from agentpost.storage.tables import agents, folders, messages
from agentpost.storage.tables.relay import relay_accounts, relay_imports


@dataclass(frozen=True, slots=True)
class RelayAccountRecord:
    id: str
    owner_id: str
    provider: str
    email: str
    smtp_config_id: str | None
    imap_host: str
    imap_port: int
    imap_security: str
    imap_username: str
    imap_password: str  # a vault token, never the password itself
    mailbox: str
    default_agent_id: str | None
    uid_validity: int | None
    last_seen_uid: int
    status: str
    last_error: str | None
    last_sync_at: datetime | None
    imported_count: int
    created_at: datetime
    updated_at: datetime


def _account(row: RowMapping) -> RelayAccountRecord:
    validity = row["uid_validity"]
    return RelayAccountRecord(
        id=row["id"],
        owner_id=row["owner_id"],
        provider=row["provider"],
        email=row["email"],
        smtp_config_id=row["smtp_config_id"],
        imap_host=row["imap_host"],
        imap_port=int(row["imap_port"]),
        imap_security=row["imap_security"],
        imap_username=row["imap_username"],
        imap_password=row["imap_password"],
        mailbox=row["mailbox"],
        default_agent_id=row["default_agent_id"],
        uid_validity=int(validity) if validity is not None else None,
        last_seen_uid=int(row["last_seen_uid"] or 0),
        status=row["status"],
        last_error=row["last_error"],
        last_sync_at=utc(row["last_sync_at"]) if row["last_sync_at"] else None,
        imported_count=int(row["imported_count"] or 0),
        created_at=utc(row["created_at"]),
        updated_at=utc(row["updated_at"]),
    )


async def insert_account(conn: AsyncConnection, values: dict[str, Any]) -> None:
    await conn.execute(insert(relay_accounts).values(**values))


async def update_account(conn: AsyncConnection, account_id: str, **values: Any) -> None:
    await conn.execute(
        update(relay_accounts).where(relay_accounts.c.id == account_id).values(**values)
    )


async def delete_account(conn: AsyncConnection, account_id: str) -> None:
    await conn.execute(delete(relay_accounts).where(relay_accounts.c.id == account_id))


_BY_OWNER = select(relay_accounts).where(relay_accounts.c.owner_id == bindparam("p_owner"))


async def account_by_owner(conn: AsyncConnection, owner_id: str) -> RelayAccountRecord | None:
    # Every external send asks (for the From rewrite): the statement is built once.
    result = await conn.execute(_BY_OWNER, {"p_owner": owner_id})
    row = result.mappings().first()
    return _account(row) if row else None


async def account_by_id(
    conn: AsyncConnection, account_id: str, *, for_update: bool = False
) -> RelayAccountRecord | None:
    query = select(relay_accounts).where(relay_accounts.c.id == account_id)
    if for_update:  # PostgreSQL: one importer per account at a time (SQLite ignores it)
        query = query.with_for_update()
    row = (await conn.execute(query)).mappings().first()
    return _account(row) if row else None


async def all_accounts(conn: AsyncConnection) -> list[RelayAccountRecord]:
    result = await conn.execute(select(relay_accounts).order_by(relay_accounts.c.created_at))
    return [_account(row) for row in result.mappings()]


async def was_imported(conn: AsyncConnection, account_id: str, validity: int, uid: int) -> bool:
    result = await conn.execute(
        select(relay_imports.c.id).where(
            relay_imports.c.account_id == account_id,
            relay_imports.c.uid_validity == validity,
            relay_imports.c.uid == uid,
        )
    )
    return result.first() is not None


@dataclass(frozen=True, slots=True)
class ImportRow:
    account_id: str
    uid_validity: int
    uid: int
    agent_id: str | None
    message_id: str
    route: str
    imported_at: datetime


async def record_import(conn: AsyncConnection, row: ImportRow) -> None:
    await conn.execute(
        insert(relay_imports).values(
            account_id=row.account_id,
            uid_validity=row.uid_validity,
            uid=row.uid,
            agent_id=row.agent_id,
            message_id=row.message_id[:998],
            route=row.route,
            imported_at=row.imported_at,
        )
    )


async def import_route(
    conn: AsyncConnection, account_id: str, validity: int, uid: int
) -> str | None:
    """The recorded route of one relay UID, None if it was never imported."""
    result = await conn.execute(
        select(relay_imports.c.route).where(
            relay_imports.c.account_id == account_id,
            relay_imports.c.uid_validity == validity,
            relay_imports.c.uid == uid,
        )
    )
    found = result.scalar_one_or_none()
    return str(found) if found is not None else None


async def held_imports(
    conn: AsyncConnection, account_id: str, validity: int, route: str
) -> list[tuple[int, str | None]]:
    """(relay UID, agent id) of this epoch's imports recorded with ``route``, oldest first."""
    result = await conn.execute(
        select(relay_imports.c.uid, relay_imports.c.agent_id)
        .where(
            relay_imports.c.account_id == account_id,
            relay_imports.c.uid_validity == validity,
            relay_imports.c.route == route,
        )
        .order_by(relay_imports.c.uid)
    )
    return [(int(r[0]), r[1]) for r in result.all()]


async def update_import(
    conn: AsyncConnection,
    account_id: str,
    validity: int,
    uid: int,
    *,
    agent_id: str | None,
    route: str,
    at: datetime,
) -> None:
    await conn.execute(
        update(relay_imports)
        .where(
            relay_imports.c.account_id == account_id,
            relay_imports.c.uid_validity == validity,
            relay_imports.c.uid == uid,
        )
        .values(agent_id=agent_id, route=route, imported_at=at)
    )


async def sender_of(conn: AsyncConnection, owner_id: str, message_ids: Sequence[str]) -> str | None:
    """The owner's agent that sent one of ``message_ids`` (the newest such send)."""
    if not message_ids:
        return None
    result = await conn.execute(
        select(messages.c.agent_id)
        .join(agents, agents.c.id == messages.c.agent_id)
        .where(
            agents.c.owner_id == owner_id,
            messages.c.direction == "out",
            messages.c.message_id.in_(list(message_ids)),
        )
        .order_by(messages.c.id.desc())
        .limit(1)
    )
    found = result.scalar_one_or_none()
    return str(found) if found is not None else None


async def has_inbound(conn: AsyncConnection, agent_id: str, message_id: str) -> bool:
    """Whether the agent already holds a received copy of ``message_id``."""
    result = await conn.execute(
        select(messages.c.id)
        .where(
            messages.c.agent_id == agent_id,
            messages.c.message_id == message_id,
            messages.c.direction == "in",
        )
        .limit(1)
    )
    return result.first() is not None


async def inbound_copy(
    conn: AsyncConnection, agent_id: str, message_id: str
) -> tuple[int, str] | None:
    """(UID, folder) of the agent's newest received copy of ``message_id``."""
    result = await conn.execute(
        select(messages.c.uid, folders.c.name)
        .join(folders, folders.c.id == messages.c.folder_id)
        .where(
            messages.c.agent_id == agent_id,
            messages.c.message_id == message_id,
            messages.c.direction == "in",
        )
        .order_by(messages.c.id.desc())
        .limit(1)
    )
    row = result.first()
    return (int(row[0]), str(row[1])) if row else None
