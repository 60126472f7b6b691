"""The database handle: an async engine (SQLite in WAL mode, or PostgreSQL) and transactions.

SQLite allows one writer at a time, so write transactions in this process are serialised by a
lock and open with ``BEGIN IMMEDIATE`` (a deferred BEGIN could fail to upgrade its read lock
when another process writes); between processes, writer_lock.py hands the database over the
moment a commit is done. PostgreSQL needs none of this: it uses row locks.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.dialects.sqlite.aiosqlite import SQLiteDialect_aiosqlite
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from agentpost.storage import sqlite_driver, writer_lock


class Database:
    """Owns the engine; hands out read connections and write transactions."""

    def __init__(self, url: str, *, sqlite_synchronous: str = "FULL", echo: bool = False) -> None:
        self.url = url
        self.dialect = make_url(url).get_backend_name()
        self.is_sqlite = self.dialect == "sqlite"
        if self.is_sqlite:
            _ensure_sqlite_dir(url)
            self.engine: AsyncEngine = create_async_engine(
                url,
                echo=echo,
                hide_parameters=True,  # errors must not carry message bodies or key hashes
                async_creator=_sqlite_creator(url),
                # Nothing to reset when a connection goes back to the pool: reads run in
                # autocommit and write() always ends its transaction itself. The default
                # ROLLBACK would cost a trip to the connection's thread per checkout.
                pool_reset_on_return=None,
                # Enough connections kept for a busy process: one opened beyond the pool is
                # closed again when returned, and opening one (thread, PRAGMAs) costs a few
                # statements' worth.
                pool_size=SQLITE_POOL_SIZE,
                max_overflow=SQLITE_POOL_SIZE,
            )
            _install_sqlite_pragmas(self.engine, sqlite_synchronous)
            # What a transaction that need not wait for the disk switches to, and back from.
            self._synchronous = sqlite_synchronous.upper()
            self._relaxed = "NORMAL" if self._synchronous in ("FULL", "EXTRA") else None
        else:
            self.engine = create_async_engine(
                url, echo=echo, hide_parameters=True, pool_size=10, max_overflow=10
            )
        self._write_lock = asyncio.Lock() if self.is_sqlite else None
        # Between processes on one SQLite file (writer_lock.py says why).
        self._writer = writer_lock.for_database(make_url(url).database) if self.is_sqlite else None

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        """A connection for reads; nothing it does is committed."""
        async with self.engine.connect() as conn:
            yield conn

    @asynccontextmanager
    async def write(self, *, durable: bool = True) -> AsyncIterator[AsyncConnection]:
        """One write transaction: committed when the block exits cleanly, else rolled back.

        ``durable=False`` is for bookkeeping a crash of the *machine* may lose without losing
        mail (the delivery worker's leases and outcomes: lost, a message is sent again, as
        Postfix would send it). Its commit does not wait for the disk; a crash of the
        process still loses nothing, and the next durable commit makes it durable too.
        While it is written, the database is not kept locked by the disk's sync time.
        """
        if self._write_lock is None:
            async with self.engine.begin() as conn:
                if not durable:
                    await conn.exec_driver_sql("SET LOCAL synchronous_commit TO OFF")
                yield conn
            return
        # The connection is taken from the pool (and given back) outside the lock: only the
        # transaction itself is the critical section (sqlite_driver.py says why it runs inline).
        async with self.engine.connect() as conn:
            driver = sqlite_driver.driver_of(conn)
            assert driver is not None  # this engine's connections all come from connect()
            relaxed = None if durable else self._relaxed
            if relaxed is not None:  # no transaction is open: it applies to the next COMMIT
                driver.raw.execute(f"PRAGMA synchronous={relaxed}")
            try:
                async with self._write_lock, self._other_processes_out():
                    await driver.begin_immediate(BUSY_TIMEOUT_MS)
                    driver.inline = True
                    try:
                        yield conn
                    except BaseException:
                        driver.inline = False
                        await driver.rollback_if_open()
                        raise
                    finally:
                        driver.inline = False
                    # In the thread: the loop serves other requests while the disk syncs, and
                    # other processes get the writer lock as soon as the commit is done.
                    release = self._writer.release if self._writer is not None else None
                    try:
                        await driver.commit_then(release)
                    except BaseException:
                        await driver.rollback_if_open()  # e.g. a full disk: leave nothing open
                        raise
            finally:
                if relaxed is not None:
                    driver.raw.execute(f"PRAGMA synchronous={self._synchronous}")

    @asynccontextmanager
    async def _other_processes_out(self) -> AsyncIterator[None]:
        """Holds the writer lock shared with other processes on the file, if there is one.
        A commit releases it early (``commit_then``); releasing it again is harmless."""
        if self._writer is None:
            yield
            return
        try:
            held = await self._writer.acquire(BUSY_TIMEOUT_MS / 1000)
        except TimeoutError:
            raise sqlite3.OperationalError("database is locked") from None
        try:
            yield
        finally:
            if held:
                self._writer.release()

    async def serialize(self, conn: AsyncConnection, key: int) -> None:
        """Make concurrent holders of ``key`` wait for each other until this transaction ends.

        PostgreSQL takes a transaction-scoped advisory lock; SQLite needs nothing, since its
        write transactions (BEGIN IMMEDIATE) already exclude each other across processes.
        """
        if not self.is_sqlite:
            await conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({int(key)})")

    async def ping(self) -> None:
        """A trivial round trip, for health checks; raises when the database is unreachable."""
        async with self.engine.connect() as conn:
            await conn.exec_driver_sql("SELECT 1")

    async def dispose(self) -> None:
        await self.engine.dispose()
        if self._writer is not None:
            self._writer.close()


def _ensure_sqlite_dir(url: str) -> None:
    database = make_url(url).database
    if database and database != ":memory:":
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)


def _sqlite_creator(url: str) -> Callable[[], Any]:
    # The dialect's own reading of the URL (file name, uri and thread flags), plus ours:
    # a 30 s lock wait, and no implicit BEGIN (write() opens its transactions itself).
    args, options = SQLiteDialect_aiosqlite().create_connect_args(make_url(url))
    return sqlite_driver.connect(*args, **options, timeout=30, isolation_level=None)


SQLITE_POOL_SIZE = 20
BUSY_TIMEOUT_MS = 30_000  # how long a writer waits for another process's transaction


def _install_sqlite_pragmas(engine: AsyncEngine, synchronous: str) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA synchronous={synchronous}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        cursor.close()
