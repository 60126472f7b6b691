"""Every column that holds a vault token, for rotation: find rows sealed under an old key and
write them back resealed. Another area that stores a sealed value adds its column to
``SEALED_COLUMNS`` (table, id column, token column, key-id column, vault context prefix)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Table, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from agentpost.storage.tables.relay import relay_accounts
from agentpost.storage.tables.smtp import smtp_configs


@dataclass(frozen=True, slots=True)
class SealedColumn:
    table: Table
    id_column: str
    token_column: str
    key_column: str

    @property
    def name(self) -> str:
        """The vault context prefix: a token is sealed with ``<table>:<row id>``."""
        return self.table.name

    def context(self, row_id: str) -> str:
        return f"{self.table.name}:{row_id}"


SEALED_COLUMNS = (
    SealedColumn(smtp_configs, "id", "password_ciphertext", "password_key_id"),
    SealedColumn(relay_accounts, "id", "imap_password", "imap_password_key_id"),
)


async def sealed_not_under(
    conn: AsyncConnection, column: SealedColumn, key_id: str, *, limit: int
) -> list[tuple[str, str]]:
    """(row id, token) of rows sealed under a key other than ``key_id``."""
    t = column.table
    key = t.c[column.key_column]
    result = await conn.execute(
        select(t.c[column.id_column], t.c[column.token_column])
        .where(key.is_not(None), key != key_id)
        .order_by(t.c[column.id_column])
        .limit(limit)
    )
    return [(str(row[0]), str(row[1])) for row in result]


async def reseal(
    conn: AsyncConnection, column: SealedColumn, row_id: str, token: str, key_id: str
) -> None:
    t = column.table
    await conn.execute(
        update(t)
        .where(t.c[column.id_column] == row_id)
        .values({column.token_column: token, column.key_column: key_id})
    )


async def key_usage(conn: AsyncConnection) -> dict[str, int]:
    """How many stored values each key id seals, over every sealed column."""
    counts: dict[str, int] = {}
    for column in SEALED_COLUMNS:
        key = column.table.c[column.key_column]
        result = await conn.execute(select(key, func.count()).where(key.is_not(None)).group_by(key))
        for key_id, count in result:
            counts[key_id] = counts.get(key_id, 0) + int(count)
    return counts
