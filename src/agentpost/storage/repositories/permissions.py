"""Agent permissions, the send log the rate limits count, and Idempotency-Key rows."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, bindparam, delete, func, insert, select, update
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from agentpost.storage import direct
from agentpost.storage.records import utc
from agentpost.storage.tables.permissions import agent_permissions, idempotency_keys, send_log


@dataclass(frozen=True, slots=True)
class PermissionRecord:
    agent_id: str
    owner_id: str
    config_id: str
    can_send: bool
    daily_limit: int | None
    hourly_limit: int | None
    allowed_recipients: list[str]
    is_default: bool
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class IdempotencyRecord:
    fingerprint: str
    state: str
    status_code: int | None
    response: str | None
    created_at: datetime
    expires_at: datetime


def _permission(row: RowMapping) -> PermissionRecord:
    return PermissionRecord(
        agent_id=row["agent_id"],
        owner_id=row["owner_id"],
        config_id=row["config_id"],
        can_send=bool(row["can_send"]),
        daily_limit=row["daily_limit"],
        hourly_limit=row["hourly_limit"],
        allowed_recipients=list(row["allowed_recipients"] or []),
        is_default=bool(row["is_default"]),
        created_at=utc(row["created_at"]),
        updated_at=utc(row["updated_at"]),
    )


# Statements every send runs are built once: building one costs more than executing it.
_PERMISSIONS_OF = (
    select(agent_permissions)
    .where(agent_permissions.c.agent_id == bindparam("p_agent"))
    .order_by(agent_permissions.c.is_default.desc(), agent_permissions.c.id)
)


async def permissions_of(conn: AsyncConnection, agent_id: str) -> list[PermissionRecord]:
    """An agent's rows: the default first, then in the order they were made."""
    result = await conn.execute(_PERMISSIONS_OF, {"p_agent": agent_id})
    return [_permission(row) for row in result.mappings()]


async def save_permission(conn: AsyncConnection, record: PermissionRecord) -> bool:
    """Insert or replace the row of (agent, configuration); True when it is new."""
    values: dict[str, Any] = {
        "owner_id": record.owner_id,
        "can_send": record.can_send,
        "daily_limit": record.daily_limit,
        "hourly_limit": record.hourly_limit,
        "allowed_recipients": record.allowed_recipients,
        "is_default": record.is_default,
        "updated_at": record.updated_at,
    }
    if record.is_default:  # one default per agent
        await conn.execute(
            update(agent_permissions)
            .where(agent_permissions.c.agent_id == record.agent_id)
            .values(is_default=False)
        )
    result = await conn.execute(
        update(agent_permissions)
        .where(
            agent_permissions.c.agent_id == record.agent_id,
            agent_permissions.c.config_id == record.config_id,
        )
        .values(**values)
    )
    if result.rowcount:
        return False
    await conn.execute(
        insert(agent_permissions).values(
            agent_id=record.agent_id,
            config_id=record.config_id,
            created_at=record.created_at,
            **values,
        )
    )
    return True


async def delete_permission(conn: AsyncConnection, agent_id: str, config_id: str) -> bool:
    result = await conn.execute(
        delete(agent_permissions).where(
            agent_permissions.c.agent_id == agent_id, agent_permissions.c.config_id == config_id
        )
    )
    return bool(result.rowcount)


# -- the send log ------------------------------------------------------------------------------


async def log_sends(conn: AsyncConnection, rows: Sequence[dict[str, Any]]) -> None:
    """Send-log rows (agent_id, config_id, recipients, sent_at), in one statement."""
    await direct.insert(conn, send_log, rows)


ANY_CONFIG = "*"  # count the agent's sends through every configuration


def _scope(agent_id: str | None, config_id: str | None) -> list[ColumnElement[bool]]:
    clauses: list[ColumnElement[bool]] = []
    if config_id != ANY_CONFIG:
        clauses.append(
            send_log.c.config_id.is_(None)
            if config_id is None
            else send_log.c.config_id == config_id
        )
    if agent_id is not None:
        clauses.append(send_log.c.agent_id == agent_id)
    return clauses


