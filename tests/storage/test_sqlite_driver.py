"""The SQLite connection layer: one trip per statement, inline write transactions, and what
happens when another process holds the database's write lock."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from agentpost.storage.engine import Database

pytestmark = pytest.mark.anyio


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'x.db'}")
    async with database.write() as conn:
        await conn.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT UNIQUE)"))
    yield database
    await database.dispose()


async def test_results_rowcounts_and_returning_come_back_whole(db: Database) -> None:
    async with db.write() as conn:
        many = await conn.execute(
            text("INSERT INTO t (name) VALUES (:name)"), [{"name": f"n{i}"} for i in range(5)]
        )
        assert many.rowcount == 5
        back = await conn.execute(text("INSERT INTO t (name) VALUES ('x') RETURNING id"))
        assert back.scalar_one() == 6
        changed = await conn.execute(text("UPDATE t SET name = name || '!' WHERE id <= 3"))
        assert changed.rowcount == 3
    async with db.read() as conn:
        rows = (await conn.execute(text("SELECT id, name FROM t ORDER BY id"))).all()
    assert [tuple(r) for r in rows][:4] == [(1, "n0!"), (2, "n1!"), (3, "n2!"), (4, "n3")]
    assert len(rows) == 6


async def test_a_failed_statement_rolls_the_whole_transaction_back(db: Database) -> None:
    with pytest.raises(IntegrityError):
        async with db.write() as conn:
            await conn.execute(text("INSERT INTO t (name) VALUES ('a')"))
            await conn.execute(text("INSERT INTO t (name) VALUES ('a')"))
    async with db.read() as conn:
        assert (await conn.execute(text("SELECT count(*) FROM t"))).scalar_one() == 0
    async with db.write() as conn:  # the connection is usable afterwards
        await conn.execute(text("INSERT INTO t (name) VALUES ('a')"))
    async with db.read() as conn:
        assert (await conn.execute(text("SELECT count(*) FROM t"))).scalar_one() == 1


async def test_an_exception_in_the_block_rolls_back(db: Database) -> None:
    with pytest.raises(RuntimeError):
        async with db.write() as conn:
            await conn.execute(text("INSERT INTO t (name) VALUES ('b')"))
            raise RuntimeError("changed my mind")
    async with db.read() as conn:
        assert (await conn.execute(text("SELECT count(*) FROM t"))).scalar_one() == 0


async def test_concurrent_writers_all_land(db: Database) -> None:
    async def writer(n: int) -> None:
        async with db.write() as conn:
            await conn.execute(text("INSERT INTO t (name) VALUES (:n)"), {"n": f"w{n}"})
            await asyncio.sleep(0)  # yield inside the transaction: others must wait

    await asyncio.gather(*(writer(n) for n in range(30)))
    async with db.read() as conn:
        assert (await conn.execute(text("SELECT count(*) FROM t"))).scalar_one() == 30


async def test_waiting_for_another_process_does_not_block_the_event_loop(
    db: Database, tmp_path: Path
) -> None:
    # Another process's writer (a plain sqlite3 connection) holds the write lock.
    other = sqlite3.connect(tmp_path / "x.db", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    other.execute("INSERT INTO t (name) VALUES ('other')")
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.01)

    async def ours() -> None:
        async with db.write() as conn:
            await conn.execute(text("INSERT INTO t (name) VALUES ('ours')"))

    ticking = asyncio.create_task(ticker())
    waiting = asyncio.create_task(ours())
    await asyncio.sleep(0.3)
    assert not waiting.done()  # still waiting for the lock...
    assert ticks >= 10  # ...while the loop kept running
    other.execute("COMMIT")
    await asyncio.wait_for(waiting, 10)
    ticking.cancel()
    other.close()
    async with db.read() as conn:
        names = (await conn.execute(text("SELECT name FROM t ORDER BY id"))).scalars().all()
    assert names == ["other", "ours"]


async def test_a_writer_gives_up_after_the_busy_timeout_and_loses_nothing(
    db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Behind another process's transaction that never ends, a write fails with SQLite's
    "database is locked" once the busy timeout has passed; the connection is usable after."""
    monkeypatch.setattr("agentpost.storage.engine.BUSY_TIMEOUT_MS", 200)
    other = sqlite3.connect(tmp_path / "x.db", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    with pytest.raises(sqlite3.OperationalError, match="database is locked"):
        async with db.write() as conn:
            await conn.execute(text("INSERT INTO t (name) VALUES ('lost')"))
    other.execute("COMMIT")
    other.close()
    async with db.write() as conn:
        await conn.execute(text("INSERT INTO t (name) VALUES ('later')"))
    async with db.read() as conn:
        names = (await conn.execute(text("SELECT name FROM t"))).scalars().all()
    assert names == ["later"]


async def test_what_runs_after_a_commit_cannot_make_it_look_failed(db: Database) -> None:
    """``commit_then``'s follow-up (the writer lock's release) failing must not turn a
    COMMIT that happened into an error: the caller would retry a write that is on disk."""

    def broken() -> None:
        raise OSError("release failed")

    async with db.engine.connect() as conn:
        driver = (await conn.get_raw_connection()).driver_connection
        await driver.begin_immediate(1000)
        driver.raw.execute("INSERT INTO t (name) VALUES ('kept')")
        await driver.commit_then(broken)
    async with db.read() as conn:
        names = (await conn.execute(text("SELECT name FROM t"))).scalars().all()
    assert names == ["kept"]
