"""Owners, agents and server state."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, delete, func, insert, select, update
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from agentpost.storage.records import AgentRecord, OwnerRecord, utc
from agentpost.storage.tables import agents, owners, server_state

_AGENT_COLUMNS = [c for c in agents.c if c.name not in ("key_hash", "name_key")]


def _agent(row: RowMapping) -> AgentRecord:
    return AgentRecord(
        id=row["id"],
        owner_id=row["owner_id"],
        name=row["name"],
        address=row["address"],
        role=row["role"],
        metadata=dict(row["metadata"] or {}),
        persistent=bool(row["persistent"]),
        used_bytes=int(row["used_bytes"]),
        created_at=utc(row["created_at"]),
        updated_at=utc(row["updated_at"]),
        last_activity_at=utc(row["last_activity_at"]) if row["last_activity_at"] else None,
    )


def _owner(row: RowMapping) -> OwnerRecord:
    return OwnerRecord(
        id=row["id"],
        name=row["name"],
        email=row["email"],
        is_default=bool(row["is_default"]),
        created_at=utc(row["created_at"]),
    )


async def get_state(conn: AsyncConnection, key: str) -> str | None:
    result = await conn.execute(select(server_state.c.value).where(server_state.c.key == key))
    return result.scalar_one_or_none()


async def set_state(conn: AsyncConnection, key: str, value: str) -> None:
    await conn.execute(delete(server_state).where(server_state.c.key == key))
    await conn.execute(insert(server_state).values(key=key, value=value))


async def insert_owner(
    conn: AsyncConnection,
    *,
    id: str,
    name: str,
    email: str | None,
    key_hash: str | None,
    is_default: bool,
    now: datetime,
) -> None:
    await conn.execute(
        insert(owners).values(
            id=id, name=name, email=email, key_hash=key_hash, is_default=is_default, created_at=now
        )
    )


async def default_owner(conn: AsyncConnection) -> OwnerRecord | None:
    result = await conn.execute(select(owners).where(owners.c.is_default.is_(True)))
    row = result.mappings().first()
    return _owner(row) if row else None


async def owner_by_key_hash(conn: AsyncConnection, key_hash: str) -> OwnerRecord | None:
    result = await conn.execute(select(owners).where(owners.c.key_hash == key_hash))
    row = result.mappings().first()
    return _owner(row) if row else None


async def owner_by_id(conn: AsyncConnection, owner_id: str) -> OwnerRecord | None:
    result = await conn.execute(select(owners).where(owners.c.id == owner_id))
    row = result.mappings().first()
    return _owner(row) if row else None


async def set_owner_key_hash(conn: AsyncConnection, owner_id: str, key_hash: str) -> bool:
    """Replace an owner's key; False when no such owner exists (any more)."""
    result = await conn.execute(
        update(owners).where(owners.c.id == owner_id).values(key_hash=key_hash)
    )
    return result.rowcount == 1


async def list_owners(conn: AsyncConnection) -> list[OwnerRecord]:
    result = await conn.execute(select(owners).order_by(owners.c.created_at))
    return [_owner(r) for r in result.mappings()]


async def insert_agent(conn: AsyncConnection, *, key_hash: str, record: AgentRecord) -> None:
    await conn.execute(
        insert(agents).values(
            id=record.id,
            owner_id=record.owner_id,
            name=record.name,
            name_key=record.name.lower(),
            address=record.address.lower(),
            role=record.role,
            key_hash=key_hash,
            metadata=record.metadata,
            persistent=record.persistent,
            used_bytes=0,
            created_at=record.created_at,
            updated_at=record.updated_at,
            last_activity_at=record.last_activity_at,
        )
    )


# Every authenticated request and every send looks an agent up: built once.
_BY_KEY_HASH = select(*_AGENT_COLUMNS).where(agents.c.key_hash == bindparam("p_hash"))
_BY_ID = select(*_AGENT_COLUMNS).where(agents.c.id == bindparam("p_id"))


async def agent_by_key_hash(conn: AsyncConnection, key_hash: str) -> AgentRecord | None:
    result = await conn.execute(_BY_KEY_HASH, {"p_hash": key_hash})
    row = result.mappings().first()
    return _agent(row) if row else None


async def agent_by_id(conn: AsyncConnection, agent_id: str) -> AgentRecord | None:
    result = await conn.execute(_BY_ID, {"p_id": agent_id})
    row = result.mappings().first()
    return _agent(row) if row else None


async def agent_by_name(conn: AsyncConnection, name: str) -> AgentRecord | None:
    result = await conn.execute(select(*_AGENT_COLUMNS).where(agents.c.name_key == name.lower()))
    row = result.mappings().first()
    return _agent(row) if row else None


async def agent_by_address(conn: AsyncConnection, address: str) -> AgentRecord | None:
    result = await conn.execute(select(*_AGENT_COLUMNS).where(agents.c.address == address.lower()))
    row = result.mappings().first()
    return _agent(row) if row else None


async def agents_by_addresses(conn: AsyncConnection, addresses: list[str]) -> list[AgentRecord]:
    if not addresses:
        return []
    lowered = sorted({a.lower() for a in addresses})
    result = await conn.execute(select(*_AGENT_COLUMNS).where(agents.c.address.in_(lowered)))
    return [_agent(r) for r in result.mappings()]


async def list_agents(conn: AsyncConnection, owner_id: str | None = None) -> list[AgentRecord]:
    query = select(*_AGENT_COLUMNS).order_by(agents.c.created_at.desc(), agents.c.name)
    if owner_id is not None:
        query = query.where(agents.c.owner_id == owner_id)
    result = await conn.execute(query)
    return [_agent(r) for r in result.mappings()]


async def count_agents(conn: AsyncConnection) -> int:
    result = await conn.execute(select(func.count()).select_from(agents))
    return int(result.scalar_one())


async def update_agent_metadata(
    conn: AsyncConnection, agent_id: str, metadata: dict[str, Any], now: datetime
) -> None:
    await conn.execute(
        update(agents).where(agents.c.id == agent_id).values(metadata=metadata, updated_at=now)
    )


async def set_agent_key_hash(
    conn: AsyncConnection, agent_id: str, key_hash: str, now: datetime
) -> bool:
    """Replace an agent's key; False when no such agent exists (any more)."""
    result = await conn.execute(
        update(agents).where(agents.c.id == agent_id).values(key_hash=key_hash, updated_at=now)
    )
    return result.rowcount == 1


async def touch_agent(conn: AsyncConnection, agent_id: str, now: datetime) -> None:
    await conn.execute(update(agents).where(agents.c.id == agent_id).values(last_activity_at=now))


_ADD_USED = (
    update(agents)
    .where(agents.c.id == bindparam("p_agent"))
    .values(used_bytes=agents.c.used_bytes + bindparam("p_delta"))
)


async def add_used_bytes(conn: AsyncConnection, agent_id: str, delta: int) -> None:
    # Every stored message runs it: built once.
    await conn.execute(_ADD_USED, {"p_agent": agent_id, "p_delta": delta})


async def delete_agent(conn: AsyncConnection, agent_id: str) -> None:
    await conn.execute(delete(agents).where(agents.c.id == agent_id))
