"""The outbound delivery queue: claiming due rows, recording attempts, and looking rows up.

A row is due when it is ``queued``/``deferred`` and its ``next_attempt_at`` has come, or when
it is ``sending`` under a lease that ran out (its worker died mid-send). Claims take row locks
with ``SKIP LOCKED`` on PostgreSQL so any number of workers share the queue without waiting on
each other; on SQLite the caller's ``BEGIN IMMEDIATE`` transaction already excludes them.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    Select,
    Update,
    and_,
    bindparam,
    exists,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from agentpost.storage import direct
from agentpost.storage.records import DeliveryRecord, utc
from agentpost.storage.tables.core import (
    agents,
    deliveries,
    delivery_attempts,
    folders,
    message_blobs,
    messages,
)

RETRYABLE = ("queued", "deferred")


@dataclass(frozen=True, slots=True)
class ClaimedRow:
    """One recipient of one message, claimed by a worker for an attempt."""

    id: int
    message_row_id: int
    agent_id: str
    owner_id: str
    sender: str
    recipient: str
    config_id: str | None
    attempts: int
    deadline_at: datetime
    blob_id: int
    message_id: str
    subject: str


@dataclass(frozen=True, slots=True)
class AttemptRecord:
    delivery_id: int
    attempt: int
    started_at: datetime
    duration_ms: int
    outcome: str
    code: int | None
    reply: str | None


@dataclass(frozen=True, slots=True)
class QueueRow:
    """A queue row as an operator lists it."""

    delivery: DeliveryRecord
    agent_name: str
    message_id: str
    subject: str


# The worker's statements are built once, with their values as parameters: it runs them for
# every few messages, and building a statement (and its cache key) costs more than running it.
_NOW = bindparam("now", type_=deliveries.c.next_attempt_at.type)
_IDS: BindParameter[int] = bindparam("ids", expanding=True)
_WORKER = bindparam("worker", type_=deliveries.c.claimed_by.type)


def _claimable(source: ColumnElement[bool]) -> Select[Any]:
    """The first ``:limit`` external rows of one kind of due row, oldest due first, with
    what a worker needs to send them."""
    return (
        select(
            deliveries,
            agents.c.owner_id,
            agents.c.address,
            messages.c.blob_id,
            messages.c.message_id,
            messages.c.subject,
        )
        .join(agents, agents.c.id == deliveries.c.agent_id)
        .join(messages, messages.c.id == deliveries.c.message_row_id)
        .where(deliveries.c.kind == "external", source)
        .order_by(deliveries.c.next_attempt_at, deliveries.c.id)
        .limit(bindparam("limit"))
    )


# Each kind of row a worker may claim at ``:now``: queued or deferred ones whose time has
# come, and ``sending`` ones whose lease ran out.
_DUE = [
    and_(deliveries.c.status == status, deliveries.c.next_attempt_at <= _NOW)
    for status in RETRYABLE
] + [and_(deliveries.c.status == "sending", deliveries.c.lease_until <= _NOW)]
_ANY_DUE = select(or_(*(exists().where(deliveries.c.kind == "external", due) for due in _DUE)))
_CLAIMABLE = [_claimable(due) for due in _DUE]
_CLAIMABLE_SKIP_LOCKED = [q.with_for_update(skip_locked=True, of=deliveries) for q in _CLAIMABLE]
_CLAIM = (
    update(deliveries)
    .where(deliveries.c.id.in_(_IDS))
    .values(
        status="sending",
        claimed_by=_WORKER,
        lease_until=bindparam("lease", type_=deliveries.c.lease_until.type),
        deadline_at=func.coalesce(
            deliveries.c.deadline_at, bindparam("deadline", type_=deliveries.c.deadline_at.type)
        ),
        updated_at=_NOW,
    )
)


async def any_due(conn: AsyncConnection, now: datetime) -> bool:
    """Whether ``claim_due`` would find a row (one indexed probe per kind of due row)."""
    return bool((await conn.execute(_ANY_DUE, {"now": now})).scalar_one())


def _when(value: datetime | None, default: datetime) -> datetime:
    return utc(value) if value is not None else default


async def claim_due(
    conn: AsyncConnection,
    *,
    now: datetime,
    limit: int,
    worker: str,
    lease_until: datetime,
    deadline_at: datetime,
    skip_locked: bool,
) -> list[ClaimedRow]:
    """Mark up to ``limit`` due rows ``sending`` under ``worker``'s lease and return them.

    A row claimed for the first time gets ``deadline_at``; later claims keep its own.
    """
    # One indexed range per kind of due row, each read in queue order and cut at ``limit``,
    # then merged: a single query with an OR over the statuses would read and sort every
    # due row to return the first few, so draining a backlog of n rows would cost n².
    candidates = []
    for query in _CLAIMABLE_SKIP_LOCKED if skip_locked else _CLAIMABLE:
        candidates += (await conn.execute(query, {"now": now, "limit": limit})).mappings().all()
    rows = sorted(candidates, key=lambda r: (_when(r["next_attempt_at"], now), r["id"]))[:limit]
    if not rows:
        return []
    ids = [int(r["id"]) for r in rows]
    await conn.execute(
        _CLAIM,
        {"ids": ids, "worker": worker, "lease": lease_until, "deadline": deadline_at, "now": now},
    )
    return [
        ClaimedRow(
            id=int(r["id"]),
            message_row_id=int(r["message_row_id"]),
            agent_id=r["agent_id"],
            owner_id=r["owner_id"],
            sender=r["address"],
            recipient=r["recipient"],
            config_id=r["config_id"],
            attempts=int(r["attempts"]),
            deadline_at=utc(r["deadline_at"]) if r["deadline_at"] else deadline_at,
            blob_id=int(r["blob_id"]),
            message_id=r["message_id"],
            subject=r["subject"],
        )
        for r in rows
    ]


_NEXT_RETRY = select(func.min(deliveries.c.next_attempt_at)).where(
    deliveries.c.kind == "external", deliveries.c.status.in_(RETRYABLE)
)
_NEXT_LEASE_END = select(func.min(deliveries.c.lease_until)).where(deliveries.c.status == "sending")


async def next_due_at(conn: AsyncConnection) -> datetime | None:
    """When the earliest row becomes due (a retry time or a lease running out)."""
    found = [
        (await conn.execute(_NEXT_RETRY)).scalar_one_or_none(),
        (await conn.execute(_NEXT_LEASE_END)).scalar_one_or_none(),
    ]
    times = [utc(t) for t in found if t is not None]
    return min(times) if times else None


_BLOBS = select(message_blobs.c.id, message_blobs.c.raw).where(message_blobs.c.id.in_(_IDS))


async def blobs(conn: AsyncConnection, blob_ids: Sequence[int]) -> dict[int, bytes]:
    result = await conn.execute(_BLOBS, {"ids": sorted(set(blob_ids))})
    return {int(r[0]): bytes(r[1]) for r in result.all()}


@functools.cache
def _finish_statement(columns: tuple[str, ...], attempted: bool) -> Update:
    """The UPDATE that records one outcome, setting ``columns`` (each from the parameter
    ``v_<column>``), built once per shape of outcome."""
    values: dict[str, Any] = {
        name: bindparam(f"v_{name}", type_=deliveries.c[name].type) for name in columns
    }
    if attempted:
        values["attempts"] = deliveries.c.attempts + 1
    return (
        update(deliveries)
        .where(
            deliveries.c.id.in_(_IDS),
            deliveries.c.claimed_by == _WORKER,
            deliveries.c.status == "sending",
        )
        .values(claimed_by=None, lease_until=None, **values)
        .returning(deliveries.c.id)
    )


async def finish(
    conn: AsyncConnection,
    ids: Sequence[int],
    worker: str,
    values: dict[str, Any],
    *,
    attempted: bool,
) -> set[int]:
    """Record one outcome on the rows among ``ids`` this worker still holds; returns those.

    A row missing from the answer is no longer ours (its lease ran out and another worker
    took it, or an operator changed it): that worker's outcome counts, not this one.
    ``attempted`` counts one more attempt on each row.
    """
    statement = _finish_statement(tuple(sorted(values)), attempted)
    params = {f"v_{name}": value for name, value in values.items()}
    done: set[int] = set()
    id_list = list(ids)
    for start in range(0, len(id_list), 500):  # SQLite caps bound parameters per statement
        chunk = {"ids": id_list[start : start + 500], "worker": worker, **params}
        result = await conn.execute(statement, chunk)
        done.update(int(r[0]) for r in result.all())
    return done


async def release(conn: AsyncConnection, ids: Sequence[int], worker: str, now: datetime) -> None:
    """Give back claimed rows that were never attempted (a worker shutting down)."""
    if not ids:
        return
    await conn.execute(
        update(deliveries)
        .where(
            deliveries.c.id.in_(list(ids)),
            deliveries.c.claimed_by == worker,
            deliveries.c.status == "sending",
        )
        .values(status="queued", claimed_by=None, lease_until=None, updated_at=now)
    )


async def insert_attempts(conn: AsyncConnection, rows: list[dict[str, Any]]) -> None:
    await direct.insert(conn, delivery_attempts, rows)


def _record(r: Any) -> DeliveryRecord:
    def when(value: datetime | None) -> datetime | None:
        return utc(value) if value is not None else None

    return DeliveryRecord(
        id=int(r["id"]),
        message_row_id=int(r["message_row_id"]),
        recipient=r["recipient"],
        kind=r["kind"],
        status=r["status"],
        attempts=int(r["attempts"]),
        last_error=r["last_error"],
        created_at=utc(r["created_at"]),
        updated_at=utc(r["updated_at"]),
        config_id=r["config_id"],
        last_code=r["last_code"],
        next_attempt_at=when(r["next_attempt_at"]) if r["status"] in RETRYABLE else None,
        deadline_at=when(r["deadline_at"]),
        delivered_at=when(r["delivered_at"]),
    )


# Rows a worker will still act on: deleting their message row (ON DELETE CASCADE) would drop
# them without a trace, so deletions check for them first (services/mailbox, lifecycle).
LIVE = ("queued", "sending", "deferred")


async def live_message_rows(conn: AsyncConnection, message_row_ids: Sequence[int]) -> set[int]:
    """Those of ``message_row_ids`` that still have a delivery in flight."""
    ids = list(message_row_ids)
    found: set[int] = set()
    for start in range(0, len(ids), 500):  # SQLite caps bound parameters per statement
        result = await conn.execute(
            select(deliveries.c.message_row_id)
            .where(
                deliveries.c.message_row_id.in_(ids[start : start + 500]),
                deliveries.c.status.in_(LIVE),
            )
            .distinct()
        )
        found.update(int(r[0]) for r in result.all())
    return found


async def live_count_for_agent(conn: AsyncConnection, agent_id: str) -> int:
    """How many of the agent's deliveries are still in flight."""
    result = await conn.execute(
        select(func.count())
        .select_from(deliveries)
        .where(deliveries.c.agent_id == agent_id, deliveries.c.status.in_(LIVE))
    )
    return int(result.scalar_one())


