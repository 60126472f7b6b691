"""An aiosqlite connection that runs each statement in one trip to its thread.

SQLAlchemy's aiosqlite adapter makes four trips to the connection's thread for a SELECT
(create the cursor, execute, fetch all rows, close the cursor) and three for a write. Each
trip is a queue hand-off and a wake-up of the event loop, which on a busy send path cost more
CPU than the statements themselves. The cursor below does all of it in one trip: it creates
the sqlite3 cursor, executes, fetches every row and closes it in the thread, then answers the
adapter's later calls (``fetchall``, ``close``, ``description``) from what it kept.

It is used only through ``connect`` (``create_async_engine(async_creator=...)``); everything
else (transactions, functions, closing) is aiosqlite's own.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import aiosqlite

_Row = tuple[Any, ...]


class OneTripCursor:
    """The cursor interface SQLAlchemy's adapter uses, backed by results fetched up front."""

    arraysize = 1

    def __init__(self, connection: OneTripConnection) -> None:
        self._connection = connection
        self._rows: list[_Row] = []
        self.description: Any = None
        self.rowcount = -1
        self.lastrowid: int | None = None

    async def __aenter__(self) -> OneTripCursor:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        return None

    def _run(self, call: Callable[[sqlite3.Cursor], object]) -> None:
        # Runs in the connection's thread: everything the adapter will ask for, in one go.
        cursor = self._connection.raw.cursor()
        try:
            call(cursor)
            self.description = cursor.description
            self._rows = cursor.fetchall() if cursor.description else []
            self.rowcount = cursor.rowcount
            self.lastrowid = cursor.lastrowid
        finally:
            cursor.close()

    async def execute(self, sql: str, parameters: Any = ()) -> OneTripCursor:
        await self._connection.run(self._run, lambda c: c.execute(sql, parameters))
        return self

    async def executemany(self, sql: str, parameters: Iterable[Any]) -> OneTripCursor:
        await self._connection.run(self._run, lambda c: c.executemany(sql, parameters))
        return self

    async def fetchall(self) -> list[_Row]:
        rows, self._rows = self._rows, []
        return rows

    async def fetchone(self) -> _Row | None:
        return self._rows.pop(0) if self._rows else None

    async def fetchmany(self, size: int | None = None) -> Sequence[_Row]:
        count = size or self.arraysize
        rows, self._rows = self._rows[:count], self._rows[count:]
        return rows

    async def close(self) -> None:
        self._rows = []


class OneTripConnection(aiosqlite.Connection):
    """aiosqlite's connection with a cursor that needs no trip of its own."""

    @property
    def raw(self) -> sqlite3.Connection:
        return self._conn

    async def run(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await self._execute(fn, *args)

    def cursor(self) -> OneTripCursor:  # type: ignore[override]
        # The adapter enters the cursor (``__aenter__``) rather than awaiting this call.
        return OneTripCursor(self)


def connect(database: str, **kwargs: Any) -> Callable[[], Any]:
    """An ``async_creator`` for ``create_async_engine``: opens ``database`` with ``kwargs``
    (the arguments of ``sqlite3.connect``) on its own thread."""

    def connector() -> sqlite3.Connection:
        return sqlite3.connect(database, **kwargs)

    async def creator() -> OneTripConnection:
        connection = OneTripConnection(connector, 64)
        connection._thread.daemon = True  # as SQLAlchemy does: never block interpreter exit
        return await connection

    return creator
