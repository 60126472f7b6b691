"""Writers in several processes on one SQLite file take turns through ``<file>.lock``
(storage/writer_lock.py), and transactions that need not wait for the disk do not
(``Database.write(durable=False)``).

Two ``Database`` objects on one file stand for two processes: the lock is an ``flock``, which
belongs to an open file, so they exclude each other as two processes would.
"""

from __future__ import annotations

import asyncio
import fcntl
import logging
import os
import sqlite3
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import text

from agentpost.services.context import AppContext
from agentpost.storage.engine import Database
from agentpost.storage.writer_lock import WriterLock

pytestmark = pytest.mark.anyio


@pytest.fixture
async def path(tmp_path: Path) -> AsyncIterator[Path]:
    file = tmp_path / "x.db"
    setup = Database(f"sqlite+aiosqlite:///{file}")
    async with setup.write() as conn:
        await conn.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT)"))
    await setup.dispose()
    yield file


def _lock_is_free(path: Path) -> bool:
    fd = os.open(f"{path}.lock", os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    finally:
        os.close(fd)  # closing drops the lock, if it was taken
    return True


async def _insert(db: Database, name: str) -> None:
    async with db.write() as conn:
        await conn.execute(text("INSERT INTO t (name) VALUES (:n)"), {"n": name})


async def _names(db: Database) -> list[str]:
    async with db.read() as conn:
        return list((await conn.execute(text("SELECT name FROM t ORDER BY id"))).scalars())


async def test_a_second_process_waits_on_the_lock_file_then_goes_in(path: Path) -> None:
    first, second = (Database(f"sqlite+aiosqlite:///{path}") for _ in range(2))
    inside, finish = asyncio.Event(), asyncio.Event()

    async def holder() -> None:
        async with first.write() as conn:
            await conn.execute(text("INSERT INTO t (name) VALUES ('first')"))
            inside.set()
            await finish.wait()

    holding = asyncio.create_task(holder())
    await inside.wait()
    assert not _lock_is_free(path)  # the transaction holds the file lock...
    waiting = asyncio.create_task(_insert(second, "second"))
    await asyncio.sleep(0.2)
    assert not waiting.done()  # ...and the other writer waits for it, the loop running
    finish.set()
    await asyncio.wait_for(asyncio.gather(holding, waiting), 10)
    assert _lock_is_free(path)  # given back after each commit
    assert await _names(second) == ["first", "second"]
    await first.dispose()
    await second.dispose()


async def test_a_waiter_cancelled_while_blocked_does_not_keep_the_lock(path: Path) -> None:
    first, second, third = (Database(f"sqlite+aiosqlite:///{path}") for _ in range(3))
    inside, finish = asyncio.Event(), asyncio.Event()

    async def holder() -> None:
        async with first.write():
            inside.set()
            await finish.wait()

    holding = asyncio.create_task(holder())
    await inside.wait()
    waiting = asyncio.create_task(_insert(second, "never"))
    await asyncio.sleep(0.2)  # blocked in its thread, in flock()
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    finish.set()
    await holding
    # The cancelled waiter's thread gets the lock once it is free and hands it straight back.
    await asyncio.wait_for(_insert(third, "third"), 10)
    assert await _names(third) == ["third"]
    for db in (first, second, third):
        await db.dispose()


async def test_a_lock_never_released_times_out_like_a_busy_database(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("agentpost.storage.engine.BUSY_TIMEOUT_MS", 200)
    db = Database(f"sqlite+aiosqlite:///{path}")
    stuck = os.open(f"{path}.lock", os.O_RDWR)
    fcntl.flock(stuck, fcntl.LOCK_EX)  # a process that hangs inside its transaction
    with pytest.raises(sqlite3.OperationalError, match="database is locked"):
        await _insert(db, "lost")
    os.close(stuck)
    await asyncio.wait_for(_insert(db, "later"), 10)  # nothing left held by the timed-out wait
    assert await _names(db) == ["later"]
    await db.dispose()


async def test_the_lock_file_is_private_to_the_user(path: Path) -> None:
    db = Database(f"sqlite+aiosqlite:///{path}")
    await _insert(db, "x")
    assert (Path(f"{path}.lock").stat().st_mode & 0o777) == 0o600
    await db.dispose()


async def test_a_transaction_that_need_not_be_durable_skips_the_sync_only_for_itself(
    any_ctx: AppContext,
) -> None:
    db = any_ctx.db
    if db.is_sqlite:
        query, relaxed, durable = "PRAGMA synchronous", 1, 2  # NORMAL, FULL
    else:
        query, relaxed, durable = "SHOW synchronous_commit", "off", "on"
    async with db.write(durable=False) as conn:
        assert (await conn.exec_driver_sql(query)).scalar_one() == relaxed
        raw = (await conn.get_raw_connection()).driver_connection
    async with db.write() as conn:
        assert (await conn.exec_driver_sql(query)).scalar_one() == durable
    if db.is_sqlite:  # the very connection the relaxed transaction used is back to FULL
        assert raw.raw.execute(query).fetchone() == (durable,)  # type: ignore[union-attr]
    else:  # SET LOCAL ended with its transaction
        async with db.read() as conn:
            assert (await conn.exec_driver_sql(query)).scalar_one() == durable


async def test_a_lock_file_that_cannot_be_opened_leaves_writes_working_with_a_warning(
    path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    lock = Path(f"{path}.lock")
    lock.unlink()
    lock.mkdir()  # in the way, as another user's file would be
    db = Database(f"sqlite+aiosqlite:///{path}")
    with caplog.at_level(logging.WARNING, logger="agentpost.storage.writer_lock"):
        await _insert(db, "a")
        await _insert(db, "b")
    assert await _names(db) == ["a", "b"]
    warnings = [r for r in caplog.records if r.name == "agentpost.storage.writer_lock"]
    assert len(warnings) == 1  # once, not per transaction
    assert f"{path}.lock" in warnings[0].getMessage()
    await db.dispose()


async def test_a_release_that_fails_warns_and_does_not_raise(
    path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """It runs after a COMMIT that happened: raising would make the write look failed."""
    lock = WriterLock(path)
    assert await lock.acquire(1.0)
    os.close(lock._fd)  # the descriptor gone from under it (EBADF on unlock)
    with caplog.at_level(logging.WARNING, logger="agentpost.storage.writer_lock"):
        lock.release()
    assert any("cannot release" in r.getMessage() for r in caplog.records)
    assert _lock_is_free(path)  # closing the file dropped the lock anyway


async def test_a_process_whose_wait_timed_out_still_exits(path: Path) -> None:
    """The thread left blocked in flock() behind a hung holder must not keep the process
    alive (an executor's thread would be joined at exit, for as long as the holder hangs)."""
    script = f"""
import asyncio, sqlite3
from sqlalchemy import text
from agentpost.storage import engine

engine.BUSY_TIMEOUT_MS = 200

async def main():
    db = engine.Database("sqlite+aiosqlite:///{path}")
    try:
        async with db.write() as conn:
            await conn.execute(text("INSERT INTO t (name) VALUES ('x')"))
    except sqlite3.OperationalError as exc:
        print("refused:", exc)
    await db.dispose()

asyncio.run(main())
"""
    holder = os.open(f"{path}.lock", os.O_RDWR)
    fcntl.flock(holder, fcntl.LOCK_EX)  # hung inside its transaction, for the whole test
    try:
        done = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-c", script],
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        os.close(holder)
    assert done.returncode == 0, done.stderr
    assert "refused: database is locked" in done.stdout
