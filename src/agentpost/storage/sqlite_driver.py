"""An aiosqlite connection that runs each statement in one trip to its thread.

SQLAlchemy's aiosqlite adapter makes four trips to the connection's thread for a SELECT
(create the cursor, execute, fetch all rows, close the cursor) and three for a write. Each
trip is a queue hand-off and a wake-up of the event loop, which on a busy send path cost more
CPU than the statements themselves. The cursor below does all of it in one trip: it creates
the sqlite3 cursor, executes, fetches every row and closes it in the thread, then answers the
adapter's later calls (``fetchall``, ``close``, ``description``) from what it kept.

Inside a write transaction the connection can also run statements *inline*, on the event
loop's own thread (``inline = True``, set by ``Database.write``). SQLite allows one writer, so
a write transaction is a critical section: with a trip per statement, every statement also
waits for the event loop to come round again, and under load the loop is busy with other
requests, so the lock is held many times longer than the statements take and every writer
queues behind it. Inline, the statements between BEGIN and COMMIT (microseconds each) run
back to back. BEGIN IMMEDIATE (which may wait for another process's writer) and COMMIT (which
waits for the disk) still go through the thread, so the loop never blocks on either.

It is used through ``connect`` (``create_async_engine(async_creator=...)``), and ``driver_of``
finds it under a SQLAlchemy connection (Database.write, storage/direct.py); everything else
(transactions, functions, closing) is aiosqlite's own.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import aiosqlite
from sqlalchemy.ext.asyncio import AsyncConnection

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

    # Run statements on the caller's thread (see the module docstring). Only set while the
    # connection's own thread has nothing queued, so the two never touch it at once.
    inline = False

    @property
    def raw(self) -> sqlite3.Connection:
        return self._conn

    async def run(self, fn: Callable[..., Any], *args: Any) -> Any:
        if self.inline:
            return fn(*args)
        return await self._execute(fn, *args)  # type: ignore[no-untyped-call]

    async def begin_immediate(self, busy_timeout_ms: int) -> None:
        """BEGIN IMMEDIATE: inline when the database is free (the usual case), else in the
        thread, where waiting up to ``busy_timeout_ms`` for another process blocks nothing."""
        raw = self._conn
        raw.execute("PRAGMA busy_timeout=0")
        try:
            raw.execute("BEGIN IMMEDIATE")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) and "busy" not in str(exc):
                raise
        finally:
            raw.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        await self.run(raw.execute, "BEGIN IMMEDIATE")

    async def rollback(self) -> None:
        # SQLAlchemy rolls back every connection it closes; with nothing open (reads run in
        # autocommit, write() ends its own transactions) that need not cost a trip.
        if self._conn.in_transaction:
            await super().rollback()

    async def commit(self) -> None:
        if self._conn.in_transaction:
            await super().commit()

    async def commit_then(self, after: Callable[[], None] | None) -> None:
        """COMMIT in the connection's thread (the disk sync must not block the loop), then
        ``after`` in that thread too, the moment it is done: releasing a lock there lets
        another process in without waiting for this event loop to come round."""

        def commit() -> None:
            self._conn.execute("COMMIT")
            if after is not None:
                # The commit is done: nothing after it may make the caller think otherwise.
                with contextlib.suppress(Exception):
                    after()

        await self.run(commit)

    async def rollback_if_open(self) -> None:
        """Roll back whatever transaction is still open, once the statements queued before
        this call have run (so a COMMIT that did finish is not followed by an error)."""

        def rollback() -> None:
            if self._conn.in_transaction:
                self._conn.rollback()

        await self.run(rollback)

    def cursor(self) -> OneTripCursor:  # type: ignore[override]
        # The adapter enters the cursor (``__aenter__``) rather than awaiting this call.
        return OneTripCursor(self)


def driver_of(conn: AsyncConnection) -> OneTripConnection | None:
    """The connection of ours under an open SQLAlchemy connection; None on PostgreSQL."""
    proxied = conn.sync_connection.connection if conn.sync_connection is not None else None
    driver = proxied.driver_connection if proxied is not None else None
    return driver if isinstance(driver, OneTripConnection) else None


def connect(database: str, **kwargs: Any) -> Callable[[], Any]:
    """An ``async_creator`` for ``create_async_engine``: opens ``database`` with ``kwargs``
    (the arguments of ``sqlite3.connect``) on its own thread."""

    def connector() -> sqlite3.Connection:
        # Inline statements run on the event loop's thread, not the one that opened it.
        options = {**kwargs, "check_same_thread": False}
        connection: sqlite3.Connection = sqlite3.connect(database, **options)
        return connection

    async def creator() -> OneTripConnection:
        connection = OneTripConnection(connector, 64)
        connection._thread.daemon = True  # as SQLAlchemy does: never block interpreter exit
        await connection  # starts the thread and opens the database there
        return connection

    return creator
