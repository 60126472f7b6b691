"""Tables of the workflow area: tags, message tags, delivery rules and tasks between agents.

Message tags point at the message row, not at (folder, UID): a move gives a message a new UID
but keeps its row, so its tags follow it; expunging the row removes them by cascade.
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

tags = Table(
    "tags",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("agent_id", String(36), ForeignKey("agents.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(64), nullable=False),
    # Names are unique per agent regardless of case: "Urgent" and "urgent" are one tag.
    Column("name_key", String(64), nullable=False),
    Column("color", String(7), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("agent_id", "name_key", name="uq_tags_agent_name"),
)

message_tags = Table(
    "message_tags",
    metadata,
    Column("tag_id", String(36), ForeignKey("tags.id", ondelete="CASCADE"), primary_key=True),
    Column(
        "message_row_id",
        Id,
        ForeignKey("messages.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Index("ix_message_tags_message", "message_row_id"),
)

rules = Table(
    "rules",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("agent_id", String(36), ForeignKey("agents.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(128), nullable=False),
    Column("name_key", String(128), nullable=False),
    Column("priority", Integer, nullable=False),
    Column("enabled", Boolean, nullable=False),
    Column("conditions", JSON, nullable=False),
    Column("actions", JSON, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("agent_id", "name_key", name="uq_rules_agent_name"),
)

tasks = Table(
    "tasks",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("owner_id", String(36), ForeignKey("owners.id", ondelete="CASCADE"), nullable=False),
    # NULL when the owner or the admin assigned it (no agent on that side).
    Column("assigner_id", String(36), ForeignKey("agents.id", ondelete="CASCADE"), nullable=True),
    Column("assigner_name", String(64), nullable=False),
    Column("assignee_id", String(36), ForeignKey("agents.id", ondelete="CASCADE"), nullable=False),
    Column("assignee_name", String(64), nullable=False),
    Column("task_type", String(64), nullable=False),
    Column("payload", JSON, nullable=False),
    Column("status", String(16), nullable=False),
    Column("result", JSON, nullable=True),
    Column("error", Text, nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("claimed_at", DateTime(timezone=True), nullable=True),
    Column("completed_at", DateTime(timezone=True), nullable=True),
    Column("expires_at", DateTime(timezone=True), nullable=True),
    Index("ix_tasks_assignee_status", "assignee_id", "status"),
    Index("ix_tasks_assigner_created", "assigner_id", "created_at"),
)
