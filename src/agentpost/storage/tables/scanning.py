"""Tables of the scanning area: inbound scan results, sender reports and the reply log.

``message_scans`` holds one row per stored copy (keyed by the message row, so it follows the
copy through moves and goes with it when it is expunged): the spam score and verdict used by
listings, and the whole report (rules, sanitizer detections, attachment risk, authentication
results, automated-mail signs) that reads show without scanning again.
``sender_reports`` remembers an agent's "this sender is spam / not spam" verdicts.
``reply_log`` records each reply an agent sent, per thread and counterparty, for the reply
budget that stops mail loops; its rows also tell whether an agent ever wrote to an address.
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
    UniqueConstraint,
)

from agentpost.storage.tables.core import Id, metadata

message_scans = Table(
    "message_scans",
    metadata,
    Column(
        "message_row_id",
        Id,
        ForeignKey("messages.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("agent_id", String(36), ForeignKey("agents.id", ondelete="CASCADE"), nullable=False),
    Column("score", Integer, nullable=False),
    Column("verdict", String(16), nullable=False),  # ham | warning | spam
    Column("internal", Boolean, nullable=False, default=False),
    Column("report", JSON, nullable=False),
)

sender_reports = Table(
    "sender_reports",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("agent_id", String(36), ForeignKey("agents.id", ondelete="CASCADE"), nullable=False),
    Column("sender", String(320), nullable=False),
    Column("verdict", String(8), nullable=False),  # spam | ham
    Column("updated_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("agent_id", "sender", name="uq_sender_reports_agent_sender"),
)

reply_log = Table(
    "reply_log",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("agent_id", String(36), ForeignKey("agents.id", ondelete="CASCADE"), nullable=False),
    Column("counterparty", String(320), nullable=False),
    Column("thread_key", String(998), nullable=False),
    Column("is_reply", Boolean, nullable=False),
    Column("sent_at", DateTime(timezone=True), nullable=False),
    Index("ix_reply_log_agent_party", "agent_id", "counterparty", "sent_at"),
)
