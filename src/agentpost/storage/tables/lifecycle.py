"""Tables of account lifecycle: deletion reports and the archived mailboxes they describe.

Deleting an agent keeps its mail readable to the owner: every message is copied, raw bytes
included, into ``archived_messages`` under the report (no link to ``message_blobs``, whose
rows are reclaimed once no live message uses them).
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

from agentpost.storage.tables.core import Id, metadata

deletion_reports = Table(
    "deletion_reports",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("owner_id", String(36), nullable=False),
    Column("agent_id", String(36), nullable=False),
    Column("agent_name", String(64), nullable=False),
    Column("agent_email", String(320), nullable=False),
    Column("agent_role", String(32), nullable=False),
    Column("deleted_at", DateTime(timezone=True), nullable=False),
    Column("deleted_by", String(64), nullable=False),
    Column("reason", Text, nullable=True),
    Column("total_emails", Integer, nullable=False),
    Column("folder_counts", JSON, nullable=False),
    Column("top_correspondents", JSON, nullable=False),
    Column("first_date", DateTime(timezone=True), nullable=True),
    Column("last_date", DateTime(timezone=True), nullable=True),
    Index("ix_deletion_reports_owner_at", "owner_id", "deleted_at"),
)

archived_messages = Table(
    "archived_messages",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column(
        "report_id",
        String(36),
        ForeignKey("deletion_reports.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("folder", String(200), nullable=False),
    Column("uid", Integer, nullable=False),
    Column("message_id", String(998), nullable=False),
    Column("subject", Text, nullable=False),
    Column("from_addr", String(320), nullable=False),
    Column("to_addrs", JSON, nullable=False),
    Column("date", DateTime(timezone=True), nullable=False),
    Column("direction", String(8), nullable=False),
    Column("preview", Text, nullable=False),
    Column("raw", LargeBinary, nullable=False),
    Index("ix_archived_messages_report", "report_id"),
)
