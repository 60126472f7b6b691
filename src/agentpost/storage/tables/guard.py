"""Tables of the guard area: per-agent guard policies and held outbound mail.

``pending_outbound`` keeps a held message exactly as the agent built it (raw bytes and
envelope) with what the guard found (rule ids and descriptions, never the matched text), and
``content_hash`` binds any approval to those exact bytes and recipients. ``status`` moves
once, from ``pending`` to ``approved``/``rejected``/``expired``; the conditional update that
does it is what makes an approval single-use. ``token_hash`` is the keyed hash of the token in
the owner's notification mail (the token itself is never stored).
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
)

from agentpost.storage.tables.core import metadata

guard_policies = Table(
    "guard_policies",
    metadata,
    Column("agent_id", String(36), ForeignKey("agents.id", ondelete="CASCADE"), primary_key=True),
    Column("policy", JSON, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

pending_outbound = Table(
    "pending_outbound",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("owner_id", String(36), nullable=False),
    Column("agent_id", String(36), ForeignKey("agents.id", ondelete="CASCADE"), nullable=False),
    Column("status", String(16), nullable=False),
    Column("raw", LargeBinary, nullable=False),
    Column("envelope", JSON, nullable=False),
    Column("message_id", String(998), nullable=False),
    Column("subject", Text, nullable=False),
    Column("findings", JSON, nullable=False),
    Column("content_hash", String(64), nullable=False),
    Column("token_hash", String(64), nullable=True, unique=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("resolved_at", DateTime(timezone=True), nullable=True),
    Column("resolved_by", String(32), nullable=True),
    Column("notified_at", DateTime(timezone=True), nullable=True),
    # The last follow-up reminder shown to the agent (its scheduled time).
    Column("reminded_at", DateTime(timezone=True), nullable=True),
    Column("reminders_sent", Integer, nullable=False, default=0),
    Column("error", Text, nullable=True),
    Index("ix_pending_agent_created", "agent_id", "created_at"),
    Index("ix_pending_owner_created", "owner_id", "created_at"),
)