async def count_sends(
    conn: AsyncConnection, *, agent_id: str | None, config_id: str | None, after: datetime
) -> int:
    """Sends strictly after ``after`` by the agent (None: every agent) through the
    configuration (None: sends that had no configuration; ``ANY_CONFIG``: any)."""
    result = await conn.execute(
        select(func.count())
        .select_from(send_log)
        .where(*_scope(agent_id, config_id), send_log.c.sent_at > after)
    )
    return int(result.scalar_one())


async def nth_send_time(
    conn: AsyncConnection,
    *,
    agent_id: str | None,
    config_id: str | None,
    after: datetime,
    index: int,
) -> datetime | None:
    """The time of the ``index``-th oldest send (0-based) after ``after``."""
    result = await conn.execute(
        select(send_log.c.sent_at)
        .where(*_scope(agent_id, config_id), send_log.c.sent_at > after)
        .order_by(send_log.c.sent_at, send_log.c.id)
        .offset(index)
        .limit(1)
    )
    value = result.scalar_one_or_none()
    return None if value is None else utc(value)


async def purge_send_log(conn: AsyncConnection, agent_id: str, before: datetime) -> None:
    await conn.execute(
        delete(send_log).where(send_log.c.agent_id == agent_id, send_log.c.sent_at < before)
    )


# -- Idempotency-Key -------------------------------------------------------------------------


def _key(agent_id: str, key: str) -> list[ColumnElement[bool]]:
    return [idempotency_keys.c.agent_id == agent_id, idempotency_keys.c.key == key]


async def get_key(conn: AsyncConnection, agent_id: str, key: str) -> IdempotencyRecord | None:
    result = await conn.execute(select(idempotency_keys).where(*_key(agent_id, key)))
    row = result.mappings().first()
    if row is None:
        return None
    return IdempotencyRecord(
        fingerprint=row["fingerprint"],
        state=row["state"],
        status_code=row["status_code"],
        response=row["response"],
        created_at=utc(row["created_at"]),
        expires_at=utc(row["expires_at"]),
    )


async def insert_key(
    conn: AsyncConnection,
    *,
    agent_id: str,
    key: str,
    fingerprint: str,
    now: datetime,
    expires_at: datetime,
) -> None:
    await conn.execute(
        insert(idempotency_keys).values(
            agent_id=agent_id,
            key=key,
            fingerprint=fingerprint,
            state="pending",
            created_at=now,
            expires_at=expires_at,
        )
    )


async def set_key_state(
    conn: AsyncConnection,
    agent_id: str,
    key: str,
    *,
    from_state: str,
    to_state: str,
    status_code: int | None = None,
    response: str | None = None,
) -> bool:
    """Move the key from one state to the next; False when it was not in ``from_state``."""
    result = await conn.execute(
        update(idempotency_keys)
        .where(*_key(agent_id, key), idempotency_keys.c.state == from_state)
        .values(state=to_state, status_code=status_code, response=response)
    )
    return bool(result.rowcount)


async def restart_key(conn: AsyncConnection, agent_id: str, key: str, now: datetime) -> bool:
    """Take over a pending key whose request died (its claim time is moved to ``now``)."""
    result = await conn.execute(
        update(idempotency_keys)
        .where(*_key(agent_id, key), idempotency_keys.c.state == "pending")
        .values(created_at=now)
    )
    return bool(result.rowcount)


async def delete_key(conn: AsyncConnection, agent_id: str, key: str, *, state: str) -> None:
    await conn.execute(
        delete(idempotency_keys).where(*_key(agent_id, key), idempotency_keys.c.state == state)
    )


async def purge_expired_keys(conn: AsyncConnection, agent_id: str, now: datetime) -> None:
    await conn.execute(
        delete(idempotency_keys).where(
            idempotency_keys.c.agent_id == agent_id, idempotency_keys.c.expires_at <= now
        )
    )
