"""The one global lock order of write transactions on PostgreSQL, and the send locks in it.

Two transactions that each hold a lock the other wants wait for each other until PostgreSQL
breaks the cycle after ``deadlock_timeout``, failing one of them. No cycle can form when every
transaction takes its locks in one order, so every writer keeps this one:

1. **Send locks** (``SendLock``, transaction-scoped advisory locks): configurations, then
   agents, each kind by id. A send takes its configuration's, then its agent's, so that its
   limits hold across processes (services/permissions.py); a group of sends takes all of its
   sends' locks up front, sorted (services/outbox.py), and a send that would need one that
   sorts before a lock already held fails its group instead (``LockOrderBroken``).
2. **Folder rows**, by (agent id, folder name): the UID counters of services/store.py
   (``folder_repo.reserve_uids``) and the rows a move, flag change or removal locks before
   anything else (``folder_repo.lock_folders``).
3. **Message rows**, only ever after their folders' rows: the counters' triggers write the
   folder row of every message inserted, moved, flagged seen or deleted.
4. **Agent rows** (mailbox usage), by id: services/store.py and ``mailbox.expunge``.
5. **The audit chain** (``audit.AUDIT_LOCK``), last: an operation appends its audit rows once
   everything else it writes is written.

The rows an operation is about come between 1 and 2: the held item an approval claims, the
Idempotency-Key a send binds, the relay account an import advances.

SQLite needs none of this: its write transactions exclude each other whole.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncConnection

from agentpost.services.context import AppContext

_LOCK_KINDS = ("config", "agent")  # in the order every transaction takes them


@dataclass(frozen=True, order=True, slots=True)
class SendLock:
    """One advisory lock a send takes; instances sort in the global order of taking."""

    rank: int  # index in _LOCK_KINDS
    ident: str

    @classmethod
    def config(cls, config_id: str) -> SendLock:
        return cls(_LOCK_KINDS.index("config"), config_id)

    @classmethod
    def agent(cls, agent_id: str) -> SendLock:
        return cls(_LOCK_KINDS.index("agent"), agent_id)

    @property
    def key(self) -> int:
        return lock_key(_LOCK_KINDS[self.rank], self.ident)


class LockOrderBroken(Exception):
    """A send needs a lock that sorts before one its transaction already holds: taking it
    could deadlock with a transaction that keeps the order. Not a refusal of the send: its
    group must be retried send by send (services/group_commit.py does that)."""


def lock_key(kind: str, ident: str) -> int:
    """A stable signed 64-bit advisory-lock id for one agent or configuration."""
    digest = hashlib.sha256(f"agentpost:send:{kind}:{ident}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def locks_of(agent_id: str, config_id: str | None) -> list[SendLock]:
    """The locks of a send by ``agent_id`` through ``config_id`` (None: no configuration
    chosen yet, so only the agent's)."""
    configs = [] if config_id is None else [SendLock.config(config_id)]
    return [*configs, SendLock.agent(agent_id)]


async def take_locks(
    ctx: AppContext, conn: AsyncConnection, locks: Sequence[SendLock], held: list[SendLock]
) -> None:
    """Take those of ``locks`` the transaction does not hold yet (``held``, in the order they
    were taken, which this extends), in the global order. Raises ``LockOrderBroken`` (taking
    nothing) if one sorts before a lock already held."""
    wanted = sorted(set(locks) - set(held))
    if wanted and held and wanted[0] < max(held):
        raise LockOrderBroken(f"send lock {wanted[0]} comes before one already held")
    for lock in wanted:
        await ctx.db.serialize(conn, lock.key)
        held.append(lock)
