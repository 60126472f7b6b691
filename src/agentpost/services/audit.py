"""The audit log: every operation an owner may need to account for becomes one row.

``record`` appends inside the caller's transaction, so an operation and its audit row commit
together (or neither does); ``record_now`` writes one in a transaction of its own, for
refusals whose own transaction is rolled back. Rows are hash-chained: each row's hash covers
its fields and the previous row's hash, so an edited or deleted row is detectable
(``entry_hash`` is the one definition both the writer and the verifier use).

Operations are past-tense names (``config.created``, ``send.accepted``, ``send.refused`` ...);
``status`` is ``ok``, ``refused``, ``failed``, ``deferred`` or ``held``. Never put a secret in
``error`` or ``detail``: both are shown to owners and exported.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from agentpost.services.accounts import now_utc
from agentpost.services.context import AppContext
from agentpost.storage.repositories import audit as audit_repo

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
    await ctx.db.serialize(conn, AUDIT_LOCK)
    last_seq, last_hash = await audit_repo.chain_head(conn)
    seq, at = last_seq + 1, now_utc()
    await audit_repo.append(
        conn,
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
            "hash": entry_hash(last_hash, seq, at, entry),
        },
    )
    return seq


async def record_now(ctx: AppContext, entry: AuditEntry) -> int:
    """Append ``entry`` in a transaction of its own (for refusals and worker outcomes)."""
    async with ctx.db.write() as conn:
        return await record(ctx, conn, entry)
