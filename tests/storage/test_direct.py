"""storage/direct.py: INSERTs handed straight to SQLite store what SQLAlchemy would store,
return ids in order, and leave every other case (PostgreSQL, reads, defaults) to SQLAlchemy."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    event,
    insert,
    select,
    text,
)
from sqlalchemy.exc import IntegrityError, StatementError
from sqlalchemy.ext.asyncio import AsyncConnection

from agentpost.services.context import AppContext
from agentpost.storage import direct

pytestmark = pytest.mark.anyio

_META = MetaData()
KINDS = Table(
    "direct_kinds",
    _META,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(40), nullable=False),
    Column("flag", Boolean, nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("data", JSON, nullable=True),
    Column("raw", LargeBinary, nullable=True),
    Column("counted", Integer, nullable=False, default=7),
)
AT = datetime(2026, 12, 7, 21, 30, 5, 123456, tzinfo=UTC)


def _rows(count: int, offset: int = 0) -> list[dict[str, Any]]:
    return [
        {
            "name": f"row {offset + n} é",
            "flag": n % 2 == 0,
            "at": AT + timedelta(seconds=n),
            "data": None if n % 3 == 0 else {"n": n, "list": [1, "two"]},
            "raw": bytes([n, 0, 255]) if n % 2 else None,
            "counted": n,
        }
        for n in range(count)
    ]


async def _create(ctx: AppContext) -> None:
    async with ctx.db.write() as conn:
        await conn.run_sync(_META.create_all)


@contextmanager
def _statements(conn: AsyncConnection) -> Iterator[list[str]]:
    """The SQL SQLAlchemy itself executes on ``conn`` while the block runs."""
    seen: list[str] = []

    def record(*args: Any) -> None:
        seen.append(args[2])

    event.listen(conn.sync_connection, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(conn.sync_connection, "before_cursor_execute", record)


async def _stored(ctx: AppContext) -> list[tuple[Any, ...]]:
    """The rows as the database holds them (no type processing), without their ids."""
    async with ctx.db.read() as conn:
        result = await conn.exec_driver_sql(
            "SELECT name, flag, at, data, raw, counted FROM direct_kinds ORDER BY id"
        )
        return [tuple(row) for row in result]


async def test_rows_are_stored_exactly_as_sqlalchemy_stores_them(ctx: AppContext) -> None:
    await _create(ctx)
    rows = _rows(6)
    async with ctx.db.write() as conn:
        await conn.execute(insert(KINDS), rows)
    by_sqlalchemy = await _stored(ctx)
    async with ctx.db.write() as conn:
        await conn.execute(text("DELETE FROM direct_kinds"))
    async with ctx.db.write() as conn:
        with _statements(conn) as executed:
            await direct.insert(conn, KINDS, rows)
            await direct.insert(conn, KINDS, rows[:1])  # one row: the same path
    assert executed == []  # SQLAlchemy ran nothing: the rows went straight to SQLite
    assert await _stored(ctx) == by_sqlalchemy + by_sqlalchemy[:1]
    async with ctx.db.read() as conn:  # and read back through SQLAlchemy, the types hold
        back = (await conn.execute(select(KINDS).order_by(KINDS.c.id))).mappings().all()
    assert [{k: v for k, v in row.items() if k != "id"} for row in back[:6]] == [
        {**row, "at": row["at"].replace(tzinfo=None)} for row in rows
    ]


async def test_insert_ids_returns_each_rows_id_in_input_order(any_ctx: AppContext) -> None:
    await _create(any_ctx)
    rows = _rows(5, offset=10)
    statement = insert(KINDS).returning(KINDS.c.id, sort_by_parameter_order=True)
    async with any_ctx.db.write() as conn:
        ids = await direct.insert_ids(conn, KINDS, rows, statement=statement)
        assert await direct.insert_ids(conn, KINDS, [], statement=statement) == []
    async with any_ctx.db.read() as conn:
        names = {i: name for i, name in await conn.execute(select(KINDS.c.id, KINDS.c.name))}
    assert [names[i] for i in ids] == [row["name"] for row in rows]
    assert len(set(ids)) == 5


async def test_only_a_sqlite_write_transaction_skips_sqlalchemy(any_ctx: AppContext) -> None:
    await _create(any_ctx)
    async with any_ctx.db.write() as conn:
        with _statements(conn) as executed:
            await direct.insert(conn, KINDS, _rows(2))
    sqlite = any_ctx.db.is_sqlite
    assert (executed == []) is sqlite  # PostgreSQL: the SQLAlchemy statement, as before
    async with any_ctx.db.read() as conn:
        count = (await conn.execute(select(KINDS.c.id))).all()
    assert len(count) == 2


async def test_rows_leaving_out_a_python_default_go_through_sqlalchemy(ctx: AppContext) -> None:
    # ``counted`` has a default SQLAlchemy computes: rows without it must get it.
    await _create(ctx)
    rows = [{k: v for k, v in row.items() if k != "counted"} for row in _rows(3)]
    async with ctx.db.write() as conn:
        with _statements(conn) as executed:
            await direct.insert(conn, KINDS, rows)
    assert len(executed) == 1
    assert [row[-1] for row in await _stored(ctx)] == [7, 7, 7]


async def test_rows_of_different_shapes_are_refused_as_sqlalchemy_refuses_them(
    ctx: AppContext,
) -> None:
    await _create(ctx)
    first, second = _rows(2)
    del second["raw"]
    with pytest.raises(StatementError, match="bind parameter 'raw'"):
        async with ctx.db.write() as conn:
            await direct.insert(conn, KINDS, [_rows(1)[0]])
            await direct.insert(conn, KINDS, [first, second])
    assert await _stored(ctx) == []  # nothing half-written


async def test_database_errors_are_raised_as_sqlalchemy_raises_them(ctx: AppContext) -> None:
    # Callers catch sqlalchemy.exc.IntegrityError (a concurrent create, a duplicate key):
    # the direct path must raise the same class, not sqlite3's own.
    await _create(ctx)
    row = {"id": 1, **_rows(1)[0]}
    ids_statement = insert(KINDS).returning(KINDS.c.id, sort_by_parameter_order=True)
    for write in (
        lambda conn: direct.insert(conn, KINDS, [row, row]),
        lambda conn: direct.insert_ids(conn, KINDS, [row, row], statement=ids_statement),
    ):
        with pytest.raises(IntegrityError, match="UNIQUE constraint failed"):
            async with ctx.db.write() as conn:
                await write(conn)
    assert await _stored(ctx) == []
