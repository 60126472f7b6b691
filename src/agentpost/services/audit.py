"""The audit log: every operation an owner may need to account for becomes one row.

``record`` appends inside the caller's transaction, so an operation and its audit row commit
together (or neither does); ``record_now`` writes one in a transaction of its own, for
refusals whose own transaction is rolled back. Rows are hash-chained: each row's hash covers
its fields and the previous row's hash, so an edited or deleted row is detectable
(``entry_hash`` is the one definition both the writer and the verifier use).

Operations are past-tense names (``config.created``, ``send.accepted``, ``send.refused`` ...);
``status`` is ``ok``, ``refused``, ``failed``, ``deferred`` or ``held``. Never put a secret in
``error`` or ``detail``: both are shown to owners and exported.

Reading: ``list_audit`` pages newest first (a ``seq`` cursor, or an offset), scoped to the
caller's owner unless the caller is the admin; ``iter_audit`` streams the same rows for export;
``verify_chain`` walks the whole chain oldest first and names the first broken row.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from agentpost.errors import InvalidInput
from agentpost.services.accounts import Principal, PrincipalKind, now_utc
from agentpost.services.context import AppContext
from agentpost.storage.repositories import audit as audit_repo
from agentpost.storage.repositories.audit import AuditFilter, AuditRecord

# The advisory lock that orders appends on PostgreSQL (SQLite writers exclude each other).
AUDIT_LOCK = 0x41554454  # "AUDT"


@dataclass(frozen=True, slots=True)
class AuditEntry:
    operation: str
    status: str = "ok"
    owner_id: str | None = None
    agent_id: str | None = None
    config_id: str | None = None
    recipients: int = 0
    error: str | None = None
    duration_ms: int | None = None
    detail: dict[str, Any] = field(default_factory=dict)


def entry_hash(prev_hash: str, seq: int, at: datetime, entry: AuditEntry) -> str:
    """SHA-256 over the previous hash and this row's fields, in a canonical JSON form."""
    body = {
        "seq": seq,
        "at": _utc_text(at),
        "owner": entry.owner_id,
        "agent": entry.agent_id,
        "config": entry.config_id,
        "operation": entry.operation,
        "recipients": entry.recipients,
        "status": entry.status,
        "error": entry.error,
        "duration_ms": entry.duration_ms,
        "detail": entry.detail,
    }
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(f"{prev_hash}\n{canonical}".encode()).hexdigest()


def _utc_text(at: datetime) -> str:
    # SQLite hands datetimes back naive (they were stored in UTC): hash one form for both.
    if at.tzinfo is not None:
        at = at.astimezone(UTC).replace(tzinfo=None)
    return at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


async def record(ctx: AppContext, conn: AsyncConnection, entry: AuditEntry) -> int:
    """Append ``entry`` inside the caller's write transaction; returns its sequence number."""
    return (await record_many(ctx, conn, [entry]))[0]


async def record_many(
    ctx: AppContext, conn: AsyncConnection, entries: Sequence[AuditEntry]
) -> list[int]:
    """Append ``entries`` in order, chained, with one read of the head and one insert (a
    group of sends); returns their sequence numbers."""
    if not entries:
        return []
    await ctx.db.serialize(conn, AUDIT_LOCK)
    last_seq, last_hash = await audit_repo.chain_head(conn)
    rows, seqs = [], []
    for entry in entries:
        seq, at = last_seq + 1, now_utc()
        digest = entry_hash(last_hash, seq, at, entry)
        rows.append(
            {
                "seq": seq,
                "at": at,
                "owner_id": entry.owner_id,
                "agent_id": entry.agent_id,
                "config_id": entry.config_id,
                "operation": entry.operation,
                "recipients": entry.recipients,
                "status": entry.status,
                "error": entry.error,
                "duration_ms": entry.duration_ms,
                "detail": json.dumps(entry.detail, sort_keys=True) if entry.detail else None,
                "prev_hash": last_hash,
                "hash": digest,
            }
        )
        seqs.append(seq)
        last_seq, last_hash = seq, digest
    await audit_repo.append_many(conn, rows)
    return seqs


async def record_now(ctx: AppContext, entry: AuditEntry) -> int:
    """Append ``entry`` in a transaction of its own (for refusals and worker outcomes)."""
    async with ctx.db.write() as conn:
        return await record(ctx, conn, entry)


