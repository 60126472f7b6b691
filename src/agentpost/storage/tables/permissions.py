"""Tables of the permissions area: who may send through which SMTP configuration, the durable
send log the rate limits count, and Idempotency-Key records of the send routes.

``agent_permissions`` holds one row per (agent, configuration). ``send_log`` has one row per
message that left through a configuration; the sliding windows (hour, day) and a
configuration's daily cap are counts over it, so they survive restarts and hold across
processes. It keeps ``agent_id`` without a foreign key: a deleted agent's sends still count
against the configuration's cap until they age out.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from agentpost.storage.tables.core import Id, metadata

agent_permissions = Table(
    "agent_permissions",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("owner_id", String(36), nullable=False),
    Column("agent_id", String(36), ForeignKey("agents.id", ondelete="CASCADE"), nullable=False),
    # A deleted configuration takes its assignments with it: no rows pointing at nothing.
    Column(
        "config_id",
        String(36),
        ForeignKey("smtp_configs.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("can_send", Boolean, nullable=False),
    Column("daily_limit", Integer, nullable=True),
    Column("hourly_limit", Integer, nullable=True),
    # Patterns: exact address, *@domain, or /regex/; empty list = any recipient.
    Column("allowed_recipients", JSON, nullable=False),
    Column("is_default", Boolean, nullable=False, default=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("agent_id", "config_id", name="uq_agent_permissions_agent_config"),
    Index("ix_agent_permissions_config", "config_id"),
)

send_log = Table(
    "send_log",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("agent_id", String(36), nullable=False),
    Column("config_id", String(36), nullable=True),
    Column("recipients", Integer, nullable=False),
    Column("sent_at", DateTime(timezone=True), nullable=False),
    Index("ix_send_log_agent_at", "agent_id", "sent_at"),
    Index("ix_send_log_config_at", "config_id", "sent_at"),
)

idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("agent_id", String(36), ForeignKey("agents.id", ondelete="CASCADE"), primary_key=True),
    Column("key", String(255), primary_key=True),
    Column("fingerprint", String(64), nullable=False),
    # pending (claimed, not sent) → sent (the send committed) → done (answer recorded)
    Column("state", String(8), nullable=False),
    Column("status_code", Integer, nullable=True),
    Column("response", Text, nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
)
