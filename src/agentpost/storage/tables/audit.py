"""The audit log: one row per operation, hash-chained so tampering is detectable.

Each row's ``hash`` covers its own fields and the previous row's hash (``prev_hash``), so
editing or deleting any row breaks the chain from there on (services/audit.py verifies it).
``seq`` orders the chain; rows are appended under a lock, never updated.
"""

from __future__ import annotations

from sqlalchemy import Column, DateTime, Index, Integer, String, Table, Text

from agentpost.storage.tables.core import Id, metadata

audit_log = Table(
    "audit_log",
    metadata,
    Column("seq", Id, primary_key=True, autoincrement=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("owner_id", String(36), nullable=True),
    Column("agent_id", String(36), nullable=True),
    Column("config_id", String(36), nullable=True),
    Column("operation", String(48), nullable=False),
    Column("recipients", Integer, nullable=False),
    Column("status", String(16), nullable=False),
    Column("error", Text, nullable=True),
    Column("duration_ms", Integer, nullable=True),
    Column("detail", Text, nullable=True),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    Index("ix_audit_owner_at", "owner_id", "at"),
    Index("ix_audit_agent_at", "agent_id", "at"),
    Index("ix_audit_operation", "operation"),
)
