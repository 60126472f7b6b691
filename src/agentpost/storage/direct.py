"""INSERTs handed straight to SQLite inside a write transaction, past SQLAlchemy's executor.

SQLAlchemy's execution path (execution context, parameter processing, result set-up, the
greenlet hop of the asyncio layer) costs about 90 µs a statement on a slow core, twenty times
what SQLite takes to insert a row. A group of sends (services/outbox.py) runs seven INSERTs;
the API process that runs them is what limits outbound throughput.

``insert`` and ``insert_ids`` take a table and rows (dicts with the same keys). On SQLite,
while ``Database.write`` runs statements inline (sqlite_driver.py), they render the INSERT once
per table and set of columns and give the rows to sqlite3's ``executemany``, each value passed
through its column type's own bind processor, so what is stored is exactly what SQLAlchemy
would store. Anywhere else (PostgreSQL, or outside a write transaction) and for a table with
Python-side defaults the rows do not set, they run the SQLAlchemy statement as before.
"""

from __future__ import annotations

import contextlib
import functools
import operator
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Insert, Table
from sqlalchemy import insert as sql_insert
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection

from agentpost.storage.sqlite_driver import OneTripConnection, driver_of

Row = dict[str, Any]
_Processor = Callable[[Any], Any] | None


async def insert(conn: AsyncConnection, table: Table, rows: Sequence[Row]) -> None:
    """INSERT ``rows`` into ``table``."""
    if not rows:
        return
    plan = _plan_for(conn, table, rows)
    if plan is None:
        await conn.execute(_plain_insert(table), rows[0] if len(rows) == 1 else list(rows))
        return
    driver, compiled = plan
    with _as_sqlalchemy_errors(compiled.sql):
        driver.raw.executemany(compiled.sql, [compiled.values(row) for row in rows])


async def insert_ids(
    conn: AsyncConnection, table: Table, rows: Sequence[Row], *, statement: Insert
) -> list[int]:
    """INSERT ``rows`` and return their ids in input order. ``statement`` must return the id
    column, sorted by parameter order (``returning(..., sort_by_parameter_order=True)``)."""
    if not rows:
        return []
    plan = _plan_for(conn, table, rows)
    if plan is None:
        result = await conn.execute(statement, list(rows))
        return [int(row[0]) for row in result]
    driver, compiled = plan
    ids = []
    with _as_sqlalchemy_errors(compiled.sql), contextlib.closing(driver.raw.cursor()) as cursor:
        for row in rows:  # one execute a row: lastrowid is the id, no RETURNING needed
            cursor.execute(compiled.sql, compiled.values(row))
            ids.append(int(cursor.lastrowid or 0))
    return ids


@functools.cache
def _plain_insert(table: Table) -> Insert:
    # Built once a table: building a statement costs more than running it.
    return sql_insert(table)


@contextlib.contextmanager
def _as_sqlalchemy_errors(sql: str) -> Iterator[None]:
    """sqlite3's errors as SQLAlchemy raises them (IntegrityError, OperationalError...), so
    callers catch the same exceptions whichever way the rows went."""
    try:
        yield
    except sqlite3.Error as exc:
        raise DBAPIError.instance(sql, None, exc, sqlite3.Error, hide_parameters=True) from exc


@dataclass(frozen=True, slots=True)
class _Plan:
    sql: str
    values: Callable[[Row], list[Any]]  # a row's parameters, in the SQL's order, processed


def _plan_for(
    conn: AsyncConnection, table: Table, rows: Sequence[Row]
) -> tuple[OneTripConnection, _Plan] | None:
    driver = driver_of(conn)  # None on PostgreSQL
    if driver is None or not driver.inline:
        return None
    first = rows[0].keys()
    if any(row.keys() != first for row in rows[1:]):
        return None  # rows of different shapes: SQLAlchemy refuses them, as it always did
    keys = tuple(first)
    plan = _compiled(table, keys, conn.dialect)
    return None if plan is None else (driver, plan)


@functools.cache
def _compiled(table: Table, keys: tuple[str, ...], dialect: Dialect) -> _Plan | None:
    """The INSERT's SQL for these columns and how to make a row's parameters; None
    when a column left out has a default computed in Python (SQLAlchemy would fill it). An
    insert sentinel may be left out: it only orders the RETURNING rows of a multi-row
    INSERT, and it is nullable."""
    given = set(keys)
    for column in table.columns:
        if column.key in given or (column.default is None and column.onupdate is None):
            continue
        if column.default is None or not column.default.is_sentinel:
            return None
    compiled = sql_insert(table).compile(dialect=dialect, column_keys=list(keys))
    order = tuple(compiled.positiontup or ())
    if set(order) != given:
        return None
    processors = [table.c[key].type.dialect_impl(dialect).bind_processor(dialect) for key in order]
    return _Plan(str(compiled), _row_values(order, processors))


def _row_values(
    order: tuple[str, ...], processors: Sequence[_Processor]
) -> Callable[[Row], list[Any]]:
    """A function of a row: its values in ``order``, each through its processor (None too: a
    JSON column stores None as 'null'). The values are picked in one C call (itemgetter)
    and only the columns whose type processes values call anything further."""
    pick = operator.itemgetter(*order)
    single = len(order) == 1
    processed = [(index, process) for index, process in enumerate(processors) if process]

    def values(row: Row) -> list[Any]:
        found = [pick(row)] if single else list(pick(row))
        for index, process in processed:
            found[index] = process(found[index])
        return found

    return values