async def deliveries_for(conn: AsyncConnection, message_row_id: int) -> list[DeliveryRecord]:
    result = await conn.execute(
        select(deliveries)
        .where(deliveries.c.message_row_id == message_row_id)
        .order_by(deliveries.c.id)
    )
    return [_record(r) for r in result.mappings()]


async def attempts_for(
    conn: AsyncConnection, delivery_ids: Sequence[int]
) -> dict[int, list[AttemptRecord]]:
    result = await conn.execute(
        select(delivery_attempts)
        .where(delivery_attempts.c.delivery_id.in_(list(delivery_ids)))
        .order_by(delivery_attempts.c.delivery_id, delivery_attempts.c.attempt)
    )
    found: dict[int, list[AttemptRecord]] = {}
    for r in result.mappings():
        found.setdefault(int(r["delivery_id"]), []).append(
            AttemptRecord(
                delivery_id=int(r["delivery_id"]),
                attempt=int(r["attempt"]),
                started_at=utc(r["started_at"]),
                duration_ms=int(r["duration_ms"]),
                outcome=r["outcome"],
                code=r["code"],
                reply=r["reply"],
            )
        )
    return found


@dataclass(frozen=True, slots=True)
class QueueFilter:
    owner_id: str | None = None
    agent_id: str | None = None
    statuses: tuple[str, ...] = ()
    ids: tuple[int, ...] = ()