# -- reading and verifying --------------------------------------------------------------------

PAGE_DEFAULT, PAGE_MAX = 50, 500
VERIFY_BATCH = 1000


@dataclass(frozen=True, slots=True)
class AuditPage:
    entries: list[AuditRecord]
    total: int
    next_cursor: int | None  # pass as ``cursor`` for the next (older) page; None at the end


def _scoped(principal: Principal, f: AuditFilter) -> AuditFilter:
    principal.require_admin_or_owner()
    if principal.kind is not PrincipalKind.admin:
        f = replace(f, owner_id=principal.owner_id)  # owners see their own rows only
    if f.since is not None and f.until is not None and f.since >= f.until:
        raise InvalidInput("since must be earlier than until", field="since")
    return f


async def list_audit(
    ctx: AppContext,
    principal: Principal,
    f: AuditFilter,
    *,
    limit: int = PAGE_DEFAULT,
    cursor: int | None = None,
    offset: int = 0,
) -> AuditPage:
    """One page of the caller's audit rows, newest first."""
    f = _scoped(principal, f)
    if not 1 <= limit <= PAGE_MAX:
        raise InvalidInput(f"limit must be from 1 to {PAGE_MAX}", field="limit")
    if cursor is not None and offset:
        raise InvalidInput("use either cursor or offset, not both", field="offset")
    async with ctx.db.read() as conn:
        rows = await audit_repo.page(conn, f, limit=limit + 1, before_seq=cursor, offset=offset)
        total = await audit_repo.count(conn, f)
    more = len(rows) > limit
    rows = rows[:limit]
    return AuditPage(rows, total, rows[-1].seq if more and rows else None)


async def iter_audit(
    ctx: AppContext, principal: Principal, f: AuditFilter
) -> AsyncIterator[AuditRecord]:
    """Every matching row, newest first, read in pages (for export)."""
    f = _scoped(principal, f)
    cursor: int | None = None
    while True:
        async with ctx.db.read() as conn:
            rows = await audit_repo.page(conn, f, limit=PAGE_MAX, before_seq=cursor)
        for row in rows:
            yield row
        if len(rows) < PAGE_MAX:
            return
        cursor = rows[-1].seq


@dataclass(frozen=True, slots=True)
class VerifyReport:
    ok: bool
    checked: int
    head_seq: int
    head_hash: str
    broken_seq: int | None = None
    reason: str | None = None


def _entry_of(row: AuditRecord) -> AuditEntry:
    return AuditEntry(
        operation=row.operation,
        status=row.status,
        owner_id=row.owner_id,
        agent_id=row.agent_id,
        config_id=row.config_id,
        recipients=row.recipients,
        error=row.error,
        duration_ms=row.duration_ms,
        detail=row.detail,
    )


def _check_row(row: AuditRecord, prev_seq: int, prev_hash: str) -> str | None:
    """Why ``row`` breaks the chain after (prev_seq, prev_hash), or None when it holds."""
    if row.seq != prev_seq + 1:
        return f"rows {prev_seq + 1} to {row.seq - 1} are missing (deleted)"
    if row.prev_hash != prev_hash:
        return f"its prev_hash does not match row {prev_seq}'s hash (a row was edited or removed)"
    if entry_hash(prev_hash, row.seq, row.at, _entry_of(row)) != row.hash:
        return "its hash does not match its contents (the row was edited)"
    return None


async def verify_chain(ctx: AppContext, principal: Principal) -> VerifyReport:
    """Walk the whole chain, oldest first; report the first row that breaks it.

    Deleting the newest rows leaves a shorter chain that still verifies: keep the reported
    head (seq and hash) somewhere else to detect that too."""
    principal.require_admin_or_owner()
    prev_seq, prev_hash, checked = 0, audit_repo.GENESIS, 0
    while True:
        async with ctx.db.read() as conn:
            rows = await audit_repo.chain_after(conn, prev_seq, limit=VERIFY_BATCH)
        for row in rows:
            reason = _check_row(row, prev_seq, prev_hash)
            if reason is not None:
                return VerifyReport(False, checked, prev_seq, prev_hash, row.seq, reason)
            prev_seq, prev_hash, checked = row.seq, row.hash, checked + 1
        if len(rows) < VERIFY_BATCH:
            return VerifyReport(True, checked, prev_seq, prev_hash)
