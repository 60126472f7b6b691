"""SMTP configurations (storage/tables/smtp.py): rows in, records out; never commits.

Records never carry the sealed password: only ``has_password`` and the key id. The sealed
token is read by ``sealed_password`` alone, for the one caller that opens it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, delete, func, insert, select, update
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from agentpost.storage.records import utc
from agentpost.storage.tables.smtp import smtp_configs

_PUBLIC_COLUMNS = [c for c in smtp_configs.c if c.name != "password_ciphertext"]


@dataclass(frozen=True, slots=True)
class SmtpConfigRecord:
    id: str
    owner_id: str
    connection_name: str
    host: str
    port: int
    security: str
    username: str | None
    has_password: bool
    password_key_id: str | None
    from_email: str
    from_name: str | None
    reply_to: str | None
    connection_timeout: int
    max_emails_per_day: int | None
    is_active: bool
    is_default: bool
    allow_insecure: bool
    verify_tls: bool
    created_at: datetime
    updated_at: datetime
    last_tested_at: datetime | None
    last_test_ok: bool | None


def _record(row: RowMapping) -> SmtpConfigRecord:
    return SmtpConfigRecord(
        id=row["id"],
        owner_id=row["owner_id"],
        connection_name=row["connection_name"],
        host=row["host"],
        port=int(row["port"]),
        security=row["security"],
        username=row["username"],
        has_password=row["password_key_id"] is not None,
        password_key_id=row["password_key_id"],
        from_email=row["from_email"],
        from_name=row["from_name"],
        reply_to=row["reply_to"],
        connection_timeout=int(row["connection_timeout"]),
        max_emails_per_day=row["max_emails_per_day"],
        is_active=bool(row["is_active"]),
        is_default=bool(row["is_default"]),
        allow_insecure=bool(row["allow_insecure"]),
        verify_tls=bool(row["verify_tls"]),
        created_at=utc(row["created_at"]),
        updated_at=utc(row["updated_at"]),
        last_tested_at=utc(row["last_tested_at"]) if row["last_tested_at"] else None,
        last_test_ok=None if row["last_test_ok"] is None else bool(row["last_test_ok"]),
    )


async def insert_config(conn: AsyncConnection, values: dict[str, Any]) -> None:
    await conn.execute(insert(smtp_configs).values(**values))


async def update_config(conn: AsyncConnection, config_id: str, values: dict[str, Any]) -> None:
    await conn.execute(update(smtp_configs).where(smtp_configs.c.id == config_id).values(**values))


async def delete_config(conn: AsyncConnection, config_id: str) -> None:
    await conn.execute(delete(smtp_configs).where(smtp_configs.c.id == config_id))


async def get_config(
    conn: AsyncConnection, config_id: str, *, for_update: bool = False
) -> SmtpConfigRecord | None:
    query = select(*_PUBLIC_COLUMNS).where(smtp_configs.c.id == config_id)
    if for_update and conn.dialect.name == "postgresql":
        query = query.with_for_update()
    row = (await conn.execute(query)).mappings().first()
    return _record(row) if row else None


async def list_configs(conn: AsyncConnection, owner_id: str | None) -> list[SmtpConfigRecord]:
    """An owner's configurations (all owners' when ``owner_id`` is None), by name."""
    query = select(*_PUBLIC_COLUMNS).order_by(
        smtp_configs.c.owner_id, smtp_configs.c.connection_name
    )
    if owner_id is not None:
        query = query.where(smtp_configs.c.owner_id == owner_id)
    return [_record(row) for row in (await conn.execute(query)).mappings()]


async def name_taken(
    conn: AsyncConnection, owner_id: str, name: str, *, except_id: str | None = None
) -> bool:
    query = select(func.count()).where(
        smtp_configs.c.owner_id == owner_id,
        func.lower(smtp_configs.c.connection_name) == name.lower(),
    )
    if except_id is not None:
        query = query.where(smtp_configs.c.id != except_id)
    return int((await conn.execute(query)).scalar_one()) > 0


async def clear_default(conn: AsyncConnection, owner_id: str, *, except_id: str) -> None:
    """Unmark the owner's other default configuration(s)."""
    await conn.execute(
        update(smtp_configs)
        .where(
            smtp_configs.c.owner_id == owner_id,
            smtp_configs.c.is_default.is_(True),
            smtp_configs.c.id != except_id,
        )
        .values(is_default=False)
    )


# The send path's two questions, built once (building a statement costs more than running it).
_ACTIVE_IDS = select(smtp_configs.c.id, smtp_configs.c.is_default).where(
    smtp_configs.c.owner_id == bindparam("p_owner"), smtp_configs.c.is_active.is_(True)
)
_LIMITS = select(
    smtp_configs.c.owner_id, smtp_configs.c.is_active, smtp_configs.c.max_emails_per_day
).where(smtp_configs.c.id == bindparam("p_id"))


async def active_ids(conn: AsyncConnection, owner_id: str) -> list[tuple[str, bool]]:
    """(id, is_default) of the owner's active configurations."""
    result = await conn.execute(_ACTIVE_IDS, {"p_owner": owner_id})
    return [(row.id, bool(row.is_default)) for row in result]


async def limits_of(conn: AsyncConnection, config_id: str) -> tuple[str, bool, int | None] | None:
    """(owner id, active, daily cap) of one configuration, or None when there is none."""
    row = (await conn.execute(_LIMITS, {"p_id": config_id})).first()
    return None if row is None else (row.owner_id, bool(row.is_active), row.max_emails_per_day)


async def sealed_password(conn: AsyncConnection, config_id: str) -> str | None:
    result = await conn.execute(
        select(smtp_configs.c.password_ciphertext).where(smtp_configs.c.id == config_id)
    )
    return result.scalar_one_or_none()