def _filtered(flt: QueueFilter) -> list[ColumnElement[bool]]:
    clauses: list[ColumnElement[bool]] = [deliveries.c.kind == "external"]
    if flt.owner_id is not None:
        clauses.append(agents.c.owner_id == flt.owner_id)
    if flt.agent_id is not None:
        clauses.append(deliveries.c.agent_id == flt.agent_id)
    if flt.statuses:
        clauses.append(deliveries.c.status.in_(flt.statuses))
    if flt.ids:
        clauses.append(deliveries.c.id.in_(flt.ids))
    return clauses


async def list_queue(conn: AsyncConnection, flt: QueueFilter, limit: int) -> list[QueueRow]:
    """External rows matching ``flt``, newest first."""
    result = await conn.execute(
        select(deliveries, agents.c.name, messages.c.message_id, messages.c.subject)
        .join(agents, agents.c.id == deliveries.c.agent_id)
        .join(messages, messages.c.id == deliveries.c.message_row_id)
        .where(*_filtered(flt))
        .order_by(deliveries.c.id.desc())
        .limit(limit)
    )
    return [
        QueueRow(_record(r), r["name"], r["message_id"], r["subject"]) for r in result.mappings()
    ]


async def matching_ids(conn: AsyncConnection, flt: QueueFilter) -> list[int]:
    result = await conn.execute(
        select(deliveries.c.id)
        .join(agents, agents.c.id == deliveries.c.agent_id)
        .where(*_filtered(flt))
    )
    return [int(r[0]) for r in result.all()]


async def reschedule(
    conn: AsyncConnection, ids: Sequence[int], from_statuses: Sequence[str], values: dict[str, Any]
) -> int:
    """Change rows among ``ids`` that are in one of ``from_statuses``; returns how many."""
    changed = 0
    id_list = list(ids)
    for start in range(0, len(id_list), 500):  # SQLite caps bound parameters per statement
        result = await conn.execute(
            update(deliveries)
            .where(
                deliveries.c.id.in_(id_list[start : start + 500]),
                deliveries.c.status.in_(list(from_statuses)),
            )
            .values(**values)
        )
        changed += result.rowcount
    return changed


async def sent_row_id(conn: AsyncConnection, agent_id: str, folder: str, uid: int) -> int | None:
    """The message row of ``agent_id``'s ``uid`` in ``folder`` (None when there is none)."""
    result = await conn.execute(
        select(messages.c.id)
        .join(folders, folders.c.id == messages.c.folder_id)
        .where(folders.c.agent_id == agent_id, folders.c.name == folder, messages.c.uid == uid)
    )
    found = result.scalar_one_or_none()
    return int(found) if found is not None else None
