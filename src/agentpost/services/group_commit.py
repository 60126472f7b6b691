"""Group commit: concurrent writers share one transaction, and one sync to disk.

Under load, most of a small write's cost is the transaction around it (BEGIN, COMMIT, the
pages the commit writes and syncs) and the per-statement overhead, not the rows. Writers that
arrive while a transaction is being written wait for it and then go in together in the next
one, where their rows can be written with one statement per table instead of one each. Every
writer still gets its answer only after the commit that holds its work.

``GroupCommit`` is the mechanism; what a group writes is the caller's ``write`` function, which
gets the transaction and the items and returns one outcome per item: a result, or an
exception the item's submitter should get (a refusal decided before anything of that item was
written, so the others may commit). Any exception ``write`` raises instead aborts the whole
group, which is then retried item by item, so one bad item cannot fail the others. Items
submitted with ``alone=True`` always get a transaction of their own.

Inbound SMTP delivery (services/inbox.py) and sending (services/outbox.py) use it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from sqlalchemy.ext.asyncio import AsyncConnection

from agentpost.storage.engine import Database

T = TypeVar("T")
R = TypeVar("R")

# One outcome per item, in order: its result, or the exception its submitter gets.
Write = Callable[[AsyncConnection, Sequence[T]], Awaitable[Sequence[R | BaseException]]]


@dataclass(slots=True)
class _Waiting(Generic[T, R]):
    item: T
    size: int
    alone: bool
    done: asyncio.Future[R]


class GroupCommit(Generic[T, R]):
    """Runs ``write`` for groups of concurrently submitted items, one transaction each.

    A group holds at most ``max_items`` items and ``max_bytes`` of their declared sizes (at
    least one item, however big). Bound to the event loop it was made on (``loop``).
    """

    def __init__(
        self, db: Database, write: Write[T, R], *, max_items: int = 64, max_bytes: int = 32 << 20
    ) -> None:
        self._db = db
        self._write = write
        self._max_items = max_items
        self._max_bytes = max_bytes
        self._queue: list[_Waiting[T, R]] = []
        self._writing = asyncio.Lock()
        self.loop = asyncio.get_running_loop()

    async def submit(self, item: T, *, size: int = 0, alone: bool = False) -> R:
        """``item``'s result once the transaction holding it has committed (or its error)."""
        waiting: _Waiting[T, R] = _Waiting(item, size, alone, self.loop.create_future())
        self._queue.append(waiting)
        while not waiting.done.done():
            async with self._writing:
                if not waiting.done.done():
                    # Shielded: a client hanging up must not abort the others' commit.
                    await asyncio.shield(self._commit(self._take()))
        return waiting.done.result()

    def _take(self) -> list[_Waiting[T, R]]:
        """The oldest waiting items, up to the group limits (always at least one). An item
        that must be alone is a group by itself, and ends a group when it comes later."""
        count, size = 0, 0
        for waiting in self._queue:
            if count and (
                waiting.alone or count == self._max_items or size + waiting.size > self._max_bytes
            ):
                break
            count, size = count + 1, size + waiting.size
            if waiting.alone:
                break
        group, self._queue = self._queue[:count], self._queue[count:]
        return group

    async def _commit(self, group: list[_Waiting[T, R]]) -> None:
        try:
            async with self._db.write() as conn:
                outcomes = await self._write(conn, [w.item for w in group])
        except Exception as exc:
            if len(group) == 1:
                group[0].done.set_exception(exc)
                return
            for waiting in group:  # find the bad one: each in a transaction of its own
                await self._commit([waiting])
            return
        for waiting, outcome in zip(group, outcomes, strict=True):
            if isinstance(outcome, BaseException):
                waiting.done.set_exception(outcome)
            else:
                waiting.done.set_result(outcome)


def on_running_loop(
    current: GroupCommit[T, R] | None, db: Database, write: Write[T, R], **limits: int
) -> GroupCommit[T, R]:
    """``current`` if it serves the running event loop, else a new committer for it (a
    context outlives an event loop in tests and in the CLI's one-shot commands)."""
    if current is not None and current.loop is asyncio.get_running_loop():
        return current
    return GroupCommit(db, write, **limits)
