"""A lock between the processes writing one SQLite file, handed over the moment it is free.

SQLite lets one writer in at a time. A writer that finds the database locked by another
process waits in SQLite's busy handler, which sleeps in steps (1, 2, 5, 10, 15… ms) and
tries again: with an API process and a delivery-worker process on one file, most of a
waiter's time was those sleeps, not the other's transaction (a commit's sync to disk takes
2-4 ms here; a wait averaged 7 ms). So every process of ours also takes an exclusive
``flock`` on ``<database file>.lock`` around each write transaction: the kernel wakes a
blocked waiter as soon as the holder lets go. SQLite's own locking still guards the data;
this lock only orders our writers (a writer that does not take it, such as the sqlite3
shell, is waited for by the busy handler as before).

The lock belongs to the open file description, so one per ``Database``: writers of one
process are already serialised by its own ``asyncio.Lock`` before they come here. A process
that dies releases it (the kernel closes its files). A lock file this process cannot open
(another user's, say) leaves it with the busy handler alone, and a warning.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import queue
import threading
from pathlib import Path

logger = logging.getLogger(__name__)

LOCK_SUFFIX = ".lock"


class WriterLock:
    """The exclusive flock on ``<database>.lock``; blocking waits run in a thread of its own."""

    def __init__(self, database: Path) -> None:
        self.path = database.with_name(database.name + LOCK_SUFFIX)
        self._fd = -1  # opened on first use, and again after close() (an engine outlives it)
        self._opened = 0  # counts openings: a late hand-back must not touch a later file
        self._unusable = False
        self._waits: _Waits | None = None  # started on the first wait

    async def acquire(self, timeout: float) -> bool:
        """Take the lock, waiting up to ``timeout`` seconds for another process to release
        it (TimeoutError after that). False when there is no lock file to take."""
        if not self._open():
            return False
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            pass
        if self._waits is None:
            self._waits = _Waits()
        waiting = self._waits.wait(self._fd)
        try:
            await asyncio.wait_for(asyncio.shield(waiting), timeout)
        except BaseException:
            # Cancelled or timed out while the thread still waits: whenever it gets the lock,
            # give it straight back, or this process would hold it for good.
            opened = self._opened
            waiting.add_done_callback(lambda w: self._release_when_taken(w, opened))
            raise
        return True

    def release(self) -> None:
        """Let the next writer in. Never raises: it runs after a COMMIT that did happen."""
        if self._fd >= 0:
            try:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
            except OSError as exc:  # the file closes with the process, which frees it then
                logger.warning("cannot release %s: %s", self.path, exc.strerror or exc)

    def _open(self) -> bool:
        if self._fd < 0 and not self._unusable:
            try:
                self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
                self._opened += 1
            except OSError as exc:
                self._unusable = True
                logger.warning(
                    "cannot open %s (%s): writers in other processes will find this one's "
                    "transactions by SQLite's busy handler alone, which is slower",
                    self.path,
                    exc.strerror or exc,
                )
        return self._fd >= 0

    def _release_when_taken(self, waiting: asyncio.Future[None], opened: int) -> None:
        if opened == self._opened and not waiting.cancelled() and waiting.exception() is None:
            self.release()

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
        if self._waits is not None:
            self._waits.stop()
            self._waits = None


_Request = tuple[int, asyncio.AbstractEventLoop, "asyncio.Future[None]"]


class _Waits:
    """A thread that blocks in flock() for the waits handed to it, one after another.

    Its own thread, not an executor's: a wait that outlasts its caller (timed out, cancelled)
    stays blocked until the lock frees, and must neither tie up the loop's shared executor
    nor keep the process from exiting (executor threads are joined at exit; this one is a
    daemon)."""

    def __init__(self) -> None:
        self._requests: queue.SimpleQueue[_Request | None] = queue.SimpleQueue()
        thread = threading.Thread(target=self._serve, name="agentpost-writer-lock", daemon=True)
        thread.start()

    def wait(self, fd: int) -> asyncio.Future[None]:
        """Done once this process holds the lock on ``fd`` (or with the OSError flock gave)."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()
        self._requests.put((fd, loop, done))
        return done

    def stop(self) -> None:
        self._requests.put(None)  # after the waits already handed over

    def _serve(self) -> None:
        while (request := self._requests.get()) is not None:
            fd, loop, done = request
            failure: OSError | None = None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
            except OSError as exc:
                failure = exc
            with contextlib.suppress(RuntimeError):  # its loop is closed: nobody waits
                loop.call_soon_threadsafe(_settle, done, failure)


def _settle(done: asyncio.Future[None], failure: OSError | None) -> None:
    if done.done():
        return
    if failure is None:
        done.set_result(None)
    else:
        done.set_exception(failure)


def for_database(database: str | None) -> WriterLock | None:
    """The lock for a SQLite file (None for an in-memory database)."""
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return WriterLock(Path(database).expanduser())
